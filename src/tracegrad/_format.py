"""``repr`` of tensors, following PyTorch's printing (4 significant decimals, ``2.`` for integral
floats, scientific notation for wide ranges, ``...`` summaries beyond 1000 elements)."""

from __future__ import annotations

import math

import jax
import numpy as np

from ._dtype import get_default_dtype, int64

_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3
_LINEWIDTH = 80


class _Formatter:
    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.ravel()
        if not self.floating:
            self.width = max((len(self._plain(v)) for v in flat), default=1)
            return
        # As PyTorch: the mode and the column width come from the nonzero finite values only
        # (zeros, nan and inf are padded to that width, never widen it).
        finite = flat[np.isfinite(flat)].astype(np.float64)
        nonzero = finite[finite != 0]
        if nonzero.size == 0:
            return
        self.int_mode = bool(np.all(nonzero == np.ceil(nonzero)))
        lo, hi = np.abs(nonzero).min(), np.abs(nonzero).max()
        if self.int_mode:
            self.sci_mode = hi / lo > 1000.0 or hi > 1e8
        else:
            self.sci_mode = hi / lo > 1000.0 or hi > 1e8 or lo < 1e-4
        self.width = max(len(self.format(v)) for v in nonzero)

    @staticmethod
    def _plain(v) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "True" if v else "False"
        if isinstance(v, (float, np.floating)) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return str(v)

    def format(self, v) -> str:
        if not self.floating:
            s = self._plain(v.item() if hasattr(v, "item") else v)
        elif not math.isfinite(float(v)):
            s = self._plain(float(v))
        elif self.sci_mode:
            s = f"{float(v):.{_PRECISION}e}"
        elif self.int_mode:
            s = f"{float(v):.0f}."
        else:
            s = f"{float(v):.{_PRECISION}f}"
        return s.rjust(self.width)


def _summarize(values: np.ndarray) -> np.ndarray:
    """The edge items along every dimension (for the formatter's widths)."""
    if values.ndim == 0:
        return values
    if values.shape[0] > 2 * _EDGEITEMS:
        values = np.concatenate([values[:_EDGEITEMS], values[-_EDGEITEMS:]])
    return np.stack([_summarize(v) for v in values]) if values.ndim > 1 else values


def _body(values: np.ndarray, fmt: _Formatter, indent: int, summarize: bool) -> str:
    if values.ndim == 0:
        return fmt.format(values[()])
    n = values.shape[0]
    cut = summarize and n > 2 * _EDGEITEMS
    idx = (
        list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n)) if cut else list(range(n))
    )
    if values.ndim == 1:
        items = [" ..." if i is None else fmt.format(values[i]) for i in idx]
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    sep = "," + "\n" * (values.ndim - 1) + " " * (indent + 1)
    parts = ["..." if i is None else _body(values[i], fmt, indent + 1, summarize) for i in idx]
    return "[" + sep.join(parts) + "]"


def tensor_repr(t) -> str:
    """``tensor([...], dtype=..., requires_grad=True)`` as PyTorch prints it."""
    array = t._storage.array
    prefix = "tensor("
    if isinstance(array, jax.core.Tracer):
        body = f"<traced {list(array.shape)}>"
    else:
        values = np.asarray(array)
        if values.dtype.name == "bfloat16":
            values = values.astype(np.float32)
        summarize = values.size > _THRESHOLD
        if values.size == 0:
            body = "[]"
        else:
            fmt = _Formatter(_summarize(values) if summarize else values)
            body = _body(values, fmt, len(prefix), summarize)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if t.numel() == 0 and t.ndim != 1:
        suffixes.append(f"size={tuple(t.shape)}")
    if t.dtype not in (get_default_dtype(), int64) and t.dtype.name != "bool":
        suffixes.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffixes) + ")"
