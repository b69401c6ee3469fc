"""SNMP trap reception: fast path and pysnmp decoding, MIB names, normalization."""
