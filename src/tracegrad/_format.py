"""``repr`` of tensors, following PyTorch's printing (4 significant decimals, ``2.`` for integral
floats, scientific notation for wide ranges, ``...`` summaries beyond 1000 elements), and
``set_printoptions``, which changes those numbers as ``torch.set_printoptions`` does."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import numpy as np

from ._dtype import get_default_complex_dtype, get_default_dtype, int64

__all__ = ["set_printoptions", "tensor_repr"]


@dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set how tensors print, as ``torch.set_printoptions``: ``precision`` (decimals, default 4),
    ``threshold`` (elements beyond which a tensor is summarized with ``...``, default 1000),
    ``edgeitems`` (items kept at each end of a summarized dimension, default 3), ``linewidth``
    (characters per line, default 80), ``profile`` (``'default'``, ``'short'`` or ``'full'``: all
    four at once, before the others apply) and ``sci_mode`` (True/False forces scientific notation
    on or off; None, which every call without it restores, lets the values decide)."""
    if profile is not None:
        # PyTorch ignores an unknown profile name; so does this (the other options still apply).
        for name, value in _PROFILES.get(profile, {}).items():
            setattr(PRINT_OPTS, name, value)
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """PyTorch's ``_Formatter``: one column width and one notation for every value printed."""

    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.ravel()
        if not self.floating:
            self.width = max((len(self._plain(v)) for v in flat.tolist()), default=1)
            return
        # As PyTorch: the mode and the column width come from the nonzero finite values only
        # (zeros, nan and inf are padded to that width, never widen it).
        finite = flat[np.isfinite(flat)].astype(np.float64)
        nonzero = finite[finite != 0]
        if nonzero.size == 0:
            return
        self.int_mode = bool(np.all(nonzero == np.ceil(nonzero)))
        lo, hi = np.abs(nonzero).min(), np.abs(nonzero).max()
        if PRINT_OPTS.sci_mode is not None:
            self.sci_mode = PRINT_OPTS.sci_mode
        else:
            self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4)
        p = PRINT_OPTS.precision
        if self.sci_mode:
            self.width = max(len(f"{v:.{p}e}") for v in nonzero.tolist())
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in nonzero.tolist())
        else:
            self.width = max(len(f"{v:.{p}f}") for v in nonzero.tolist())

    @staticmethod
    def _plain(v) -> str:
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return str(v)

    def format(self, v) -> str:
        """One value (a Python number) right-aligned to the column width."""
        if not self.floating:
            s = self._plain(v)
        elif self.sci_mode:
            s = f"{v:.{PRINT_OPTS.precision}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{PRINT_OPTS.precision}f}"
        return s.rjust(self.width)


class _ComplexFormatter:
    """PyTorch's complex printing: the real and imaginary parts each get their own formatter
    (their own width and notation), joined as ``1.+2.j``."""

    def __init__(self, values: np.ndarray):
        self.real = _Formatter(values.real)
        self.imag = _Formatter(values.imag)
        self.width = self.real.width + self.imag.width + 1

    def format(self, v) -> str:
        v = complex(v)
        re = self.real.format(v.real)
        im = (self.imag.format(v.imag) + "j").lstrip()
        return re + im if im[0] in "+-" else re + "+" + im


def _summarize(values: np.ndarray) -> np.ndarray:
    """The edge items along every dimension (what the formatter's widths come from)."""
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        if values.shape[0] > 2 * edge:
            return np.concatenate([values[:edge], values[-edge:]])
        return values
    if not edge:
        return values[(slice(0, 0),) * values.ndim]
    if values.shape[0] > 2 * edge:
        values = np.concatenate([values[:edge], values[-edge:]])
    return np.stack([_summarize(v) for v in values])


def _body(values: np.ndarray, fmt: _Formatter, indent: int, summarize: bool) -> str:
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return fmt.format(values[()].item())
    n = values.shape[0]
    if values.ndim == 1:
        if summarize and not edge:
            items = ["..."]
        elif summarize and n > 2 * edge:
            items = [
                *(fmt.format(v) for v in values[:edge].tolist()),
                " ...",
                *(fmt.format(v) for v in values[-edge:].tolist()),
            ]
        else:
            items = [fmt.format(v) for v in values.tolist()]
        per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / (fmt.width + 2)))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if summarize and n > 2 * edge:
        idx = [*range(edge), None, *range(n - edge, n)]
    else:
        idx = list(range(n))
    sep = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    parts = ["..." if i is None else _body(values[i], fmt, indent + 1, summarize) for i in idx]
    return "[" + sep.join(parts) + "]"


def _add_suffixes(text: str, suffixes: list, indent: int) -> str:
    """PyTorch's ``_add_suffixes``: each suffix goes on the last line unless that would pass the
    line width, then on a line of its own."""
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t) -> str:
    """``tensor([...], dtype=..., requires_grad=True)`` as PyTorch prints it."""
    array = t._storage.array
    prefix = "tensor("
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    default = get_default_dtype()
    if t.numel() == 0:
        if t.ndim != 1:
            suffixes.append(f"size={tuple(t.shape)}")
        if t.dtype != default:  # no values to tell int64 or bool apart: always named
            suffixes.append(f"dtype={t.dtype}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(t.shape)}")
        if t.dtype not in (default, get_default_complex_dtype(), int64) and t.dtype.name != "bool":
            suffixes.append(f"dtype={t.dtype}")
        if isinstance(array, jax.core.Tracer):
            body = f"<traced {list(array.shape)}>"
        else:
            values = np.asarray(array)
            if values.dtype.name == "bfloat16":
                values = values.astype(np.float32)
            summarize = values.size > PRINT_OPTS.threshold
            shown = _summarize(values) if summarize else values
            fmt = (_ComplexFormatter if values.dtype.kind == "c" else _Formatter)(shown)
            body = _body(values, fmt, len(prefix), summarize)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, len(prefix))
