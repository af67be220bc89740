"""Samples for the CTC loss (``ctc_loss`` and its backward).

PyTorch's gradient convention for ``ctc_loss`` (``exp(lp) - occupancy``, see ops/ctc.py) is the
derivative of the lowering but not of its value off the log-softmax manifold, so the forward op's
finite-difference check is off (``fd=False``); the convention itself is checked against PyTorch in
tests/test_ctc_loss.py. PyTorch has no derivative of ``ctc_loss_backward``, and neither has
tracegrad, so there is no second order (``second_order=False``)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, ints = _draw.arr, _draw.ints

S = Sample


def _log_softmax(x: np.ndarray) -> np.ndarray:
    return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))


def _case(t, n, c, s, il, tl, concatenated=False, blank=0, zero_infinity=False):
    lp = _log_softmax(arr(t, n, c))
    labels = ints(n, s, high=c - 1, low=0)
    labels = labels + (labels >= blank)  # never the blank
    tl = np.asarray(tl, np.int64)
    if concatenated:
        labels = np.concatenate([labels[i, : tl[i]] for i in range(n)])
        s = int(tl.max(initial=0))
    args = (lp, labels, np.asarray(il, np.int64), tl)
    params = {"blank": blank, "s_max": s, "zero_infinity": zero_infinity}
    return args, params


def _fwd(*a, name, **k):
    args, params = _case(*a, **k)
    return S(args, params, fd=False, second_order=False, name=name)


def _bwd(*a, name, **k):
    args, params = _case(*a, **k)
    g = arr(args[0].shape[1])
    return S((g, *args), params, second_order=False, name=name)


SAMPLES = {
    "ctc_loss": [
        _fwd(6, 3, 5, 3, [6, 4, 5], [3, 1, 0], name="padded"),
        _fwd(5, 2, 4, 2, [5, 5], [2, 2], concatenated=True, blank=3, name="concat-blank3"),
        # Three labels in three steps: impossible when two neighbours repeat.
        _fwd(3, 2, 4, 3, [3, 3], [3, 1], zero_infinity=True, name="zero_inf"),
    ],
    "ctc_loss_backward": [
        _bwd(6, 3, 5, 3, [6, 4, 5], [3, 1, 0], name="padded"),
        _bwd(5, 2, 4, 2, [5, 5], [2, 2], concatenated=True, blank=3, name="concat-blank3"),
    ],
}
