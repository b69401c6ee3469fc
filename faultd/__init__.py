"""faultd: a fault collector for telecom networks (SNMP traps and syslog in, batches out)."""

from faultd import native

__version__ = "0.1.0"

native.activate()  # compiled per-message modules, only when built from these exact sources
