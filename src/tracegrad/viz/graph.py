"""The recorded graph, walked once into plain data that every picture (DOT, Mermaid, text) is drawn
from, and the collapsing that keeps a big graph readable.

The walk follows ``grad_fn.next_functions`` from the outputs with an explicit stack (no recursion:
a 100,000-node chain is fine) and produces *items* -- one per ``grad_fn`` node, leaf, output,
retained tensor and (optionally) saved tensor -- and *edges* between them, with torchviz's
conventions: edges run from inputs towards the output, a leaf's ``AccumulateGrad`` box sits under
the light-blue leaf, saved tensors sit above their node, joined to it without an arrow.

Each item carries its module *path*: the ``nn.Module`` calls that recorded it (``Node.scope``),
outermost first, as ``(name, class name)`` pairs. Collapsing maps items to *boxes*: every module
deeper than ``depth`` becomes one box with its op count, and a run of identical sibling blocks
(``blocks.0`` ... ``blocks.11`` with the same ops) keeps its first and last member and draws the
rest as one box.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .. import _scope
from ..autograd.node import AccumulateGrad
from ..tensor import Tensor

__all__ = ["Item", "Graph", "build"]

# torchviz's colours (X11 names, which Graphviz and the Mermaid writer both understand).
COLORS = {
    "leaf": "lightblue",
    "output": "darkolivegreen1",
    "retained": "darkolivegreen3",
    "saved": "orange",
    "box": "lightgrey",
    "repeat": "gray90",
}


@dataclass
class Item:
    """One box of the picture. ``kind``: ``fn`` (a ``grad_fn`` node), ``leaf``, ``output``,
    ``retained``, ``saved``, ``box`` (a collapsed module) or ``repeat`` (collapsed repeats)."""

    id: str
    kind: str
    label: str
    path: tuple = ()  # ((module name, class name), ...) outermost first; () outside any module
    ops: int = 0  # grad_fn nodes it stands for (1 for a node, the count for a box)


@dataclass
class Graph:
    """Items (in walk order), edges ``(tail, head, attrs)`` and notes on what was collapsed."""

    items: dict[str, Item] = field(default_factory=dict)
    edges: list[tuple[str, str, dict]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for item in self.items.values() if item.kind == kind)


def size_to_str(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def fn_name(fn) -> str:
    """A node's name as ``type(grad_fn).__name__`` spells it in PyTorch."""
    return "AccumulateGrad" if type(fn) is AccumulateGrad else fn.name()


def _attrs(fn) -> dict:
    """What torchviz's ``show_attrs`` lists for a node: saved tensors as ``[saved tensor]``, the
    other saved values (Python scalar operands, static parameters) by value; sorted by name."""
    op = fn.op
    attrs = {}
    names = getattr(op, "operand_names", ())
    inputs = fn.inputs
    for i in op.saved_inputs:
        name = names[i] if i < len(names) else f"input{i}"
        if inputs is None:
            attrs[name] = "[freed]"
        elif isinstance(inputs[i], Tensor):
            attrs[name] = "[saved tensor]"
        elif inputs[i] is not None:
            attrs[name] = str(inputs[i])
    if op.saves_out:
        attrs["result"] = "[saved tensor]" if not fn._released else "[freed]"
    for k, v in fn.params.items():
        if k != "ctx":
            attrs[k] = str(v)
    return dict(sorted(attrs.items()))


def fn_label(fn, show_attrs: bool, max_attr_chars: int) -> str:
    """torchviz's node label: the name, then (``show_attrs``) a two-column table of attributes."""
    name = fn_name(fn)
    if not show_attrs or type(fn) is AccumulateGrad:
        return name
    attrs = _attrs(fn)
    if not attrs:
        return name
    width = max(max_attr_chars, 3)
    col1 = max(len(k) for k in attrs)
    col2 = min(max(len(v) for v in attrs.values()), width)

    def cut(s: str) -> str:
        return s[: col2 - 3] + "..." if len(s) > col2 else s

    rows = [f"{k:<{col1}}: {cut(v):>{col2}}" for k, v in attrs.items()]
    return "\n".join([name, "-" * max(col1 + col2 + 2, len(name)), *rows])


class _Walk:
    """Builds a :class:`Graph` from output tensors (see the module docstring)."""

    def __init__(self, names: dict, show_attrs: bool, show_saved: bool, max_attr_chars: int):
        self.g = Graph()
        self.names = names  # id(tensor) -> name, from params
        self.show_attrs, self.show_saved = show_attrs, show_saved
        self.max_attr_chars = max_attr_chars
        self.ids: dict[int, str] = {}
        self.keep: list = []  # objects whose id() names an item stay alive while we walk
        self.scope_names: dict = {}
        self.paths: dict = {}  # scope chain (by identity) -> path
        self.consumers: dict[str, list] = {}  # leaf/AccumulateGrad id -> consumers' paths

    def ident(self, obj) -> str:
        i = self.ids.get(id(obj))
        if i is None:
            i = self.ids[id(obj)] = str(len(self.ids))
            self.keep.append(obj)
        return i

    def add(self, obj, kind: str, label: str, path: tuple = (), ops: int = 0) -> str:
        i = self.ident(obj)
        item = self.g.items.get(i)
        if item is None:
            self.g.items[i] = Item(i, kind, label, path, ops)
        elif item.kind == "saved" and kind == "leaf":  # a saved leaf is drawn as the leaf
            item.kind, item.label = kind, label
        return i

    def var_label(self, t, name: str | None = None, dtype: bool = False) -> str:
        name = name if name is not None else self.names.get(id(t), "")
        label = f"{name}\n {size_to_str(t.shape)}"
        return (
            f"{label} {t.dtype.name if hasattr(t.dtype, 'name') else t.dtype}" if dtype else label
        )

    def path(self, scope) -> tuple:
        if scope is None:
            return ()
        path = self.paths.get(id(scope))
        if path is None:
            names = _scope.names(scope, self.scope_names)
            classes = [type(m).__name__ for m in _scope.modules(scope)]
            path = self.paths[id(scope)] = tuple(zip(names, classes))
            self.keep.append(scope)
        return path

    def run(self, outputs) -> Graph:
        stack = []
        seen = set()
        for v in outputs:
            out = self.add(v, "output", self.var_label(v))
            fn = v.grad_fn
            if fn is not None:
                self.edge(self.ident(fn), out)
                if id(fn) not in seen:
                    seen.add(id(fn))
                    stack.append(fn)
        while stack:
            fn = stack.pop()
            if type(fn) is AccumulateGrad:
                self.leaf(fn)
                continue
            path = self.path(fn.scope)
            me = self.add(fn, "fn", fn_label(fn, self.show_attrs, self.max_attr_chars), path, 1)
            if self.show_saved:
                self.saved(fn, me, path)
            retained = fn._retained() if fn._retained is not None else None
            if retained is not None:
                self.edge(me, self.add(retained, "retained", self.var_label(retained), path))
            todo = []
            for u, _ in fn.next_functions:
                if u is None:
                    continue
                ui = self.ident(u)
                self.edge(ui, me)
                if type(u) is AccumulateGrad:
                    self.consumers.setdefault(ui, []).append(path)
                if id(u) not in seen:
                    seen.add(id(u))
                    todo.append(u)
            stack.extend(reversed(todo))  # depth first, inputs in order
        self.place_leaves()
        items = self.g.items
        self.g.edges = [e for e in self.g.edges if e[0] in items and e[1] in items]
        return self.g

    def edge(self, tail: str, head: str, **attrs) -> None:
        self.g.edges.append((tail, head, attrs))

    def leaf(self, fn: AccumulateGrad) -> None:
        var = fn.variable
        me = self.add(fn, "fn", "AccumulateGrad")
        self.edge(self.add(var, "leaf", self.var_label(var)), me)

    def saved(self, fn, me: str, path: tuple) -> None:
        """The tensors the rule reads: orange, joined to the node without an arrow."""
        op = fn.op
        if hasattr(op, "cls"):  # a custom autograd.Function: what ctx.save_for_backward kept
            ctx = fn.params.get("ctx")
            for k, t in enumerate(getattr(ctx, "saved_tensors", ()) or ()):
                if isinstance(t, Tensor):
                    self.saved_tensor(t, f"saved_tensors[{k}]", me, path)
            return
        names = getattr(op, "operand_names", ())
        for i in op.saved_inputs:
            name = names[i] if i < len(names) else f"input{i}"
            if fn.inputs is None:
                self.freed(fn, name, me, path)
            elif isinstance(fn.inputs[i], Tensor):
                self.saved_tensor(fn.inputs[i], name, me, path)
        if op.saves_out:
            if fn._released:
                self.freed(fn, "result", me, path)
            else:
                shape, dtype = fn.out_meta
                label = f"result\n {size_to_str(shape)} {getattr(dtype, 'name', dtype)}"
                i = self.add(("result", fn), "saved", label, path)
                self.keep.append(("result", fn))
                self.edge(i, me, dir="none")

    def saved_tensor(self, t, name: str, me: str, path: tuple) -> None:
        if t.grad_fn is None and t.requires_grad:  # a leaf of this graph: joined to its box
            self.edge(self.ident(t), me, dir="none")
            return
        name = self.names.get(id(t), name)
        key = (name, id(t), me)
        self.keep.append(key)
        self.edge(self.add(key, "saved", self.var_label(t, name, dtype=True), path), me, dir="none")

    def freed(self, fn, name: str, me: str, path: tuple) -> None:
        key = (name, fn)
        self.keep.append(key)
        self.edge(self.add(key, "saved", f"{name}\n (freed by backward)", path), me, dir="none")

    def place_leaves(self) -> None:
        """A leaf and its AccumulateGrad sit in the innermost module around all their consumers."""
        edges_from = {}
        for tail, head, _ in self.g.edges:
            edges_from.setdefault(head, []).append(tail)
        for acc, paths in self.consumers.items():
            common = paths[0]
            for p in paths[1:]:
                n = 0
                while n < min(len(common), len(p)) and common[n] == p[n]:
                    n += 1
                common = common[:n]
            self.g.items[acc].path = common
            for tail in edges_from.get(acc, ()):
                if self.g.items[tail].kind == "leaf":
                    self.g.items[tail].path = common


def build(
    var, params=None, show_attrs: bool = False, show_saved: bool = False, max_attr_chars: int = 50
) -> Graph:
    """Walk the graph behind ``var`` (a tensor, or a tuple/list of them) into a :class:`Graph`."""
    outputs = tuple(var) if isinstance(var, (tuple, list)) else (var,)
    for v in outputs:
        if not isinstance(v, Tensor):
            raise TypeError(
                f"make_dot: expected a tensor or a tuple of tensors, got {type(v).__name__}"
            )
    names = {}
    if params is not None:
        for name, t in dict(params).items():
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"make_dot: params must map names to tensors; {name!r} is {type(t).__name__}"
                )
            names[id(t)] = name
    return _Walk(names, show_attrs, show_saved, max_attr_chars).run(outputs)


# ------------------------------------------------------------------------------------ collapsing
_INDEXED = re.compile(r"^(.*?)(\d+)$")


def collapse(g: Graph, depth: int | None = None, repeats: bool = False) -> Graph:
    """A copy of ``g`` with repeated sibling blocks (``repeats``) and modules deeper than ``depth``
    (``depth=1``: each child of the outermost module is one box) drawn as single boxes."""
    rep = {i: i for i in g.items}  # item id -> the id drawn for it
    boxes: dict[str, Item] = {}
    notes = list(g.notes)
    inner = [it for it in g.items.values() if it.path and it.kind != "output"]

    if repeats:
        notes += _collapse_repeats(inner, rep, boxes)
    if depth is not None:
        for it in inner:
            if rep[it.id] != it.id or len(it.path) <= depth:
                continue
            owner = it.path[: depth + 1]
            bid = "m:" + ".".join(n for n, _ in owner)
            box = boxes.get(bid)
            if box is None:
                name, cls = _dotted(owner), owner[-1][1]
                box = boxes[bid] = Item(bid, "box", name if name == cls else f"{name}\n{cls}")
                box.path = owner[:-1]
            rep[it.id] = bid
            box.ops += it.ops
        where = (
            "" if depth == 0 else f" {depth} level{'s' if depth > 1 else ''} below the outermost"
        )
        notes.append(f"depth={depth}: each module{where} is drawn as one box")
    for box in boxes.values():
        if box.kind == "box":
            box.label += f"\n{box.ops} op{'s' if box.ops != 1 else ''}"

    out = Graph(notes=notes)
    for i, it in g.items.items():
        r = rep[i]
        if r == i:
            out.items[i] = it
        elif r not in out.items:
            out.items[r] = boxes[r]
    seen = set()
    for tail, head, attrs in g.edges:
        t, h = rep[tail], rep[head]
        if t == h or (t, h) in seen:
            continue
        seen.add((t, h))
        out.edges.append((t, h, attrs if (t, h) == (tail, head) else {}))
    return out


def _dotted(path: tuple) -> str:
    """A module's name from inside the outermost module (``features.0``), as ``named_modules``
    would spell it there; the outermost module by its class."""
    names = [n for n, _ in path[1:]]
    return ".".join(names) if names else path[0][0]


def _collapse_repeats(inner: list, rep: dict, boxes: dict) -> list[str]:
    """Runs of three or more sibling modules named ``prefix<k>`` of one class and the same ops
    keep their first and last member; the members between become one box. Shallowest runs
    first."""
    ops: dict[tuple, Counter] = {}
    for it in inner:
        if it.kind != "fn":
            continue
        for n in range(2, len(it.path) + 1):
            ops.setdefault(it.path[:n], Counter())[it.label.split("\n", 1)[0]] += it.ops
    groups: dict[tuple, list] = {}
    for path, counter in ops.items():
        m = _INDEXED.match(path[-1][0])
        if m is None:
            continue
        key = (path[:-1], path[-1][1], m.group(1), frozenset(counter.items()))
        groups.setdefault(key, []).append((int(m.group(2)), path))
    notes = []
    hidden: dict[tuple, str] = {}
    for (parent, cls, _, _), members in sorted(groups.items(), key=lambda kv: len(kv[0][0])):
        members.sort()
        middle = [p for _, p in members[1:-1]]
        if len(middle) < 2 or any(p[: n + 1] in hidden for p in middle for n in range(len(p))):
            continue
        first, last = _dotted(middle[0]), _dotted(middle[-1])
        per = sum(ops[middle[0]].values())
        bid = "r:" + ".".join(n for n, _ in middle[0])
        label = f"{first} ... {last}\n{len(middle)} x {cls}, {per} ops each"
        boxes[bid] = Item(bid, "repeat", label, parent, per * len(middle))
        for p in middle:
            hidden[p] = bid
        notes.append(
            f"{len(middle)} identical {cls} modules ({first} ... {last}) are drawn as one box"
        )
    if hidden:
        for it in inner:
            for n in range(2, len(it.path) + 1):
                bid = hidden.get(it.path[:n])
                if bid is not None:
                    rep[it.id] = bid
                    break
    return notes


def module_depth(g: Graph) -> int:
    """How deep modules nest in ``g`` (0: no module)."""
    return max((len(it.path) for it in g.items.values()), default=0)


def fit(g: Graph, max_nodes: int | None, depth: int | None, repeats: bool | None) -> Graph:
    """Apply the caller's collapsing, then, while more than ``max_nodes`` items remain, collapse
    repeated blocks and then ever shallower modules, saying so in the notes."""
    total = len(g.items)
    out = collapse(g, depth, bool(repeats)) if depth is not None or repeats else g
    if max_nodes is None or len(out.items) <= max_nodes:
        return out
    if repeats is None:
        out = collapse(g, depth, True)
    d = module_depth(g) - 1 if depth is None else depth - 1
    while len(out.items) > max_nodes and d >= 0:
        out = collapse(g, d, repeats is not False)
        d -= 1
    if len(out.items) < total:
        out.notes.append(
            f"{total} items collapsed to {len(out.items)} to stay under max_nodes={max_nodes}; "
            "pass max_nodes=None to draw every node"
        )
    return out
