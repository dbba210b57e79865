"""The spread graph: hosts as nodes, attacker movements as labelled directed edges, as SVG.

Laid out by Graphviz ``dot`` (through the ``graphviz`` package) when it is installed; else by
a simple layered layout of our own, and ``SpreadGraph.engine`` says which. Every label is
display-cleaned (bidi controls neutralised) and escaped for DOT and for XML, so host, account
and method names from the logs stay text.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from dwell.report.text import clean, iso, to_datetime

_PROLOG = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", re.DOTALL)
MAX_EDGES = 40


@dataclass(frozen=True, slots=True)
class Node:
    host: str
    role: str  # "beachhead" | "compromised" | "untouched" | "external"
    first_seen: str = ""
    kind: str = ""  # for sources outside the estate: "external", "internal-ip", "loopback"


@dataclass(frozen=True, slots=True)
class Edge:
    src: str
    dst: str
    time: str
    account: str
    method: str
    count: int = 1
    tree: bool = False  # the move that first reached ``dst`` (its ``reached_from``)


@dataclass(frozen=True, slots=True)
class SpreadGraph:
    """The graph's content, and its SVG once rendered (``engine``: "graphviz" or "fallback")."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    svg: str = ""
    engine: str = ""
    notes: tuple[str, ...] = field(default=())


def _text(value: Any, limit: int = 40) -> str:
    return clean(value, limit).strip()


def _few(values: dict[str, None], limit: int = 2) -> str:
    names = list(values)
    text = ", ".join(names[:limit])
    return f"{text} +{len(names) - limit}" if len(names) > limit else text


def build_graph(campaign: dict[str, Any], estate_hosts: list[str]) -> SpreadGraph:
    """Nodes and edges of one campaign; hosts of the case it never touched are greyed."""
    beachhead = _text((campaign.get("beachhead") or {}).get("host"))
    compromised: dict[str, str] = {}
    for entry in campaign.get("hosts") or []:
        host = _text(entry.get("host"))
        if host:
            compromised.setdefault(host, iso(entry.get("first_seen")))
    if beachhead:
        compromised.setdefault(beachhead, iso((campaign.get("beachhead") or {}).get("time")))
    raw_edges: list[dict[str, Any]] = [e for e in campaign.get("edges") or []
                                       if isinstance(e, dict)]
    if not raw_edges:
        raw_edges = [
            {"src": h.get("reached_from"), "dst": h.get("host"), "time": h.get("first_seen"),
             "account": h.get("account"), "method": h.get("via")}
            for h in campaign.get("hosts") or [] if h.get("reached_from")
        ]
    # One arrow per (source, destination): first time, the accounts and methods used, count.
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    kinds: dict[str, str] = {}
    for raw in raw_edges:
        src, dst = _text(raw.get("src")), _text(raw.get("dst"))
        if not src or not dst:
            continue
        if raw.get("src_kind"):
            kinds.setdefault(src, _text(raw.get("src_kind"), 20))
        slot = merged.setdefault((src, dst), {"when": None, "accounts": {}, "methods": {},
                                              "count": 0})
        when = to_datetime(raw.get("time"))
        if when is not None and (slot["when"] is None or when < slot["when"]):
            slot["when"] = when
        for key, field_name in (("accounts", "account"), ("methods", "method")):
            value = _text(raw.get(field_name), 30)
            if value:
                slot[key].setdefault(value, None)
        slot["count"] += 1
    tree = {(_text(h.get("reached_from")), _text(h.get("host")))
            for h in campaign.get("hosts") or [] if h.get("reached_from")}
    for src, dst in tree:  # a first reach the edge list does not hold is still drawn
        if src and dst and (src, dst) not in merged:
            merged[(src, dst)] = {"when": None, "accounts": {}, "methods": {}, "count": 1}
    edges = sorted(
        (Edge(src, dst, iso(slot["when"], seconds=False), _few(slot["accounts"]),
              _few(slot["methods"]), slot["count"], (src, dst) in tree)
         for (src, dst), slot in merged.items()),
        key=lambda e: (not e.tree, e.time or "9999", e.src, e.dst),
    )
    notes: list[str] = []
    if len(edges) > MAX_EDGES:
        notes.append(f"{len(edges) - MAX_EDGES} other host pairs with movements not drawn "
                     "(see the table of movements)")
        edges = edges[:MAX_EDGES]
    nodes: dict[str, Node] = {}
    estate = {_text(h) for h in estate_hosts if _text(h)}
    for host, first in sorted(compromised.items(), key=lambda kv: (kv[1] or "9999", kv[0])):
        nodes[host] = Node(host, "beachhead" if host == beachhead else "compromised", first)
    for edge in edges:
        for host in (edge.src, edge.dst):
            if host not in nodes:
                nodes[host] = Node(host, "compromised") if host in estate else Node(
                    host, "external", kind=kinds.get(host, "external"))
    for host in sorted(estate):
        nodes.setdefault(host, Node(host, "untouched"))
    return SpreadGraph(tuple(nodes.values()), tuple(edges), notes=tuple(notes))


_STYLE = {
    "beachhead": {"style": "filled,bold", "fillcolor": "#c0392b", "fontcolor": "white",
                  "color": "#7b241c", "peripheries": "2", "shape": "box"},
    "compromised": {"style": "filled", "fillcolor": "#f5b7b1", "color": "#922b21",
                    "shape": "box"},
    "external": {"style": "dashed", "color": "#555555", "shape": "box"},
    "untouched": {"style": "filled", "fillcolor": "#eeeeee", "fontcolor": "#999999",
                  "color": "#cccccc", "shape": "box"},
}


def _label(lines: list[str]) -> Any:
    import graphviz  # type: ignore[import-untyped,unused-ignore]

    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines if line))


def _node_lines(node: Node) -> list[str]:
    lines = [node.host]
    if node.role == "beachhead":
        lines.append("BEACHHEAD")
    if node.first_seen and node.role in ("beachhead", "compromised"):
        lines.append(node.first_seen[:10])
    if node.role == "external":
        lines.append({"internal-ip": "(unresolved IP)", "loopback": "(loopback: tunnel)",
                      "host": "(outside the case)"}.get(node.kind, "(external)"))
    return lines


def _edge_lines(edge: Edge) -> list[str]:
    lines = [edge.time, edge.account, edge.method]
    if edge.count > 1:
        lines.append(f"({edge.count} movements)")
    return lines


def render_graphviz(graph: SpreadGraph) -> str:
    import graphviz  # type: ignore[import-untyped,unused-ignore]

    dot = graphviz.Digraph("spread", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "bgcolor": "white", "nodesep": "0.25",
        "ranksep": "0.6"}, node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#922b21"})
    ids = {node.host: f"n{i}" for i, node in enumerate(graph.nodes)}
    touched = [n for n in graph.nodes if n.role != "untouched"]
    for node in touched:
        dot.node(ids[node.host], label=_label(_node_lines(node)), **_STYLE[node.role])
    for edge in graph.edges:
        if edge.tree:
            dot.edge(ids[edge.src], ids[edge.dst], label=_label(_edge_lines(edge)),
                     penwidth="2")
        else:  # later movements: light, unlabelled (see the table), not shaping the layout
            dot.edge(ids[edge.src], ids[edge.dst], color="#cfcfcf", constraint="false",
                     arrowsize="0.6")
    untouched = [n for n in graph.nodes if n.role == "untouched"]
    if untouched:
        with dot.subgraph(name="cluster_untouched") as sub:
            sub.attr(label="not reached", fontcolor="#999999", color="#dddddd", style="dashed")
            for node in untouched:
                sub.node(ids[node.host], label=_label([node.host]), **_STYLE[node.role])
    svg: str = dot.pipe(format="svg", encoding="utf-8")
    return _tidy(svg)


def _tidy(svg: str) -> str:
    """Inline-ready SVG: no prolog, doctype or comments; sized to its container."""
    svg = _PROLOG.sub("", svg).strip()
    return svg.replace("<svg ", '<svg class="graph" role="img" aria-label="spread graph" ', 1)


def render_fallback(graph: SpreadGraph) -> str:
    """A layered left-to-right layout by hop count from the beachhead; plain SVG."""
    depth: dict[str, int] = {n.host: 0 for n in graph.nodes
                             if n.role in ("beachhead", "external")}
    for _ in range(len(graph.nodes)):
        for edge in graph.edges:
            if edge.src in depth and depth.get(edge.dst, 10**6) > depth[edge.src] + 1:
                depth[edge.dst] = depth[edge.src] + 1
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes:
        col = depth.get(node.host, -1 if node.role == "untouched" else 1)
        columns.setdefault(col, []).append(node)
    order = sorted(columns, key=lambda c: (c < 0, c))
    box_w, box_h, gap_x, gap_y = 150, 44, 90, 18
    pos: dict[str, tuple[int, int]] = {}
    for i, col in enumerate(order):
        for j, node in enumerate(columns[col]):
            pos[node.host] = (20 + i * (box_w + gap_x), 20 + j * (box_h + gap_y))
    width = 40 + len(order) * (box_w + gap_x)
    height = 40 + max((len(v) for v in columns.values()), default=1) * (box_h + gap_y)
    fill = {"beachhead": "#c0392b", "compromised": "#f5b7b1", "external": "#ffffff",
            "untouched": "#eeeeee"}
    out = [f'<svg class="graph" role="img" aria-label="spread graph" width="100%" '
           f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
           'markerHeight="8" orient="auto"><path d="M0,0L10,5L0,10z" fill="#922b21"/></marker>'
           '</defs>']
    for edge in graph.edges:
        (x1, y1), (x2, y2) = pos[edge.src], pos[edge.dst]
        sx, sy, ex, ey = x1 + box_w, y1 + box_h // 2, x2, y2 + box_h // 2
        out.append(f'<line x1="{sx}" y1="{sy}" x2="{ex}" y2="{ey}" stroke="#922b21" '
                   'marker-end="url(#arrow)"/>')
        label = xml_escape(" / ".join(x for x in _edge_lines(edge) if x))
        out.append(f'<text x="{(sx + ex) // 2}" y="{(sy + ey) // 2 - 4}" font-size="9" '
                   f'text-anchor="middle" fill="#333">{label}</text>')
    for node in graph.nodes:
        x, y = pos[node.host]
        dash = ' stroke-dasharray="4 3"' if node.role == "external" else ""
        colour = "white" if node.role == "beachhead" else (
            "#999" if node.role == "untouched" else "#111")
        out.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="4" '
                   f'fill="{fill[node.role]}" stroke="#7b241c"{dash}/>')
        for k, line in enumerate(_node_lines(node)[:3]):
            out.append(f'<text x="{x + box_w // 2}" y="{y + 14 + k * 12}" font-size="11" '
                       f'text-anchor="middle" fill="{colour}">{xml_escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def render_graph(graph: SpreadGraph, prefer_graphviz: bool = True) -> SpreadGraph:
    """``graph`` with its SVG: Graphviz ``dot`` if available, else the fallback layout."""
    if prefer_graphviz and shutil.which("dot"):
        try:
            return SpreadGraph(graph.nodes, graph.edges, render_graphviz(graph), "graphviz",
                               graph.notes)
        except Exception as exc:  # a broken dot must not lose the report
            note = f"Graphviz failed ({clean(exc, 200)}); simple layout used instead"
            return SpreadGraph(graph.nodes, graph.edges, render_fallback(graph), "fallback",
                               (*graph.notes, note))
    note = "Graphviz `dot` is not installed; a simple layout is used instead"
    return SpreadGraph(graph.nodes, graph.edges, render_fallback(graph), "fallback",
                       (*graph.notes, note))
