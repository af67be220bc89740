"""Samples for scaled dot-product attention (``scaled_dot_product_attention``) and its dropout
keep mask (``sdpa_dropout_keep``).

Operands are ``(q, k, v, mask, seed)``: ``mask`` None, bool (True takes part) or float (added, and
differentiated); ``seed`` the raw data of a JAX key, used only when ``dropout_p > 0`` (the draw is a
fixed function of it, so the lowering differentiated by JAX sees the same mask as the rule). A
fully masked row (bool) gives zeros; the float-mask samples keep finite values so finite
differences stay meaningful (an ``-inf`` float mask is checked against PyTorch in test_sdpa.py)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, ints = _draw.arr, _draw.ints

S = Sample


def _seed() -> np.ndarray:
    return ints(2, high=2**31)


def _qkv(batch: tuple, lq: int, s: int, e: int, ev: int, hk: int | None = None, hv=None):
    """q (*batch, L, E), k (*batch', S, E), v (*batch'', S, Ev); ``hk``/``hv`` replace the head
    count (dim -3) of k/v for grouped-query attention."""
    kb = batch[:-1] + (hk,) if hk else batch
    vb = batch[:-1] + (hv,) if hv else batch
    return arr(*batch, lq, e), arr(*kb, s, e), arr(*vb, s, ev)


def _params(e: int, **kw) -> dict:
    return {"scale": 1.0 / np.sqrt(e), **kw}


_bool_mask = np.array([[True, False, True, True], [False, False, False, False], [True] * 4])

SAMPLES = {
    "scaled_dot_product_attention": [
        S((*_qkv((2,), 3, 4, 3, 2), None, None), _params(3), name="plain"),
        S((*_qkv((2, 2), 4, 4, 3, 3), None, None), _params(3, causal=True), name="causal"),
        S((*_qkv((), 4, 2, 2, 3), None, None), _params(2, causal=True), name="causal-2d-L>S"),
        S((*_qkv((2,), 3, 4, 2, 2), _bool_mask, None), _params(2), name="bool-mask-dead-row"),
        S((*_qkv((2, 1), 3, 4, 3, 2), arr(2, 1, 3, 4), None), _params(3), name="float-mask"),
        S((*_qkv((2,), 2, 3, 3, 2), arr(3), None), {"scale": 0.7}, name="float-mask-bcast-scale"),
        S((*_qkv((1, 4), 3, 2, 2, 2, hk=2, hv=1), None, None), _params(2, gk=2, gv=4), name="gqa"),
        S(
            (*_qkv((2,), 3, 4, 3, 2), None, _seed()),
            _params(3, dropout_p=0.4),
            name="dropout",
        ),
        S(
            (*_qkv((2,), 4, 4, 2, 2), arr(4, 4), _seed()),
            _params(2, dropout_p=0.3),
            name="dropout-float-mask",
        ),
    ],
    "sdpa_dropout_keep": [S((_seed(),), {"shape": (2, 3, 4), "p": 0.5})],
}
