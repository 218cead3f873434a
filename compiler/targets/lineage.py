"""Lineage of the project: sources → feature views → models → environments.

Drawn twice from the same graph: as a Mermaid flowchart for the Markdown report (GitHub
renders it) and as an inline SVG for the self-contained HTML report (no scripts allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from compiler.plan import Plan

COLUMNS = ("source", "view", "model", "env")
HEADINGS = ("Sources", "Feature views", "Models", "Environments")
COLORS = {"source": "#e8f0fe", "view": "#e6f4ea", "model": "#fef7e0", "env": "#f3e8fd"}


@dataclass(frozen=True)
class Graph:
    """Nodes per column (id, label, note) and edges (from id, to id, dashed)."""

    nodes: dict[str, list[tuple[str, str, str]]]
    edges: list[tuple[str, str, bool]]


def lineage(plan: Plan) -> Graph:
    """The lineage graph; training reads of a source are dashed edges source → model."""
    nodes: dict[str, list[tuple[str, str, str]]] = {c: [] for c in COLUMNS}
    edges: list[tuple[str, str, bool]] = []
    for s in plan.sources:
        note: str = "personal data" if s.pii_columns else s.kind
        version = plan.data_hashes.get(s.name)  # md5:<hex>: which data trained the models
        if version:
            note += f" · DVC {version[:16]}"
        nodes["source"].append((f"src_{s.name}", s.name, note))
    for v in plan.views:
        nodes["view"].append(
            (f"fv_{v.name}", v.name, "has PII" if any(f.pii for f in v.fields) else "")
        )
        edges.append((f"src_{v.source}", f"fv_{v.name}", False))
    for m in plan.models:
        nodes["model"].append((f"m_{m.name.replace('-', '_')}", m.name, f"{m.risk} risk"))
        mid = f"m_{m.name.replace('-', '_')}"
        for view in sorted({ref.view for ref in plan.model_features.get(m.name, ())}):
            edges.append((f"fv_{view}", mid, False))
        if m.training is not None:
            for src in sorted(set(m.training.data)):
                edges.append((f"src_{src}", mid, True))
        for ep in plan.environments:
            edges.append((mid, f"env_{ep.name.replace('-', '_')}", False))
    for ep in plan.environments:
        note = "approval required" if ep.needs_approval else ""
        nodes["env"].append((f"env_{ep.name.replace('-', '_')}", ep.name, note))
    return Graph(nodes, edges)


def mermaid(graph: Graph) -> str:
    """A Mermaid flowchart; names are validated identifiers, so they need no quoting rules."""
    lines = ["flowchart LR"]
    for column, heading in zip(COLUMNS, HEADINGS, strict=True):
        if not graph.nodes[column]:
            continue
        lines.append(f'  subgraph {column}s["{heading}"]')
        for node_id, label, note in graph.nodes[column]:
            text = f"{label}<br/><small>{note}</small>" if note else label
            lines.append(f'    {node_id}["{text}"]')
        lines.append("  end")
    for a, b, dashed in graph.edges:
        lines.append(f"  {a} {'-.->|training|' if dashed else '-->'} {b}")
    return "\n".join(lines)


_W, _H, _GAP, _COLW, _TOP = 180, 44, 16, 250, 40


def svg(graph: Graph) -> str:
    """An inline SVG drawing of the graph, every text HTML-escaped."""
    where: dict[str, tuple[int, int]] = {}
    rows = max((len(n) for n in graph.nodes.values()), default=0)
    height = _TOP + max(rows, 1) * (_H + _GAP) + 10
    width = len(COLUMNS) * _COLW
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        "<title>Lineage: sources, feature views, models, environments</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#5f6368"/></marker></defs>',
    ]
    for col, (column, heading) in enumerate(zip(COLUMNS, HEADINGS, strict=True)):
        x = col * _COLW + 10
        out.append(f'<text x="{x}" y="20" class="colhead">{escape(heading)}</text>')
        for row, (node_id, _, _) in enumerate(graph.nodes[column]):
            where[node_id] = (x, _TOP + row * (_H + _GAP))
    for a, b, dashed in graph.edges:
        if a not in where or b not in where:
            continue
        (x1, y1), (x2, y2) = where[a], where[b]
        sx, sy, ex, ey = x1 + _W, y1 + _H // 2, x2, y2 + _H // 2
        mid = (sx + ex) // 2
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        out.append(
            f'<path d="M {sx} {sy} C {mid} {sy}, {mid} {ey}, {ex} {ey}" fill="none" '
            f'stroke="#5f6368" stroke-width="1.3"{dash} marker-end="url(#arrow)"/>'
        )
    for column in COLUMNS:
        for node_id, label, note in graph.nodes[column]:
            x, y = where[node_id]
            out.append(
                f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" '
                f'fill="{COLORS[column]}" stroke="#9aa0a6"/>'
            )
            ty = y + (18 if note else 27)
            out.append(f'<text x="{x + 10}" y="{ty}" class="node">{escape(label)}</text>')
            if note:
                out.append(f'<text x="{x + 10}" y="{y + 35}" class="note">{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out)
