"""faultd: a fault collector for telecom networks (SNMP traps and syslog in, batches out)."""

__version__ = "0.1.0"
