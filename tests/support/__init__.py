"""Test support: real HTTP endpoint, daemon harness, manual clock, traffic helpers."""
