"""Wire-format parsers: syslog (RFC 5424, RFC 3164 and vendor variants) and SNMP BER."""
