"""Pictures of graphs from ``app.analysis.networks``: interactive (neo4j-viz) in
a notebook, static (matplotlib) for a report, and ``save`` for the PNGs a
scheduled run keeps.

Both read a networkx graph, so they work the same on either store. Captions are
data from the graph (untrusted): neo4j-viz escapes them; matplotlib gets them
with ``$`` escaped so a name is never read as math markup.

Examples run on the test suite's hand-built graph (``tests/support/analysis_world.py``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import networkx as nx

from graph_model.errors import GraphTooLarge

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from neo4j_viz import VisualizationGraph

# One colour per label, the console's why-panel palette where they overlap.
COLORS: dict[str, str] = {
    "Account": "#1f77b4",
    "Person": "#ff7f0e",
    "AccountManager": "#2ca02c",
    "Capability": "#d62728",
    "Need": "#9467bd",
    "Signal": "#8c564b",
    "Technology": "#e377c2",
    "Industry": "#7f7f7f",
    "Opportunity": "#bcbd22",
    "Match": "#17becf",
    "Activity": "#aec7e8",
}
OTHER = "#c7c7c7"
CAPTION_FIELDS = ("name", "full_name", "title", "kind", "action", "status")
CAPTION_LIMIT = 28
# More nodes than this make captions unreadable, and networkx needs scipy to lay them out.
MAX_DRAWN = 499


def caption(node: str, data: dict[str, Any]) -> str:
    """What a node is called in a picture: its name, else a title or kind, else its key.

    A match is called by what it offers and its score.

    >>> caption("Person:ann", {"label": "Person", "full_name": "Ann Lee"})
    'Ann Lee'
    >>> caption("Match:m-1", {"label": "Match", "capability_id": "vault", "score": 0.734})
    'vault 0.73'
    """
    if data.get("label") == "Match" and data.get("capability_id"):
        score = data.get("score")
        return f"{data['capability_id']}" + (f" {score:.2f}" if score is not None else "")
    for field in CAPTION_FIELDS:
        value = data.get(field)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= CAPTION_LIMIT else text[: CAPTION_LIMIT - 1] + "…"
    return str(data.get("key") or node)


def visualization(graph: nx.Graph, *, size_by_degree: bool = True) -> VisualizationGraph:
    """An interactive neo4j-viz graph (``.render()`` in a notebook: zoom, drag,
    search; the HTML is self-contained, no network needed), nodes coloured by label
    with a caption, edges captioned with their type.

    >>> vg = visualization(neighbourhood(store, "Account", "acme", hops=1))
    >>> len(vg.nodes) == neighbourhood(store, "Account", "acme", hops=1).number_of_nodes()
    True
    """
    from neo4j_viz import Node, Relationship, VisualizationGraph

    degree = dict(graph.degree())
    nodes = [
        Node.model_validate(
            {
                "id": str(node),
                "caption": caption(str(node), data),
                "color": COLORS.get(str(data.get("label")), OTHER),
                "size": (18 + 3 * min(degree.get(node, 0), 10)) if size_by_degree else 20,
                "properties": {"label": data.get("label"), "key": data.get("key")},
            }
        )
        for node, data in graph.nodes(data=True)
    ]
    relationships = [
        Relationship.model_validate(
            {
                "id": f"e{i}",
                "source": str(src),
                "target": str(dst),
                "caption": str(data.get("type") or ""),
            }
        )
        for i, (src, dst, data) in enumerate(graph.edges(data=True))
    ]
    return VisualizationGraph(nodes=nodes, relationships=relationships)


def draw(
    graph: nx.Graph,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    layout: str | None = None,
    edge_labels: bool = False,
    color_by: str | None = None,
    seed: int = 7,
    max_nodes: int = MAX_DRAWN,
) -> Figure:
    """A static drawing for reports: nodes coloured by label with their captions,
    a legend of labels; ``layout`` is ``rings`` (a neighbourhood: each hop a ring
    round its center; the default for one), ``spring`` (the default otherwise),
    ``kamada_kawai``, ``tree`` (top down along edges, for org charts) or ``circular``.
    ``color_by`` colours by another node attribute (a community number, say). A
    graph of more than ``max_nodes`` raises ``GraphTooLarge``: its captions would be
    unreadable (and networkx lays out 500 nodes or more only with scipy); draw a
    subgraph.

    >>> fig = draw(org_chart(store, "acme"), layout="tree")
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text() == "Ann Lee"]
    ['Ann Lee']
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if graph.number_of_nodes() > max_nodes:
        raise GraphTooLarge(
            f"a drawing of {graph.number_of_nodes():,} nodes, more than max_nodes={max_nodes}",
            hint="draw a subgraph: the busiest nodes, one community, a neighbourhood",
            nodes=graph.number_of_nodes(),
            max_nodes=max_nodes,
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 6.5))
    else:
        fig = cast("Figure", ax.get_figure(root=True))
    chosen = layout or ("rings" if graph.graph.get("center") in graph else "spring")
    positions = _layout(graph, chosen, seed)
    labels = [str(data.get(color_by or "label")) for _, data in graph.nodes(data=True)]
    palette: dict[str, Any] = dict(COLORS)
    if color_by is not None:
        cycle = list(plt.get_cmap("tab20").colors)  # type: ignore[attr-defined]
        palette = {v: cycle[i % len(cycle)] for i, v in enumerate(sorted(set(labels)))}
    colors = [palette.get(label, OTHER) for label in labels]
    nx.draw_networkx_edges(graph, positions, ax=ax, alpha=0.4, arrows=graph.is_directed())
    nx.draw_networkx_nodes(graph, positions, ax=ax, node_color=colors, node_size=260)
    nx.draw_networkx_labels(
        graph,
        positions,
        labels={n: plain(caption(str(n), d)) for n, d in graph.nodes(data=True)},
        ax=ax,
        font_size=7,
    )
    if edge_labels:
        types = {(s, d): plain(str(t)) for s, d, t in graph.edges(data="type") if t}
        nx.draw_networkx_edge_labels(graph, positions, edge_labels=types, ax=ax, font_size=6)
    # One legend entry per colour: labels without a colour of their own are "other".
    entries = {label: palette[label] for label in sorted(set(labels)) if label in palette}
    if len(entries) < len(set(labels)):
        entries["other"] = OTHER
    ax.legend(
        handles=[Patch(color=color, label=label) for label, color in list(entries.items())[:20]],
        title=color_by,
        loc="upper left",
        fontsize=7,
        frameon=False,
    )
    if title:
        ax.set_title(plain(title))
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def save(fig: Figure, name: str, directory: str | Path | None) -> Path | None:
    """Write ``fig`` as ``<directory>/<name>.png`` (nothing without a directory: a
    notebook's ``figures_dir`` parameter decides); returns the path.

    >>> import tempfile, matplotlib.pyplot as plt
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save(plt.figure(), "empty", d).name
    'empty.png'
    """
    if directory is None:
        return None
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ValueError(f"figure name {name!r}: use lower-case letters, digits, - and _")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plain(text: str) -> str:
    """``text`` for a matplotlib label: ``$`` escaped, so data is never math markup.

    >>> plain("$5M round")
    '\\\\$5M round'
    """
    return text.replace("$", r"\$")


def _layout(graph: nx.Graph, layout: str, seed: int) -> dict[Any, Any]:
    if graph.number_of_nodes() == 0:
        return {}
    if layout == "spring":
        spread = 2.5 / max(graph.number_of_nodes(), 1) ** 0.5
        return nx.spring_layout(graph, seed=seed, k=spread, iterations=200)
    if layout == "kamada_kawai":
        return nx.kamada_kawai_layout(graph)
    if layout == "circular":
        return nx.circular_layout(graph)
    if layout == "tree":
        return _tree_layout(graph)
    if layout == "rings":
        return _ring_layout(graph)
    raise ValueError(f"unknown layout {layout!r} (rings, spring, kamada_kawai, tree, circular)")


def _ring_layout(graph: nx.Graph) -> dict[Any, Any]:
    """The neighbourhood's center in the middle, each hop a ring around it, a ring's
    nodes grouped by label; falls back to spring without a center."""
    center = graph.graph.get("center")
    if center not in graph:
        return _layout(graph, "spring", 7)
    distance = nx.single_source_shortest_path_length(graph.to_undirected(as_view=True), center)
    rings: dict[int, list[Any]] = {}
    for node in graph.nodes:
        rings.setdefault(distance.get(node, max(distance.values()) + 1), []).append(node)
    positions: dict[Any, Any] = {}
    for hop, members in sorted(rings.items()):
        members.sort(key=lambda n: (str(graph.nodes[n].get("label")), str(n)))
        if hop == 0:
            positions[members[0]] = (0.0, 0.0)
            continue
        ring = nx.Graph()
        ring.add_nodes_from(members)
        shell = nx.circular_layout(ring, scale=float(hop), center=(0.0, 0.0))
        # Alternate rings start half a step round, so spokes do not line up.
        turn = math.pi / max(len(members), 1) if hop % 2 == 0 else 0.0
        for node, (x, y) in shell.items():
            positions[node] = (
                x * math.cos(turn) - y * math.sin(turn),
                x * math.sin(turn) + y * math.cos(turn),
            )
    return positions


def _tree_layout(graph: nx.Graph) -> dict[Any, tuple[float, float]]:
    """Top-down layers: a node sits one row below the node its edge points to (an
    org chart's ``REPORTS_TO`` points up)."""
    directed = nx.DiGraph(graph)
    depth: dict[Any, int] = {}

    def level(node: Any, seen: frozenset[Any] = frozenset()) -> int:
        if node in depth:
            return depth[node]
        ups = [n for n in directed.successors(node) if n not in seen]
        depth[node] = 0 if not ups else 1 + max(level(u, seen | {node}) for u in ups)
        return depth[node]

    rows: dict[int, list[Any]] = {}
    for node in sorted(directed.nodes, key=str):
        rows.setdefault(level(node), []).append(node)
    positions: dict[Any, tuple[float, float]] = {}
    for row, members in rows.items():
        for i, node in enumerate(members):
            positions[node] = ((i + 1) / (len(members) + 1), -float(row))
    return positions
