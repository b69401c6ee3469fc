"""Network topology compiled for the correlation hot path.

Built once per policy: every node's ancestors (nearest first, with hop count),
its depth, children, and the services that traverse it.  A node *depends on*
its parents; a fault on a node can explain faults on its descendants.

Undirected ``links`` get a direction by breadth-first search from the ``roots``
(default: the highest-degree node of each connected component, ties by name):
a node's parents are its neighbours one BFS level closer to a root.  Impacted
services of a fault on node N are the services traversing N or any node below
it (single-homed assumption: redundancy through a second parent is not modelled).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from faultd.correlate.policy import NodeSpec, TopologySpec


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the topology knows about one node."""

    node_id: str
    site: str = ""
    role: str = ""
    tier: str = ""
    parents: tuple[str, ...] = ()
    services: frozenset[str] = frozenset()


UNKNOWN = NodeInfo(node_id="")


@dataclass
class Topology:
    """Compiled topology; build with `Topology.build(spec)`."""

    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    ancestors: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    service_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _below: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: TopologySpec) -> Topology:
        """Compile a TopologySpec (node ids lower-cased); cycles are cut, see `check_cycles`."""
        specs: dict[str, NodeSpec] = {k.lower(): v for k, v in spec.nodes.items()}
        parents: dict[str, list[str]] = {
            n: [p.lower() for p in s.parents] for n, s in specs.items()
        }
        for n, derived in _parents_from_links(spec.links, spec.roots).items():
            parents.setdefault(n, [])
            parents[n].extend(p for p in derived if p not in parents[n])
        for n in list(parents):
            for p in parents[n]:
                parents.setdefault(p, [])
        node_services: dict[str, set[str]] = {n: set() for n in parents}
        for n, s in specs.items():
            node_services[n].update(s.services)
        topo = cls()
        for n, ps in parents.items():
            s = specs.get(n, NodeSpec())
            topo.children.setdefault(n, [])
            for p in ps:
                topo.children.setdefault(p, []).append(n)
            topo.nodes[n] = NodeInfo(n, s.site, s.role, s.tier, tuple(ps))
        for n in topo.nodes:
            topo.ancestors[n] = topo._walk_up(n)
            topo.depth[n] = max((h for _, h in topo.ancestors[n]), default=0)
        for name, svc in spec.services.items():
            path = [p.lower() for p in svc.path]
            if len(svc.endpoints) == 2:
                path += topo.path_between(svc.endpoints[0].lower(), svc.endpoints[1].lower())
            topo.service_paths[name] = tuple(dict.fromkeys(path))
            for n in path:
                node_services.setdefault(n, set()).add(name)
        for n, svcs in node_services.items():
            if n in topo.nodes:
                info = topo.nodes[n]
                topo.nodes[n] = NodeInfo(
                    n, info.site, info.role, info.tier, info.parents, frozenset(svcs)
                )
        return topo

    def _walk_up(self, node: str) -> tuple[tuple[str, int], ...]:
        seen = {node}
        out: list[tuple[str, int]] = []
        frontier = deque((p, 1) for p in self.nodes[node].parents)
        while frontier:
            n, hop = frontier.popleft()
            if n in seen:
                continue
            seen.add(n)
            out.append((n, hop))
            frontier.extend((p, hop + 1) for p in self.nodes[n].parents if p not in seen)
        return tuple(out)

    def info(self, node: str) -> NodeInfo:
        """The node's info, or a blank NodeInfo for a node not in the topology."""
        return self.nodes.get(node, UNKNOWN)

    def descendants(self, node: str) -> set[str]:
        """Every node that depends on `node` (not including it)."""
        out: set[str] = set()
        stack = list(self.children.get(node, ()))
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.children.get(n, ()))
        return out

    def services_below(self, node: str) -> frozenset[str]:
        """Services traversing `node` or any node depending on it (memoised)."""
        cached = self._below.get(node)
        if cached is None:
            acc: set[str] = set(self.info(node).services)
            for d in self.descendants(node):
                acc |= self.nodes[d].services
            cached = self._below[node] = frozenset(acc)
        return cached

    def path_between(self, a: str, b: str) -> list[str]:
        """Path a → common ancestor → b along first parents (empty if unrelated)."""
        up_a = [a] + [n for n, _ in self.ancestors.get(a, ())]
        up_b = [b] + [n for n, _ in self.ancestors.get(b, ())]
        common = next((n for n in up_a if n in set(up_b)), None)
        if common is None:
            return []
        return up_a[: up_a.index(common) + 1] + list(reversed(up_b[: up_b.index(common)]))


def _parents_from_links(links: list[list[str]], roots: list[str]) -> dict[str, list[str]]:
    adj: dict[str, set[str]] = {}
    for link in links:
        if len(link) != 2:
            continue
        a, b = link[0].lower(), link[1].lower()
        if a == b:
            continue
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    level: dict[str, int] = {}

    def bfs(start: str) -> None:
        level[start] = 0
        queue = deque([start])
        while queue:
            n = queue.popleft()
            for m in sorted(adj[n]):
                if m not in level:
                    level[m] = level[n] + 1
                    queue.append(m)

    for r in roots:
        if r.lower() in adj and r.lower() not in level:
            bfs(r.lower())
    for n in sorted(adj, key=lambda x: (-len(adj[x]), x)):
        if n not in level:
            bfs(n)
    return {n: sorted(m for m in adj[n] if level[m] == level[n] - 1) for n in adj}


def find_cycle(spec_parents: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle among explicit parents, as a node list, or None."""
    state: dict[str, int] = {}
    for start in spec_parents:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            n, i = stack.pop()
            if i == 0:
                if state.get(n) == 1:
                    return [*path[path.index(n) :], n]
                if state.get(n) == 2:
                    continue
                state[n] = 1
                path.append(n)
            ps = spec_parents.get(n, [])
            if i < len(ps):
                stack.append((n, i + 1))
                stack.append((ps[i], 0))
            else:
                state[n] = 2
                path.pop()
    return None
