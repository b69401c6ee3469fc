"""Dashboards and alert rules name only metrics faultd exports (issue 6).

`promtool check rules` validates the alert file (skipped only without promtool:
Debian package `prometheus`, listed in the Makefile's system-deps); the Grafana
dashboard's PromQL and the alert expressions are checked against the families
registered by faultd.observe.metrics.Metrics.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultd.observe.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "packaging" / "grafana" / "faultd.json"
ALERTS = ROOT / "packaging" / "prometheus" / "faultd-alerts.yml"
METRIC = re.compile(r"\bfaultd_[a-z0-9_]+")
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SCRAPE_LABELS = {"instance", "job", "le"}


def exported() -> tuple[set[str], set[str]]:
    """Every series name a scrape can show, and every label name faultd uses."""
    names: set[str] = set()
    labels: set[str] = set()
    metrics = Metrics()
    for family in metrics.registry.collect():
        kind = family.type
        if kind == "counter":
            names.add(family.name + "_total")
        elif kind == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        elif kind == "info":
            names.add(family.name + "_info")
        else:
            names.add(family.name)
    for collector in metrics.__dict__.values():
        labels.update(getattr(collector, "_labelnames", ()))
    return names, labels


def exprs(node: Any) -> Iterator[str]:
    """Every PromQL string in a dashboard: targets, templating queries, annotations."""
    if isinstance(node, dict):
        for key, value in node.items():
            promql = key in ("expr", "definition") or (key == "query" and "faultd_" in str(value))
            if promql and isinstance(value, str):
                yield value
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)


def check_expr(expr: str, names: set[str], labels: set[str]) -> list[str]:
    problems = []
    found = METRIC.findall(expr)
    if not found:
        problems.append(f"no faultd metric in {expr!r}")
    problems += [f"{name} is not exported ({expr!r})" for name in found if name not in names]
    for group in BY.findall(expr):
        for label in (x.strip() for x in group.split(",") if x.strip()):
            if label not in labels | SCRAPE_LABELS:
                problems.append(f"label {label!r} is not a faultd label ({expr!r})")
    return problems


def test_dashboard_panels_use_real_metric_families() -> None:
    names, labels = exported()
    dashboard = json.loads(DASHBOARD.read_text())
    all_exprs = list(exprs(dashboard))
    problems = [p for e in all_exprs for p in check_expr(e, names, labels)]
    assert problems == []
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p.get("targets") for p in panels)
    used = {n for e in all_exprs for n in METRIC.findall(e)}
    # the views the issue asks for are all there
    for wanted in ("faultd_events_received_total", "faultd_queue_depth", "faultd_window_seconds",
                   "faultd_batch_latency_seconds_bucket", "faultd_dispatch_requests_total",
                   "faultd_spill_bytes", "faultd_loop_lag_seconds_bucket"):
        assert wanted in used, wanted
    assert any(p["type"] == "heatmap" and "faultd_batch_latency_seconds_bucket"
               in p["targets"][0]["expr"] for p in panels)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_alert_rules_use_real_metric_families() -> None:
    names, labels = exported()
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    problems = []
    for rule in rules:
        expr = rule["expr"]
        if rule["alert"] == "FaultdDown":
            assert "up{" in expr
            continue
        problems += check_expr(expr, names, labels)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    assert problems == []
    alerts = {r["alert"] for r in rules}
    for wanted in ("FaultdEventsDropped", "FaultdBreakerOpen", "FaultdSpillGrowing",
                   "FaultdLoopLag", "FaultdParseErrorsSpike", "FaultdNoEventsReceived"):
        assert wanted in alerts


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
