"""Delivery of batches downstream: rate limiting, retries, breaker, sinks, spill hand-off."""
