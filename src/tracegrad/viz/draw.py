"""Writers: a :class:`~tracegrad.viz.graph.Graph` as a Digraph (DOT), as Mermaid text, as a tree."""

from __future__ import annotations

from .dot import Digraph
from .graph import COLORS, Graph

__all__ = ["to_digraph", "mermaid_text", "tree_text", "resize_graph"]


def _clusters(g: Graph):
    """Items grouped by module path: ``{path: [items]}`` and ``{path: [child paths]}``, every
    ancestor of a used path included, in first-seen order."""
    members: dict[tuple, list] = {(): []}
    children: dict[tuple, list] = {(): []}
    for item in g.items.values():
        path = item.path
        for n in range(1, len(path) + 1):
            p = path[:n]
            if p not in members:
                members[p] = []
                children[p] = []
                children[p[:-1]].append(p)
        members[path].append(item)
    return members, children


def _cluster_label(path: tuple) -> str:
    name, cls = path[-1]
    return name if name == cls else f"{name} ({cls})"


def _item_attrs(item) -> dict:
    if item.kind == "fn":
        return {}
    attrs = {"fillcolor": COLORS[item.kind]}
    if item.kind == "repeat":
        attrs["style"] = "filled,dashed"
    return attrs


def to_digraph(g: Graph) -> Digraph:
    """torchviz's picture: box nodes in a monospace font, a size that grows with the graph, one
    dashed cluster per ``nn.Module`` call, notes on what was collapsed as the graph's label."""
    node_attr = dict(
        style="filled",
        shape="box",
        align="left",
        fontsize="10",
        ranksep="0.1",
        height="0.2",
        fontname="monospace",
    )
    dot = Digraph(node_attr=node_attr, graph_attr=dict(size="12,12"))
    members, children = _clusters(g)
    counter = [0]

    def fill(graph: Digraph, path: tuple) -> None:
        for item in members[path]:
            graph.node(item.id, item.label, **_item_attrs(item))
        for child in children[path]:
            with graph.subgraph(name=f"cluster_{counter[0]}") as sub:
                counter[0] += 1
                sub.attr(
                    label=_cluster_label(child),
                    style="dashed",
                    color="gray50",
                    fontname="monospace",
                    fontsize="10",
                )
                fill(sub, child)

    fill(dot, ())
    for tail, head, attrs in g.edges:
        dot.edge(tail, head, **attrs)
    if g.notes:
        dot.attr(label="\n".join(g.notes), fontsize="10", fontname="monospace", labelloc="b")
    resize_graph(dot)
    return dot


def resize_graph(dot: Digraph, size_per_element: float = 0.15, min_size: float = 12) -> None:
    """torchviz's sizing: the picture may grow ``size_per_element`` inches per statement, from
    ``min_size`` inches (sets ``dot.graph_attr["size"]``)."""
    size = max(min_size, len(dot.body) * size_per_element)
    dot.graph_attr.update(size=f"{size},{size}")


_MERMAID_COLORS = {  # the X11 colours above, as hex for Mermaid
    "leaf": "#add8e6",
    "output": "#caff70",
    "retained": "#a2cd5a",
    "saved": "#ffa500",
    "box": "#d3d3d3",
    "repeat": "#e5e5e5",
}


def _mermaid_label(text: str) -> str:
    text = text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
    return '"' + text.replace(">", "#gt;").replace("\n", "<br/>") + '"'


def mermaid_text(g: Graph, direction: str = "TB") -> str:
    """A Mermaid ``flowchart``: the same items, edges, colours and module subgraphs."""
    lines = [f"flowchart {direction}"]
    members, children = _clusters(g)
    counter = [0]

    def fill(path: tuple, indent: str) -> None:
        for item in members[path]:
            shape = f"n{item.id}[{_mermaid_label(item.label)}]"
            if item.kind == "fn":
                lines.append(f"{indent}{shape}")
            else:
                lines.append(f"{indent}{shape}:::{item.kind}")
        for child in children[path]:
            lines.append(f"{indent}subgraph m{counter[0]}[{_mermaid_label(_cluster_label(child))}]")
            counter[0] += 1
            fill(child, indent + "  ")
            lines.append(f"{indent}end")

    fill((), "  ")
    for tail, head, attrs in g.edges:
        arrow = "---" if attrs.get("dir") == "none" else "-->"
        lines.append(f"  n{tail} {arrow} n{head}")
    for kind, color in _MERMAID_COLORS.items():
        lines.append(f"  classDef {kind} fill:{color},stroke:#333")
    for note in g.notes:
        lines.append(f"  %% {note}")
    return "\n".join(lines) + "\n"


def tree_text(g: Graph) -> str:
    """The graph as an indented tree from each output down to the leaves. A node reached a second
    time is printed as a reference (``-> [3]``) to its first appearance, so shared subgraphs are
    printed once and the text stays linear in the graph's size."""
    kids: dict[str, list] = {}  # node -> [(child, expand)]: its saved tensors, then its inputs
    feeds: dict[str, str] = {}  # output -> its grad_fn
    retains: dict[str, list] = {}  # node -> retained tensors
    for tail, head, attrs in g.edges:
        kind = g.items[head].kind
        if attrs.get("dir") == "none":
            kids.setdefault(head, []).append((tail, False))
        elif kind == "output":
            feeds[head] = tail
        elif kind == "retained":
            retains.setdefault(tail, []).append(head)
    for tail, head, attrs in g.edges:
        if attrs.get("dir") != "none" and g.items[head].kind not in ("output", "retained"):
            kids.setdefault(head, []).append((tail, True))
    fan_in: dict[str, int] = {}
    for children in kids.values():
        for k, expand in children:
            if expand:
                fan_in[k] = fan_in.get(k, 0) + 1

    def one_line(label: str) -> str:
        return " ".join(part.strip() for part in label.split("\n") if part.strip())

    def describe(node: str) -> str:
        item = g.items[node]
        text = one_line(item.label)
        if item.kind not in ("fn", "box", "repeat"):
            text = f"{item.kind} {text}"
        if item.path:
            text += "  [" + ".".join(n for n, _ in item.path) + "]"
        for r in retains.get(node, ()):
            text += f"  (retains grad: {one_line(g.items[r].label)})"
        return text

    numbers: dict[str, int] = {}
    lines: list[str] = []
    for out_id, item in g.items.items():
        if item.kind != "output":
            continue
        lines.append(describe(out_id))
        # (node, prefix, glyph, expand): a sole input continues its chain under its consumer at
        # the same indentation, so only branches indent; very deep nesting restarts at the margin.
        stack = [(feeds[out_id], "", "└─ ", "   ", True)] if out_id in feeds else []
        while stack:
            node, prefix, glyph, rail, expand = stack.pop()
            if node in numbers:
                first = one_line(g.items[node].label)
                lines.append(f"{prefix}{glyph}-> [{numbers[node]}] {first}")
                continue
            text = describe(node)
            if not expand and g.items[node].kind == "leaf":  # a leaf the node saved
                text = "saved " + text
            if expand and fan_in.get(node, 0) > 1:
                numbers[node] = len(numbers) + 1
                text = f"[{numbers[node]}] {text}"
            lines.append(prefix + glyph + text)
            if not expand:
                continue
            children = kids.get(node, [])
            if len(children) == 1 and children[0][1]:
                stack.append((children[0][0], prefix, rail, rail, True))
                continue
            inner = prefix + rail
            if len(inner) > _MAX_INDENT:
                lines.append(f"{inner}... (nested deeper: continued at the margin)")
                inner = ""
            for n in range(len(children) - 1, -1, -1):
                child, walk = children[n]
                last = n == len(children) - 1
                stack.append(
                    (child, inner, "└─ " if last else "├─ ", "   " if last else "│  ", walk)
                )
    return "\n".join(lines) + "\n"


_MAX_INDENT = 60
