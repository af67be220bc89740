"""A ``graphviz.Digraph`` look-alike: builds DOT source without any dependency, renders it (SVG,
PNG, PDF) through the ``graphviz`` package when that and the Graphviz binaries are installed, and
shows itself inline in notebooks.

It has the part of ``graphviz.Digraph``'s API that code written for torchviz uses: ``node``,
``edge``, ``attr``, ``subgraph``, ``body``, ``source``, ``format``, ``render``, ``pipe``, ``save``,
``view`` and the IPython display hooks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Digraph", "quote"]

_ID = re.compile(r"^(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*|-?(?:\.\d+|\d+(?:\.\d*)?))$")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}

_INSTALL = (
    "install the graphviz Python package (pip install 'tracegrad[viz]', or pip install graphviz) "
    "and the Graphviz binaries (apt install graphviz, brew install graphviz or conda install "
    "graphviz). Without them, .source gives the DOT text and tracegrad.viz.to_mermaid() a "
    "Mermaid chart that GitHub and notebooks render"
)


def quote(s) -> str:
    """A DOT identifier or double-quoted string (newlines become ``\\n``)."""
    s = str(s)
    if _ID.match(s) and s.lower() not in _KEYWORDS:
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attr_list(label=None, attrs: dict | None = None) -> str:
    parts = []
    if label is not None:
        parts.append(f"label={quote(label)}")
    for k, v in (attrs or {}).items():
        if v is not None:
            parts.append(f"{k}={quote(v)}")
    return f" [{' '.join(parts)}]" if parts else ""


class Digraph:
    """A directed graph in the DOT language (see the module docstring)."""

    _keyword = "digraph"

    def __init__(
        self,
        name: str | None = None,
        comment: str | None = None,
        filename: str | None = None,
        directory: str = "",
        format: str | None = None,
        engine: str | None = None,
        graph_attr: dict | None = None,
        node_attr: dict | None = None,
        edge_attr: dict | None = None,
        body: list | None = None,
        strict: bool = False,
    ) -> None:
        self.name = name
        self.comment = comment
        self.filename = filename or f"{name or 'Digraph'}.gv"
        self.directory = directory
        self.format = format or "pdf"
        self.engine = engine or "dot"
        self.graph_attr = dict(graph_attr or {})
        self.node_attr = dict(node_attr or {})
        self.edge_attr = dict(edge_attr or {})
        self.body = list(body or [])
        self.strict = strict
        self._fallback: Callable[[], str] | None = (
            None  # Mermaid text, when rendering is not possible
        )

    # ------------------------------------------------------------------ building
    def node(self, name, label=None, _attributes=None, **attrs) -> None:
        """Add (or restyle) node ``name``."""
        self.body.append(f"\t{quote(name)}{_attr_list(label, {**(_attributes or {}), **attrs})}\n")

    def edge(self, tail_name, head_name, label=None, _attributes=None, **attrs) -> None:
        """Add an edge from ``tail_name`` to ``head_name``."""
        a = _attr_list(label, {**(_attributes or {}), **attrs})
        self.body.append(f"\t{quote(tail_name)} -> {quote(head_name)}{a}\n")

    def edges(self, tail_head_iter) -> None:
        """Add several attribute-less edges."""
        for tail, head in tail_head_iter:
            self.edge(tail, head)

    def attr(self, kw: str | None = None, _attributes=None, **attrs) -> None:
        """Graph attributes (``attr(label=...)``), or defaults for ``kw`` = graph/node/edge."""
        attrs = {**(_attributes or {}), **attrs}
        if kw is None:
            for k, v in attrs.items():
                self.body.append(f"\t{k}={quote(v)}\n")
        else:
            if kw not in ("graph", "node", "edge"):
                raise ValueError(f"attr statement must target graph, node, or edge: {kw!r}")
            self.body.append(f"\t{kw}{_attr_list(None, attrs)}\n")

    @contextmanager
    def _subgraph_context(self, name, graph_attr, node_attr, edge_attr) -> Iterator[Digraph]:
        sub = type(self)(name=name, graph_attr=graph_attr, node_attr=node_attr, edge_attr=edge_attr)
        yield sub
        self.subgraph(sub)

    def subgraph(
        self,
        graph=None,
        name=None,
        comment=None,
        graph_attr=None,
        node_attr=None,
        edge_attr=None,
        body=None,
    ):
        """Add ``graph``'s statements as a subgraph, or (no ``graph``) return a context manager
        yielding a new subgraph that is added on exit (``with dot.subgraph(name="cluster_0") as
        c:``). Names starting with ``cluster`` draw a box around their nodes."""
        if graph is None:
            return self._subgraph_context(name, graph_attr, node_attr, edge_attr)
        lines = graph._lines(subgraph=True)
        self.body.extend("\t" + line for line in lines)
        return None

    # ------------------------------------------------------------------ source
    def _lines(self, subgraph: bool = False) -> list[str]:
        head = "subgraph" if subgraph else ("strict " if self.strict else "") + self._keyword
        lines = [f"// {self.comment}\n"] if self.comment else []
        lines.append(f"{head} {quote(self.name)} {{\n" if self.name else f"{head} {{\n")
        for kw, attrs in (
            ("graph", self.graph_attr),
            ("node", self.node_attr),
            ("edge", self.edge_attr),
        ):
            if attrs:
                lines.append(f"\t{kw}{_attr_list(None, attrs)}\n")
        lines.extend(self.body)
        lines.append("}\n")
        return lines

    @property
    def source(self) -> str:
        """The DOT source text."""
        return "".join(self._lines())

    def __str__(self) -> str:
        return self.source

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines())

    def __repr__(self) -> str:
        return f"<tracegrad.viz.Digraph {self.name or ''}: {len(self.body)} statements>"

    # ------------------------------------------------------------------ rendering
    def _source_object(self):
        try:
            import graphviz
        except ImportError:
            raise ImportError(f"Rendering a graph needs Graphviz: {_INSTALL}.") from None
        return graphviz.Source(
            self.source,
            filename=self.filename,
            directory=self.directory,
            format=self.format,
            engine=self.engine,
        )

    def _call(self, method: str, *args, **kwargs):
        source = self._source_object()
        import graphviz

        try:
            return getattr(source, method)(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise RuntimeError(
                f"Rendering a graph needs the Graphviz binaries ({e}): {_INSTALL}."
            ) from None

    def pipe(self, format: str | None = None, encoding: str | None = None, **kwargs):
        """The rendered graph as bytes (``encoding``: as text), e.g. ``pipe(format="svg")``."""
        return self._call("pipe", format=format or self.format, encoding=encoding, **kwargs)

    def render(
        self, filename=None, directory=None, view=False, cleanup=False, format=None, **kwargs
    ) -> str:
        """Save the source to ``filename`` and render it (``format``, default ``self.format``);
        returns the rendered file's path."""
        return self._call(
            "render",
            filename=filename,
            directory=directory,
            view=view,
            cleanup=cleanup,
            format=format or self.format,
            **kwargs,
        )

    def view(self, filename=None, directory=None, cleanup=False, **kwargs) -> str:
        """Render and open with the system's viewer."""
        return self.render(filename, directory, view=True, cleanup=cleanup, **kwargs)

    def save(self, filename: str | None = None, directory: str | None = None) -> str:
        """Write the DOT source (no Graphviz needed); returns the file's path."""
        if filename is not None:
            self.filename = filename
        if directory is not None:
            self.directory = directory
        path = os.path.join(self.directory or "", self.filename)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.source)
        return path

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        """Notebook display: the SVG when Graphviz can render it, else a Mermaid chart (which
        Jupyter and GitHub render from Markdown) and the DOT source as text."""
        try:
            return {"image/svg+xml": self.pipe(format="svg", encoding="utf-8")}
        except (ImportError, RuntimeError):
            bundle = {"text/plain": self.source}
            if self._fallback is not None:
                bundle["text/markdown"] = "```mermaid\n" + self._fallback() + "```\n"
            return bundle

    def _repr_svg_(self) -> str:
        return self.pipe(format="svg", encoding="utf-8")
