"""The floor graph VDA 5050 orders follow: named spots as nodes, straight lines as edges.

Pure: no I/O, no clock. Nodes are ``settings.floor``'s kitchen pass, docks,
tables and waypoints; a node's id in our orders is its name. Edges are the
``floor.links`` pairs when configured, otherwise derived by a rule simple enough
to predict on a floor plan:

- a minimum spanning tree of straight lines between all nodes (so every node is
  reachable and no long detour is forced), plus
- each node's ``floor.neighbours`` nearest nodes (so routes need not follow the
  tree's zig-zags).

Routes are shortest paths by length (Dijkstra); ties break by node name, so the
same floor always gives the same route.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from config.settings import FloorSettings

__all__ = ["FloorGraph", "GraphError", "GraphNode", "NoRoute"]

NodeKind = Literal["pass", "dock", "table", "waypoint"]


class GraphError(ValueError):
    """The floor plan cannot make a graph (duplicate names, unknown or missing links)."""


class NoRoute(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class GraphNode:
    name: str
    x: float
    y: float
    kind: NodeKind

    def distance(self, x: float, y: float) -> float:
        return math.hypot(self.x - x, self.y - y)


class FloorGraph:
    def __init__(
        self,
        nodes: Sequence[GraphNode],
        links: Iterable[tuple[str, str]] = (),
        *,
        neighbours: int = 2,
    ) -> None:
        self.nodes: dict[str, GraphNode] = {}
        for node in nodes:
            if node.name in self.nodes:
                raise GraphError(
                    f"floor: two spots are named {node.name!r}; node ids must be unique"
                )
            self.nodes[node.name] = node
        if not self.nodes:
            raise GraphError("floor: no nodes")
        self.adjacency: dict[str, dict[str, float]] = {name: {} for name in self.nodes}
        links = list(links)
        if links:
            for a, b in links:
                for name in (a, b):
                    if name not in self.nodes:
                        raise GraphError(f"floor.links: unknown node {name!r}")
                if a != b:
                    self._link(a, b)
            unreachable = sorted(set(self.nodes) - self._reachable(next(iter(self.nodes))))
            if unreachable:
                raise GraphError(f"floor.links: no path to {', '.join(unreachable)}")
        else:
            self._derive(neighbours)

    @classmethod
    def from_floor(cls, floor: FloorSettings) -> FloorGraph:
        nodes = [
            GraphNode(floor.kitchen_pass.name, floor.kitchen_pass.x, floor.kitchen_pass.y, "pass")
        ]
        nodes += [GraphNode(p.name, p.x, p.y, "dock") for p in floor.docks]
        nodes += [GraphNode(p.name, p.x, p.y, "table") for p in floor.tables]
        nodes += [GraphNode(p.name, p.x, p.y, "waypoint") for p in floor.waypoints]
        return cls(nodes, floor.links, neighbours=floor.neighbours)

    # ---- building ---------------------------------------------------------------

    def _link(self, a: str, b: str) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        length = na.distance(nb.x, nb.y)
        self.adjacency[a][b] = length
        self.adjacency[b][a] = length

    def _derive(self, neighbours: int) -> None:
        names = sorted(self.nodes)
        # Prim's algorithm on the complete graph: O(n^2), fine for a few hundred spots.
        best = dict.fromkeys(names[1:], (math.inf, ""))
        current = names[0]
        while best:
            here = self.nodes[current]
            for n in best:
                d = here.distance(self.nodes[n].x, self.nodes[n].y)
                if (d, current) < best[n]:
                    best[n] = (d, current)
            current = min(best, key=lambda n: (best[n][0], n))
            self._link(current, best.pop(current)[1])
        for name in names:
            here = self.nodes[name]
            others = sorted(
                (here.distance(self.nodes[o].x, self.nodes[o].y), o) for o in names if o != name
            )
            for _, other in others[:neighbours]:
                self._link(name, other)

    def _reachable(self, start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for n in self.adjacency[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    # ---- queries ------------------------------------------------------------------

    @property
    def kitchen_pass(self) -> GraphNode:
        return next(n for n in self.nodes.values() if n.kind == "pass")

    def of_kind(self, kind: NodeKind) -> list[GraphNode]:
        return [n for n in self.nodes.values() if n.kind == kind]

    def edges(self) -> list[tuple[str, str]]:
        return sorted((a, b) for a, nbrs in self.adjacency.items() for b in nbrs if a < b)

    def nearest(self, x: float, y: float, kind: NodeKind | None = None) -> GraphNode | None:
        candidates = [n for n in self.nodes.values() if kind is None or n.kind == kind]
        return min(candidates, key=lambda n: (n.distance(x, y), n.name), default=None)

    def route(self, start: str, goal: str) -> tuple[str, ...]:
        """The shortest path from ``start`` to ``goal``, both included; (start,) if equal."""
        for name in (start, goal):
            if name not in self.nodes:
                raise NoRoute(f"no node {name!r} on the floor graph")
        dist: dict[str, float] = {start: 0.0}
        prev: dict[str, str] = {}
        heap: list[tuple[float, str]] = [(0.0, start)]
        while heap:
            d, here = heapq.heappop(heap)
            if here == goal:
                break
            if d > dist[here]:
                continue
            for nxt, length in sorted(self.adjacency[here].items()):
                nd = d + length
                if nd < dist.get(nxt, math.inf):
                    dist[nxt] = nd
                    prev[nxt] = here
                    heapq.heappush(heap, (nd, nxt))
        if goal not in dist:
            raise NoRoute(f"no path from {start!r} to {goal!r}")
        path = [goal]
        while path[-1] != start:
            path.append(prev[path[-1]])
        return tuple(reversed(path))

    def length(self, path: Sequence[str]) -> float:
        return sum(self.adjacency[a][b] for a, b in itertools.pairwise(path))
