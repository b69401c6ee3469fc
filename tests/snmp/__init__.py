"""Tests for SNMP trap decoding and normalization (faultd.snmp, faultd.parse.ber)."""
