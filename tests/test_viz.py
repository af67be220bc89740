"""tracegrad.viz: the drawn graph against the recorded one (and PyTorch's, when installed)."""

from __future__ import annotations

import re
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

import tracegrad as tg
import tracegrad.nn as nn
import tracegrad.nn.functional as F
from tracegrad.viz import Digraph, make_dot, make_dot_from_trace, to_mermaid, tree

try:
    import torch
except ImportError:  # PyTorch is an optional second oracle
    torch = None

HAVE_DOT = shutil.which("dot") is not None
try:
    import graphviz  # noqa: F401

    HAVE_GRAPHVIZ = True
except ImportError:
    HAVE_GRAPHVIZ = False


# ------------------------------------------------------------------------------- reading DOT back
_NODE = re.compile(r'^\t+("(?:[^"\\]|\\.)*"|[^\s\[]+)(?: \[(.*)\])?$')
_EDGE = re.compile(r'^\t+("(?:[^"\\]|\\.)*"|\S+) -> ("(?:[^"\\]|\\.)*"|\S+)(?: \[(.*)\])?$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def _unquote(s: str) -> str:
    if s.startswith('"'):
        return s[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    return s


def parse_dot(source: str):
    """Nodes ``{id: attrs}``, edges ``[(tail, head, attrs)]`` and cluster labels of DOT text."""
    nodes, edges, clusters = {}, [], []
    # Newlines inside quoted strings (torchviz writes raw ones) become \n escapes first.
    parts = re.split(r'("(?:[^"\\]|\\.)*")', source)
    source = "".join(p.replace("\n", "\\n") if p.startswith('"') else p for p in parts)
    for line in source.splitlines():
        if line.lstrip().startswith(("graph [", "node [", "edge [", "subgraph", "}", "digraph")):
            continue
        m = _EDGE.match(line)
        if m:
            attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(3) or "")}
            edges.append((_unquote(m.group(1)), _unquote(m.group(2)), attrs))
            continue
        m = re.match(r"^\t+label=(.*)$", line)
        if m:
            clusters.append(_unquote(m.group(1)))
            continue
        m = _NODE.match(line)
        if m and "=" not in m.group(1):
            nodes[_unquote(m.group(1))] = {
                k: _unquote(v) for k, v in _ATTR.findall(m.group(2) or "")
            }
    return nodes, edges, clusters


def drawn(dot: Digraph):
    """Node labels' first lines as a multiset, and edges as a multiset of (tail, head) first
    lines; plus the raw parse."""
    nodes, edges, clusters = parse_dot(dot.source)
    first = {i: a.get("label", "").split("\n")[0] for i, a in nodes.items()}
    return Counter(first.values()), Counter((first[t], first[h]) for t, h, _ in edges), nodes, edges


# ------------------------------------------------------------------------ the recorded graph, walked
def recorded(outputs, params=None, names_of=lambda fn: type(fn).__name__):
    """What torchviz would draw, computed straight from ``grad_fn.next_functions``: the same
    multisets as :func:`drawn`. Works on tracegrad and on PyTorch graphs (``names_of``).
    Tensors whose grad is retained (``z.retain_grad()``) hang off their ``grad_fn``."""
    names = {id(t): n for n, t in (params or {}).items()}
    labels, edges = Counter(), Counter()
    for t in (params or {}).values():
        if t.grad_fn is not None and t.retains_grad and all(t is not v for v in outputs):
            labels[names[id(t)]] += 1
            edges[(names_of(t.grad_fn), names[id(t)])] += 1
    seen = set()
    stack = []
    for v in outputs:
        labels[names.get(id(v), "")] += 1
        if v.grad_fn is not None:
            edges[(names_of(v.grad_fn), names.get(id(v), ""))] += 1
            stack.append(v.grad_fn)
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        labels[names_of(fn)] += 1
        if hasattr(fn, "variable"):
            labels[names.get(id(fn.variable), "")] += 1
            edges[(names.get(id(fn.variable), ""), names_of(fn))] += 1
        for u, _ in fn.next_functions:
            if u is not None:
                edges[(names_of(u), names_of(fn))] += 1
                stack.append(u)
    return labels, edges


def tg_name(fn):
    return "AccumulateGrad" if hasattr(fn, "variable") else fn.name()


def _programs():
    """name -> builder(lib) returning (outputs, params) for tracegrad or torch."""

    def seed_z(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0, 4.0], requires_grad=True)
        z = x * y
        z.retain_grad()
        return (z + y**2,), dict(x=x, y=y, z=z)

    def linear_model(lib):
        w = lib.tensor(0.5, requires_grad=True)
        b = lib.tensor(0.1, requires_grad=True)
        x = lib.tensor([1.0, 2.0, 3.0])
        return (((w * x + b) ** 2).sum(),), dict(w=w, b=b)

    def two_outputs(lib):
        a = lib.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
        h = a.exp() - a.sin()
        return (h.sum(), (h * a).mean()), dict(a=a)

    return dict(seed_z=seed_z, linear_model=linear_model, two_outputs=two_outputs)


PROGRAMS = _programs()


# ----------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_drawn_graph_is_the_recorded_graph(name):
    outputs, params = PROGRAMS[name](tg)
    labels, edges, nodes, _ = drawn(make_dot(outputs if len(outputs) > 1 else outputs[0], params))
    want_labels, want_edges = recorded(outputs, params, tg_name)
    assert labels == want_labels
    assert edges == want_edges


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_drawn_graph_matches_pytorchs_graph(name):
    """The same program in PyTorch records the same nodes (by PyTorch's names) and edges."""
    outputs, params = PROGRAMS[name](tg)
    labels, edges, _, _ = drawn(make_dot(outputs if len(outputs) > 1 else outputs[0], params))
    t_outputs, t_params = PROGRAMS[name](torch)
    want_labels, want_edges = recorded(t_outputs, t_params)
    assert labels == want_labels
    assert edges == want_edges


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_same_dot_statements_as_torchviz():
    """torchviz's own output for the PyTorch program: the same labels and fill colours per
    node, and the same edges, once ids are replaced by labels."""
    torchviz = pytest.importorskip("torchviz")
    outputs, params = PROGRAMS["linear_model"](tg)
    ours = parse_dot(make_dot(outputs[0], params).source)
    t_outputs, t_params = PROGRAMS["linear_model"](torch)
    theirs = parse_dot(torchviz.make_dot(t_outputs[0], t_params).source)

    def summary(parsed):
        nodes, edges, _ = parsed
        label = {i: a.get("label") for i, a in nodes.items()}
        return (
            Counter((a.get("label"), a.get("fillcolor")) for a in nodes.values()),
            Counter((label[t], label[h]) for t, h, _ in edges),
        )

    assert summary(ours) == summary(theirs)


def test_colours_names_and_shapes():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor([3.0, 4.0], requires_grad=True)
    z = x * y
    z.retain_grad()
    w = z + y**2
    _, _, nodes, edges = drawn(make_dot(w, dict(x=x, y=y, z=z, w=w)))
    by_label = {a["label"]: a for a in nodes.values()}
    assert by_label["x\n (2)"]["fillcolor"] == "lightblue"
    assert by_label["y\n (2)"]["fillcolor"] == "lightblue"
    assert by_label["w\n (2)"]["fillcolor"] == "darkolivegreen1"  # the output
    assert by_label["z\n (2)"]["fillcolor"] == "darkolivegreen3"  # retain_grad
    assert "fillcolor" not in by_label["MulBackward0"]
    ids = {a["label"]: i for i, a in nodes.items()}
    assert (ids["MulBackward0"], ids["z\n (2)"], {}) in edges  # retained hangs off its node


def test_show_saved_draws_saved_tensors_in_orange_then_freed():
    a = tg.randn(3, 4, requires_grad=True)
    h = a.tanh()  # saves its result
    x = tg.randn(4, 2)  # not requiring grad: saved by matmul, drawn as saved
    out = (h @ x).sum()
    _, _, nodes, edges = drawn(make_dot(out, dict(a=a, x=x), show_saved=True))
    saved = {a_["label"] for a_ in nodes.values() if a_.get("fillcolor") == "orange"}
    assert "result\n (3, 4) float32" in saved  # TanhBackward0's result
    assert "x\n (4, 2) float32" in saved  # named from params, with dtype
    assert all(e[2].get("dir") == "none" for e in edges if nodes[e[0]].get("fillcolor") == "orange")
    out.backward()  # frees them
    _, _, nodes, _ = drawn(make_dot(out, dict(a=a, x=x), show_saved=True))
    labels = [n["label"] for n in nodes.values() if n.get("fillcolor") == "orange"]
    assert labels and all(lab.endswith("(freed by backward)") for lab in labels)
    freed_attrs = make_dot(out, show_attrs=True).source
    assert "[freed]" in freed_attrs


def test_show_attrs_lists_static_params_and_truncates():
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1)
    y = conv(tg.randn(1, 1, 6, 6)).sum()
    src = make_dot(y, show_attrs=True).source
    label = next(lab for lab in parse_dot(src)[0].values() if "Convolution" in lab["label"])
    lines = label["label"].split("\n")
    assert lines[0] == "ConvolutionBackward0"
    assert set(lines[1]) == {"-"}
    # The node's static params as recorded (the lowering's names), and its saved operands.
    assert any(re.match(r"window_strides\s*: +\(2, 2\)$", line) for line in lines)
    assert any(re.match(r"padding\s*: +\(\(1, 1\), \(1, 1\)\)$", line) for line in lines)
    assert any(re.match(r"w\s*: +\[saved tensor\]$", line) for line in lines)
    short = next(
        lab["label"]
        for lab in parse_dot(make_dot(y, show_attrs=True, max_attr_chars=5).source)[0].values()
        if "Convolution" in lab["label"]
    )
    assert any(line.endswith("...") for line in short.split("\n")[2:])
    assert max(len(line.split(": ", 1)[1]) for line in short.split("\n")[2:]) <= 5


def test_custom_function_node():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = tg.randn(3, requires_grad=True)
    y = Cube.apply(x * 2).sum()
    labels, edges, nodes, _ = drawn(make_dot(y, show_saved=True))
    assert labels["CubeBackward"] == 1
    assert edges[("MulBackward0", "CubeBackward")] == 1
    assert any(n["label"].startswith("saved_tensors[0]") for n in nodes.values())


def test_leaf_output_and_bad_arguments():
    x = tg.randn(2, requires_grad=True)
    labels, edges, _, _ = drawn(make_dot(x, dict(x=x)))
    assert labels == Counter({"x": 1}) and not edges
    with pytest.raises(TypeError, match="tensor or a tuple of tensors"):
        make_dot([x, 3])
    with pytest.raises(TypeError, match="params must map names to tensors"):
        make_dot(x, {"lr": 0.1})
    with pytest.raises(ValueError, match="depth"):
        make_dot(x, depth=-1)
    with pytest.raises(NotImplementedError, match="make_dot"):
        make_dot_from_trace(None)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * d, d)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.ln(x))))


class Tower(nn.Module):
    def __init__(self, d=4, n=12):
        super().__init__()
        self.emb = nn.Linear(3, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(n)])
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        x = self.emb(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def _tower_loss(n=12):
    m = Tower(n=n)
    out = m(tg.randn(2, 3))
    return F.cross_entropy(out, tg.tensor([0, 1])), m


def test_module_clusters_hold_their_nodes_and_parameters():
    loss, m = _tower_loss(n=2)
    params = dict(m.named_parameters())
    dot = make_dot(loss, params, max_nodes=None)
    src = dot.source
    # The cluster of blocks.1's fc1 contains its Addmm node and its weight's leaf box.
    m_ = re.search(
        r"label=\"fc1 \(Linear\)\"(.*?)\n\t\t\t}", src.split('"blocks.1 (Block)"')[1], re.S
    )
    assert m_ is not None
    body = m_.group(1)
    assert "AddmmBackward0" in body and "blocks.1.fc1.weight" in body
    assert "blocks.0.fc1.weight" not in body
    # Every node recorded inside a module is drawn inside a cluster; the loss ops are not.
    outside = src.split("subgraph")[0]
    assert "NllLossBackward0" in outside and "AddmmBackward0" not in outside


def test_twelve_layer_model_collapsed_by_module_stays_small():
    loss, m = _tower_loss()
    params = dict(m.named_parameters())
    full = parse_dot(make_dot(loss, params, max_nodes=None).source)[0]
    assert len(full) > 200  # a large graph: 12 blocks of a dozen nodes each
    boxes = parse_dot(make_dot(loss, params, depth=1).source)[0]
    assert len(boxes) < 100
    labels = [n["label"] for n in boxes.values()]
    # Each block is one box with its op count: the block run alone records that many nodes.
    alone = recorded([m.blocks[3](tg.randn(2, 4, requires_grad=True))], {}, tg_name)[0]
    inside = sum(n for name, n in alone.items() if re.search(r"Backward\d$", name))
    assert f"blocks.3\nBlock\n{inside} ops" in labels
    assert "emb\nLinear\n1 op" in labels
    rep = parse_dot(make_dot(loss, params, depth=1, collapse_repeats=True).source)[0]
    rep_labels = [n["label"] for n in rep.values()]
    assert f"blocks.1 ... blocks.10\n10 x Block, {inside} ops each" in rep_labels
    assert "blocks.0\nBlock" in "".join(rep_labels) and "blocks.11\nBlock" in "".join(rep_labels)


def test_max_nodes_collapses_with_a_note():
    loss, m = _tower_loss()
    dot = make_dot(loss, dict(m.named_parameters()), max_nodes=60)
    nodes = parse_dot(dot.source)[0]
    assert len(nodes) <= 60
    assert "identical Block modules (blocks.1 ... blocks.10)" in dot.source
    assert "max_nodes=None" in dot.source


@pytest.mark.slow
def test_hundred_thousand_node_chain_renders_to_dot():
    x = tg.randn(2, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    src = make_dot(y).source
    assert src.count("MulBackward0") == 100_000
    assert src.count("->") == 100_000 + 2  # the chain, AccumulateGrad, the output
    text = tree(y)
    assert text.count("MulBackward0") == 100_000
    assert len(text) < 40 * 100_000  # a chain does not indent
    assert to_mermaid(y).count("MulBackward0") == 100_000


def test_mermaid_has_the_same_structure():
    outputs, params = PROGRAMS["seed_z"](tg)
    text = to_mermaid(outputs[0], params)
    assert text.startswith("flowchart TB\n")
    nodes = dict(re.findall(r'^\s+(n\d+)\["(.*?)"\]', text, re.M))
    edges = re.findall(r"^\s+(n\d+) (-->|---) (n\d+)$", text, re.M)
    first = {k: v.split("<br/>")[0] for k, v in nodes.items()}
    want_labels, want_edges = recorded(outputs, params, tg_name)
    assert Counter(first.values()) == want_labels
    assert Counter((first[t], first[h]) for t, _, h in edges) == want_edges
    assert re.search(r'n\d+\["x<br/> \(2\)"\]:::leaf', text)
    assert "classDef leaf fill:#add8e6" in text


def test_mermaid_modules_and_escaping():
    loss, m = _tower_loss(n=1)
    text = to_mermaid(loss, dict(m.named_parameters()))
    assert 'subgraph m0["Tower"]' in text and '["blocks.0 (Block)"]' in text
    assert text.count("subgraph") == text.count("\n  end") + text.count("\n    end") + text.count(
        "\n      end"
    )
    x = tg.randn(1, requires_grad=True)
    assert '"say #quot;hi#quot; #lt;b#gt;<br/> (1)"' in to_mermaid(x, {'say "hi" <b>': x})


def test_tree_text():
    outputs, params = PROGRAMS["seed_z"](tg)
    text = tree(outputs[0], params)
    lines = text.splitlines()
    assert lines[0] == "output (2)"
    assert lines[1] == "└─ AddBackward0"
    assert "MulBackward0  (retains grad: z (2))" in text
    # y feeds two nodes: printed once with a number, then referenced
    assert re.search(r"\[1\] AccumulateGrad", text) and "-> [1] AccumulateGrad" in text
    assert text.count("leaf y (2)") == 1
    loss, m = _tower_loss(n=2)
    assert "AddmmBackward0  [Tower.blocks.1.fc2]" in tree(loss)


def test_digraph_api_and_quoting(tmp_path):
    d = Digraph(name="g", node_attr=dict(shape="box"))
    d.node("a", 'say "hi"\nthere')
    d.node("node")  # a DOT keyword: quoted
    d.edge("a", "node", dir="none")
    with d.subgraph(name="cluster_x") as c:
        c.attr(label="inner")
        c.node("b")
    src = d.source
    assert src.startswith("digraph g {\n\tnode [shape=box]\n")
    assert '\ta [label="say \\"hi\\"\\nthere"]\n' in src
    assert '\t"node"\n' in src and '\ta -> "node" [dir=none]\n' in src
    assert "\tsubgraph cluster_x {\n\t\tlabel=inner\n\t\tb\n\t}\n" in src
    path = d.save(str(tmp_path / "g.gv"))
    assert open(path).read() == src


def test_rendering_without_graphviz_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    x = tg.randn(2, requires_grad=True)
    dot = make_dot((x * 2).sum())
    with pytest.raises(ImportError, match=r"pip install 'tracegrad\[viz\]'"):
        dot.pipe(format="svg")
    bundle = dot._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    assert bundle["text/plain"] == dot.source
    assert bundle["text/markdown"].startswith("```mermaid\nflowchart TB\n")


@pytest.mark.skipif(not (HAVE_DOT and HAVE_GRAPHVIZ), reason="Graphviz binaries not installed")
def test_svg_rendering(tmp_path):
    loss, m = _tower_loss(n=2)
    dot = make_dot(loss, dict(m.named_parameters()), show_saved=True)
    svg = dot.pipe(format="svg", encoding="utf-8")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    titles = [t.text for t in root.iter() if t.tag.endswith("title")]
    nodes = parse_dot(dot.source)[0]
    assert set(nodes) <= set(titles)  # every node drawn
    assert dot._repr_mimebundle_()["image/svg+xml"] == svg
    out = dot.render(str(tmp_path / "tower"), format="png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_resize_graph_grows_with_the_statements():
    x = tg.randn(2, requires_grad=True)
    y = x
    for _ in range(200):
        y = y.sin()
    dot = make_dot(y)
    statements = len(dot.body)
    assert dot.graph_attr["size"] == f"{statements * 0.15},{statements * 0.15}"
    tg.viz.resize_graph(dot, size_per_element=1, min_size=1000)
    assert dot.graph_attr["size"] == "1000,1000"


def test_explain_dispatches_to_the_step_and_the_backward_reports():
    model = nn.Linear(3, 2)

    @tg.compile
    def step(x):
        return model(x).sum()

    step(tg.randn(4, 3))
    assert tg.viz.explain(step) == step.explain()
    assert re.search(r"#1 at (tests/)?test_viz\.py:\d+: first call", step.explain())
    loss = model(tg.randn(4, 3)).sum()
    text = tg.viz.explain(loss)
    assert text == tg.autograd.compiled.explain(loss)
    assert text.startswith("backward of SumBackward0")
    with pytest.raises(TypeError, match="tracegrad.compile step or a tensor"):
        tg.viz.explain(model)
