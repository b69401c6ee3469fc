"""Scale-out on NATS JetStream (docs/SCALING.md).

`bus.role: collector` daemons publish every accepted event to the stream
subject `<subject_prefix>.<partition>`; `bus.role: accumulator` daemons share
the partitions through leases in a JetStream KV bucket, consume them with one
durable pull consumer per partition, accumulate, dedup and dispatch as a
standalone daemon would, and ack a message only once the batch holding its
event was delivered downstream or written to spill.

Modules: `codec` (event <-> bytes), `partition` (node_id -> partition),
`connection` (connect, version check, stream/consumer setup), `publisher`
(collector side, with a spill outbox), `tracker` (which messages a batch
settles), `consumer` (one partition's fetch loop), `leases` (who owns which
partition), `busmetrics`, and `roles` (wiring into the daemon).
"""
