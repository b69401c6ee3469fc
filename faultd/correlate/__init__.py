"""Built-in correlation and ticket routing: batches in, root-caused routed tickets out.

Public API (see each module's docstring):

- `load_policy(path) -> Policy` (raises `PolicyError` with YAML paths)
- `CorrelationEngine(policy, store, clock=...)` / `CorrelationEngine.open(policy_path,
  state_directory)`; `engine.evaluate(batch) -> EvaluationResult` (sync, one caller)
- `AsyncCorrelator(policy_path, state_directory, mode="process"|"thread")`:
  `await start()`, `await evaluate(batch)`, `await close()`, `.reader`
- `TicketChange`, `TicketView`, `TicketLog.under(state_directory).append(changes)`
- `make_app(correlator, on_changes=...)`, `serve_correlator(policy_path, listen,
  state_directory, stop)`
"""

from faultd.correlate.engine import CorrelationEngine, EvaluationResult
from faultd.correlate.policy import Policy, PolicyError, load_policy, parse_policy
from faultd.correlate.tickets import RouteTarget, TicketChange, TicketLog, TicketView
from faultd.correlate.worker import AsyncCorrelator

__all__ = [
    "AsyncCorrelator",
    "CorrelationEngine",
    "EvaluationResult",
    "Policy",
    "PolicyError",
    "RouteTarget",
    "TicketChange",
    "TicketLog",
    "TicketView",
    "load_policy",
    "parse_policy",
]
