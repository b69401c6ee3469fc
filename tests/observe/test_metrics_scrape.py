"""Real traffic in, /metrics scraped over HTTP: every pipeline counter moves (issue 6).

An in-process daemon on 127.0.0.1 (port 0) with a real RecordingEndpoint; syslog
datagrams over a real UDP socket; /metrics parsed with prometheus_client's parser.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from observe_kit import eventually, scrape, syslog_line, value

from faultd.observe.metrics import DROP_REASONS
from support.daemon import base_config, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint


def config(tmp_path: Path, url: str) -> dict:
    return base_config(
        tmp_path / "state", url,
        accumulator={
            "queue_maxsize": 5, "overflow": "drop_newest", "critical_window_seconds": 0.25,
            "adaptive": {"enabled": False},
            "tiers": [
                {"name": "core", "match": ["core-*"], "window_seconds": 30, "max_batch_size": 3},
                {"name": "access", "match": ["*"], "window_seconds": 0.5,
                 "max_batch_size": 1000},
            ]})


async def test_counters_gauges_and_histograms_follow_real_traffic(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    raw = config(tmp_path, endpoint.url)
    async with running_daemon(tmp_path, raw) as daemon:
        metrics_addr = daemon.observer.bound[0]
        sender = udp_sender(daemon.bound_address("syslog"))

        before = await scrape(metrics_addr)
        assert value(before, "faultd_config_generation") == 1
        assert value(before, "faultd_config_last_reload_success") == 1
        assert any(name == "faultd_build_info" for name, _ in before)
        # window length per tier and lane is exported from the start
        assert value(before, "faultd_window_seconds", tier="core", lane="standard") == 30
        assert value(before, "faultd_window_seconds", tier="core", lane="critical") == 0.25
        assert value(before, "faultd_window_seconds", tier="access", lane="standard") == 0.5
        for reason in DROP_REASONS:  # every reason is a series, so rate() works from 0
            assert ("faultd_events_dropped_total", frozenset({("reason", reason)})) in before

        # 1. three distinct core events: max_batch_size 3 closes the window (trigger size)
        for i in range(3):
            sender.send(syslog_line("core-1", f"%LINK-3-UPDOWN: Interface Gi0/{i} down"))
        await endpoint.wait_for(lambda: len(endpoint.accepted) >= 1)

        # 2. access tier: one line twice (folded), then 7 more distinct: the queue bound
        #    (5 per severity, drop_newest) refuses 3; the 0.5 s window sends the rest
        sender.send(syslog_line("acc-1", "%LINK-3-UPDOWN: Interface Gi1/0 down"))
        sender.send(syslog_line("acc-1", "%LINK-3-UPDOWN: Interface Gi1/0 down"))
        for i in range(1, 8):
            sender.send(syslog_line("acc-1", f"%LINK-3-UPDOWN: Interface Gi1/{i} down"))
        await endpoint.wait_for(lambda: len(endpoint.accepted) >= 2)

        async def settled() -> dict | None:
            s = await scrape(metrics_addr)
            done = value(s, "faultd_dispatch_requests_total", lane="standard", outcome="ok") >= 2
            return s if done else None

        s = await eventually(settled)
        assert value(s, "faultd_events_received_total", source="syslog") == 12
        assert value(s, "faultd_events_accepted_total", source="syslog") == 12
        assert value(s, "faultd_events_folded_total", tier="access") == 1
        assert value(s, "faultd_events_dropped_total", reason="queue_full") == 3
        assert value(s, "faultd_batches_emitted_total",
                     tier="core", lane="standard", trigger="size") == 1
        assert value(s, "faultd_batches_emitted_total",
                     tier="access", lane="standard", trigger="window") == 1
        for priority in ("1", "2", "3", "4"):
            assert value(s, "faultd_queue_depth", priority=priority) == 0
        assert value(s, "faultd_events_delivered_total", lane="standard") == 3 + 5
        assert value(s, "faultd_dispatch_request_seconds_count", lane="standard") == 2
        assert value(s, "faultd_batch_latency_seconds_count", lane="standard") == 2
        assert value(s, "faultd_batch_emit_seconds_count", lane="standard") == 2
        # the access batch waited for its 0.5 s window; the size batch did not
        assert value(s, "faultd_batch_emit_seconds_bucket", lane="standard", le="0.25") >= 1
        assert value(s, "faultd_batch_emit_seconds_sum", lane="standard") >= 0.5
        assert value(s, "faultd_breaker_state") == 0
        assert value(s, "faultd_loop_lag_seconds_count") >= 1
        assert value(s, "faultd_spill_bytes") == 0

        # 3. reload: generation 2; the new allowlist refuses loopback -> dropped not_allowed
        raw["syslog"]["allowed_sources"] = ["10.99.0.0/16"]
        daemon.config_path.write_text(yaml.safe_dump(raw))
        assert await daemon.reload()
        sender.send(syslog_line("acc-2", "%SYS-5-CONFIG_I: Configured from console"))

        async def refused() -> dict | None:
            s = await scrape(metrics_addr)
            return s if value(s, "faultd_events_dropped_total", reason="not_allowed") else None

        s = await eventually(refused)
        assert value(s, "faultd_events_dropped_total", reason="not_allowed") == 1
        assert value(s, "faultd_events_received_total", source="syslog") == 13
        assert value(s, "faultd_config_generation") == 2
        assert value(s, "faultd_config_last_reload_success") == 1

        # 4. a broken file is refused: success drops to 0, generation stays
        daemon.config_path.write_text("accumulator: {queue_maxsize: -1}\n")
        assert not await daemon.reload()
        s = await scrape(metrics_addr)
        assert value(s, "faultd_config_last_reload_success") == 0
        assert value(s, "faultd_config_generation") == 2
        sender.close()


async def test_no_metric_is_labelled_by_node(tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    """Label cardinality stays bounded: node names never become label values."""
    async with running_daemon(tmp_path, config(tmp_path, endpoint.url)) as daemon:
        sender = udp_sender(daemon.bound_address("syslog"))
        for i in range(20):
            sender.send(syslog_line(f"acc-{i}", "%LINK-3-UPDOWN: Interface Gi1/0 down"))
        await endpoint.wait_for(lambda: len(endpoint.events()) >= 5)
        sender.close()
        s = await scrape(daemon.observer.bound[0])
    label_values = {v for _, labels in s for _, v in labels}
    assert not any(v.startswith("acc-") for v in label_values)
    assert {k for _, labels in s for k, _ in labels} <= {
        "source", "reason", "tier", "lane", "trigger", "priority", "outcome", "cause", "le",
        "version", "python", "event_loop"}


async def test_spill_gauges_and_eviction_drops(tmp_path: Path) -> None:
    """Spill bytes/segments/age gauges follow the daemon's store, and events the size cap
    evicts are counted as dropped{reason="spill_evicted"}.  The endpoint is unreachable
    (discard port), so nothing is replayed away meanwhile."""
    from faultd.event import Batch, FaultEvent, new_id

    raw = base_config(tmp_path / "state", "http://127.0.0.1:9/batches",
                      spill={"max_bytes": 100_000, "segment_max_bytes": 65536})

    def batch(tag: str) -> Batch:
        events = [FaultEvent(event_id=new_id(), node_id=f"acc-{i}", source="syslog", severity=3,
                             fault_code="X", message=f"{tag} " + "x" * 300, timestamp=1.7e9,
                             received_at=1.7e9, tier="all") for i in range(100)]
        return Batch(batch_id=new_id(), collector="c", tier="all", lane="standard",
                     trigger="window", opened_at=1.7e9, emitted_at=1.7e9, event_count=100,
                     events=events)

    async with running_daemon(tmp_path, raw) as daemon:
        for tag in ("a", "b", "c"):  # ~40 kB each: three segments, over the 100 kB cap
            daemon.spill.append(batch(tag))

        async def evicted() -> dict | None:
            s = await scrape(daemon.observer.bound[0])
            return s if value(s, "faultd_events_dropped_total", reason="spill_evicted") else None

        s = await eventually(evicted)
        lost = value(s, "faultd_events_dropped_total", reason="spill_evicted")
        assert lost == daemon.spill.stats().evicted_events and lost in (100, 200)
        assert 0 < value(s, "faultd_spill_bytes") <= 100_000
        assert value(s, "faultd_spill_segments", lane="standard") >= 1
        assert value(s, "faultd_spill_oldest_age_seconds") > 0
