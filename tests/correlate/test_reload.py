"""Policy reload: validated first (a bad policy raises and the old one stays), swapped in the
worker between batches, open tickets kept; in both worker modes (a real spawned process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from faultd.correlate import AsyncCorrelator, CorrelationEngine, PolicyError, parse_policy

from .conftest import T0, batch, ev, policy_dict

Make = Callable[..., CorrelationEngine]

TO_SECURITY = {"queue": "noc", "routes": [{"match": {"role": "access"}, "queue": "security"}]}


def _write(path: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump(policy_dict(**overrides)))
    return path


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_reload_swaps_policy_and_keeps_tickets(tmp_path: Path, mode: str) -> None:
    first = _write(tmp_path / "first.yaml")
    correlator = AsyncCorrelator(first, tmp_path / "state", mode=mode)  # type: ignore[arg-type]
    await correlator.start()
    try:
        res = await correlator.evaluate(batch([ev("acc-001", ts=T0)]))
        (opened,) = res.changes
        assert [r.queue for r in opened.routing] == ["access"]

        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(policy_dict(routing={"queue": "nowhere"})))
        with pytest.raises(PolicyError) as err:
            await correlator.reload(bad)
        assert "routing.queue: unknown queue 'nowhere'" in str(err.value)
        assert correlator.policy_path == first
        res = await correlator.evaluate(batch([ev("lyo-001", ts=T0 + 1)]))
        assert [r.queue for r in res.changes[0].routing] == ["access"]  # old policy in force

        second = _write(tmp_path / "second.yaml", routing=TO_SECURITY)
        await correlator.reload(second)
        assert correlator.policy_path == second
        res = await correlator.evaluate(batch([ev("lyo-002", ts=T0 + 2)]))
        assert [r.queue for r in res.changes[0].routing] == ["security"]
        # the ticket opened before the reload is still open and correlating; its next
        # change is routed under the new policy
        res = await correlator.evaluate(batch([ev("acc-001", "BER-HIGH", ts=T0 + 5)]))
        (update,) = res.changes
        assert update.ticket_id == opened.ticket_id and update.action == "update"
        assert update.ticket.symptom_count == 1 and update.reasons == ["new_symptoms"]
        assert [r.queue for r in update.routing] == ["security"]
    finally:
        await correlator.close()


def test_engine_reload_applies_new_topology_and_window(make_engine: Make) -> None:
    engine = make_engine()
    engine.evaluate(batch([ev("acc-001", ts=T0)]))
    # a wider window lets a parent fault 60 s later adopt the child's open ticket
    engine.reload(parse_policy(policy_dict(root_cause={"correlation_window_seconds": 120})))
    res = engine.evaluate(batch([ev("agg-1", ts=T0 + 60)]))
    assert res.merged == 1
    (ticket,) = engine.open_tickets()
    assert ticket.root_cause.node == "agg-1" and ticket.symptom_count == 1


async def test_reload_before_start_raises(tmp_path: Path) -> None:
    policy = _write(tmp_path / "p.yaml")
    correlator = AsyncCorrelator(policy, tmp_path / "state", mode="thread")
    with pytest.raises(RuntimeError):
        await correlator.reload(policy)
