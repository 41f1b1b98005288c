"""The floor graph VDA 5050 orders follow: derived edges, configured links, shortest routes."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import ConfigError, load_settings
from config.settings import FloorSettings
from gateway.vda5050.graph import FloorGraph, GraphError, GraphNode, NoRoute


def node(name: str, x: float, y: float) -> GraphNode:
    return GraphNode(name, x, y, "table")


def test_derived_graph_of_the_example_floor_reaches_every_spot() -> None:
    floor = load_settings("config/example.toml").floor
    graph = FloorGraph.from_floor(floor)
    assert graph.kitchen_pass.name == "pass"
    assert {n.name for n in graph.of_kind("dock")} == {"dock-1", "dock-2"}
    for table in graph.of_kind("table"):
        path = graph.route("pass", table.name)
        assert path[0] == "pass" and path[-1] == table.name
    # Each node has at least its nearest neighbour; the tree makes the rest reachable.
    assert all(len(nbrs) >= 1 for nbrs in graph.adjacency.values())


def test_configured_links_are_the_only_edges() -> None:
    floor = FloorSettings(
        kitchen_pass={"name": "pass", "x": 0, "y": 0},
        docks=[],
        tables=[{"name": "A", "x": 1, "y": 0}, {"name": "B", "x": 0, "y": 1}],
        waypoints=[{"name": "w", "x": 5, "y": 5}],
        links=[("pass", "w"), ("w", "A"), ("w", "B")],
    )
    graph = FloorGraph.from_floor(floor)
    assert graph.edges() == [("A", "w"), ("B", "w"), ("pass", "w")]
    assert graph.route("pass", "A") == ("pass", "w", "A")  # the long way: it is the only way
    assert graph.route("A", "A") == ("A",)
    with pytest.raises(NoRoute, match="no node 'Z'"):
        graph.route("pass", "Z")


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ([("pass", "nowhere")], "floor.links: unknown node 'nowhere'"),
        ([("pass", "A")], "floor.links: no path to B"),
    ],
)
def test_bad_links_are_refused(links: list[tuple[str, str]], message: str) -> None:
    nodes = [node("pass", 0, 0), node("A", 1, 0), node("B", 2, 0)]
    with pytest.raises(GraphError, match=message):
        FloorGraph(nodes, links)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(GraphError, match="two spots are named 'A'"):
        FloorGraph([node("A", 0, 0), node("A", 1, 1)])


def test_config_refuses_a_floor_graph_it_cannot_build(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[mqtt]\nenabled = true\n[vda5050]\nenabled = true\n"
        '[floor]\ntables = [{ name = "dock-1", x = 2.0, y = 2.0 }]\n'
        'links = [["pass", "T9"]]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.problems == [
        "floor: spot names must be unique for the VDA 5050 graph: ['dock-1']"
    ]


def _floyd(graph: FloorGraph) -> dict[tuple[str, str], float]:
    names = list(graph.nodes)
    d = {
        (a, b): 0.0 if a == b else graph.adjacency[a].get(b, math.inf) for a in names for b in names
    }
    for k, i, j in itertools.product(names, names, names):
        if d[i, k] + d[k, j] < d[i, j]:
            d[i, j] = d[i, k] + d[k, j]
    return d


floors = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 24)),
    min_size=1,
    max_size=12,
    unique=True,
).map(lambda pts: [node(f"n{i}", x / 2, y / 2) for i, (x, y) in enumerate(pts)])


@settings(max_examples=60, deadline=None)
@given(floors, st.integers(0, 4), st.data())
def test_routes_are_shortest_paths_along_edges(
    nodes: list[GraphNode], k: int, data: st.DataObject
) -> None:
    graph = FloorGraph(nodes, neighbours=k)
    names = list(graph.nodes)
    edges = set(graph.edges())
    assert len(edges) >= len(names) - 1  # the spanning tree at least
    shortest = _floyd(graph)
    a = data.draw(st.sampled_from(names))
    b = data.draw(st.sampled_from(names))
    path = graph.route(a, b)
    assert path[0] == a and path[-1] == b and len(set(path)) == len(path)
    assert all(tuple(sorted(p)) in edges for p in itertools.pairwise(path))
    assert graph.length(path) == pytest.approx(shortest[a, b])
    assert graph.route(a, b) == path  # deterministic
