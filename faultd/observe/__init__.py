"""Observability: metrics, health and debug endpoints, loop lag, logging."""
