"""Pictures of the autograd graph: torchviz's ``make_dot``, Mermaid charts, text trees, and reports
of how a graph or a step is compiled.

``from torchviz import make_dot`` code ports by changing the import to ``from tracegrad.viz import
make_dot``: the picture follows torchviz's conventions (a box per ``grad_fn`` named as PyTorch names
it, leaves in light blue with their names from ``params``, outputs in green, saved tensors in
orange). On top of torchviz, nodes are grouped by the ``nn.Module`` call that recorded them,
``depth=`` draws each module below that depth as one box with its op count, and a graph over
``max_nodes`` collapses repeated blocks and deep modules on its own, saying so in the picture.

Nothing here needs Graphviz: DOT source, Mermaid text and the text tree are built in Python.
Rendering to SVG/PNG needs the ``graphviz`` package and binaries (``pip install 'tracegrad[viz]'``
and the system's Graphviz).
"""

from __future__ import annotations

from ..autograd import compiled as _compiled_backward
from ..compiler import CompiledFunction
from ..tensor import Tensor
from .dot import Digraph
from .draw import mermaid_text, resize_graph, to_digraph, tree_text
from .graph import build, fit

__all__ = [
    "Digraph",
    "make_dot",
    "make_dot_from_trace",
    "resize_graph",
    "to_mermaid",
    "tree",
    "explain",
]

MAX_NODES = 500  # default cap on drawn boxes before big graphs are collapsed


def _graph(var, params, show_attrs, show_saved, max_attr_chars, depth, max_nodes, collapse_repeats):
    if depth is not None and (not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative int or None, got {depth!r}")
    g = build(var, params, show_attrs, show_saved, max_attr_chars)
    return fit(g, max_nodes, depth, collapse_repeats)


def make_dot(
    var,
    params: dict | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    depth: int | None = None,
    max_nodes: int | None = MAX_NODES,
    collapse_repeats: bool | None = None,
) -> Digraph:
    """Draw the autograd graph that produced ``var`` (a tensor, or a tuple/list of tensors), as
    ``torchviz.make_dot`` does.

    - ``params``: names for tensors, usually ``dict(model.named_parameters())``; any tensor in the
      graph (a leaf, a retained or saved tensor) is labelled with its name.
    - ``show_attrs``: list each node's saved values (static parameters such as a convolution's
      stride, Python scalars, ``[saved tensor]`` for tensors), cut to ``max_attr_chars``.
    - ``show_saved``: draw the tensors each node saved for backward, in orange with shape and dtype
      (``freed by backward`` once a backward without ``retain_graph`` has released them).
    - ``depth``: draw each module that many calls below the outermost as one box with its op count
      (``0``: the whole model as one box); None draws every node inside dashed module clusters.
    - ``max_nodes``: when more boxes than this would be drawn, collapse runs of identical blocks
      (``blocks.1 ... blocks.10``) and then ever shallower modules until the picture fits; a note
      in the picture says what was collapsed. None draws everything.
    - ``collapse_repeats``: True always collapses identical blocks, False never, None (default)
      only to fit ``max_nodes``.

    Returns a :class:`Digraph`: ``.source`` is the DOT text, ``.render(...)``/``.pipe(...)``
    render it with Graphviz, and a notebook shows it inline.
    """
    g = _graph(
        var, params, show_attrs, show_saved, max_attr_chars, depth, max_nodes, collapse_repeats
    )
    dot = to_digraph(g)
    dot._fallback = lambda: mermaid_text(g)
    return dot


def make_dot_from_trace(trace):
    """torchviz's drawing of a ``torch.jit.trace``; tracegrad has no TorchScript traces."""
    raise NotImplementedError(
        "make_dot_from_trace draws TorchScript traces, which tracegrad does not have. Draw the "
        "autograd graph with tracegrad.viz.make_dot(output), or see what a compiled step runs "
        "with step.lower(...) and tracegrad.viz.explain(step)"
    )


def to_mermaid(
    var,
    params: dict | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
    max_attr_chars: int = 50,
    *,
    depth: int | None = None,
    max_nodes: int | None = MAX_NODES,
    collapse_repeats: bool | None = None,
    direction: str = "TB",
) -> str:
    """The picture :func:`make_dot` draws, as Mermaid ``flowchart`` text: paste it into a
    Markdown ```` ```mermaid ```` block (GitHub, Jupyter and many editors render it, no Graphviz
    needed). Arguments as for :func:`make_dot`; ``direction`` is Mermaid's (``TB``, ``LR``, ...)."""
    g = _graph(
        var, params, show_attrs, show_saved, max_attr_chars, depth, max_nodes, collapse_repeats
    )
    return mermaid_text(g, direction)


def tree(
    var,
    params: dict | None = None,
    show_saved: bool = False,
    *,
    depth: int | None = None,
    max_nodes: int | None = None,
) -> str:
    """The graph as indented text, from each output down to the leaves, for terminals:
    ``print(tracegrad.viz.tree(loss, dict(model.named_parameters())))``. Each node shows the module
    that recorded it in brackets; a node reached again is a reference ``-> [k]`` to its first
    appearance. ``depth``/``max_nodes`` collapse modules as in :func:`make_dot`."""
    return tree_text(_graph(var, params, False, show_saved, 50, depth, max_nodes, None))


def explain(target) -> str:
    """How ``target`` runs compiled, in words: for a ``tracegrad.compile`` step, every compile
    with its reason and the file:line of the call, and ops per module of its program; for a tensor,
    whether its graph's ``backward()`` will run as a compiled program, and if not, why."""
    if isinstance(target, CompiledFunction):
        return target.explain()
    if isinstance(target, Tensor):
        return _compiled_backward.explain(target)
    raise TypeError(
        "tracegrad.viz.explain: expected a tracegrad.compile step or a tensor whose graph will be "
        f"back-propagated, got {type(target).__name__}"
    )
