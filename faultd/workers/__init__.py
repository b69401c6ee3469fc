"""Multi-core receive: worker processes parse datagrams, the main process accumulates.

With `workers: N` (N >= 2) the main process starts N receive workers.  Each binds
the UDP listeners with SO_REUSEPORT (the kernel spreads datagrams over them by
source address and port), parses and normalises, and streams events to the main
process over a Unix socket pair.  Every event of every node meets in the one
accumulator of the main process, so dedup, windows and batching stay exact.
See README "Multi-core" for the trade-off.
"""
