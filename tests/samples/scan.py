"""Samples for ``scan`` (ops/scan.py): each recurrent body of ops/recurrent.py (RNN tanh/relu,
LSTM with and without projection, GRU with and without its hidden bias), masked for variable
lengths, reversed, and a generic body with per-step outputs and a Python scalar, also without
emitted carries (whose rule recomputes them). Small sizes (T <= 4, B <= 3, H <= 3) keep the float64
finite differences and the second order quick. The operands are padded with None to the op's fixed
arity (see ``scan_call``)."""

from __future__ import annotations

import numpy as np

from tracegrad.ops import recurrent
from tracegrad.ops.scan import MAX_OPERANDS

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr


def gain_body(carry: tuple, xs: tuple, consts: tuple) -> tuple:
    """A generic body: a leaky accumulator with two per-step outputs (one from the input only)."""
    (s,), (x,), (a,) = carry, xs, consts
    new = 0.5 * s + a * x.sin()
    return (new,), (new * new, x * 2.0)


def _sample(body, consts, carry, xs, *, reverse=False, emit=True, name, **kw) -> Sample:
    leaves = (*consts, *carry, *xs)
    args = leaves + (None,) * (MAX_OPERANDS - len(leaves))
    params = dict(body=body, n_consts=len(consts), n_carry=len(carry), reverse=reverse, emit=emit)
    return Sample(args, params, name=name, **kw)


def _w(*shape):
    return arr(*shape, low=-0.8, high=0.8)


def _mask(t, lengths):
    return (np.arange(t)[:, None] < np.asarray(lengths)[None, :])[:, :, None]


def _hw(h, w, b=None):
    """The carried ``h W^T (+ b)`` of the recurrent bodies; any value is a valid input of the op
    (its derivative is checked all the same), the consistent one is what a layer passes."""
    return h @ w.T + (0.0 if b is None else b)


def _rec(body, consts, carry, xs, **kw) -> Sample:
    b_hh = consts[1] if body is recurrent.gru_body and len(consts) > 1 else None
    return _sample(body, consts, (*carry, _hw(carry[0], consts[0], b_hh)), xs, **kw)


T, B, H = 3, 2, 3
SAMPLES = {
    "scan": [
        _rec(recurrent.rnn_tanh_body, (_w(H, H),), (arr(B, H),), (arr(T, B, H),), name="tanh"),
        # ReLU has a kink at 0: inputs kept positive so finite differences stay on one side.
        _rec(
            recurrent.rnn_relu_body,
            (arr(H, H, low=0.1, high=0.6),),
            (arr(B, H, low=0.2, high=1.0),),
            (arr(T, B, H, low=0.2, high=1.0),),
            name="relu",
        ),
        _rec(
            recurrent.lstm_body,
            (_w(4 * H, H),),
            (arr(B, H), arr(B, H)),
            (arr(T, B, 4 * H),),
            name="lstm",
        ),
        _rec(
            recurrent.lstm_body,
            (_w(4 * H, 2), _w(2, H)),
            (arr(B, 2), arr(B, H)),
            (arr(T, B, 4 * H),),
            name="lstm-proj",
        ),
        _rec(
            recurrent.gru_body,
            (_w(3 * H, H), arr(3 * H)),
            (arr(B, H),),
            (arr(T, B, 3 * H),),
            name="gru",
        ),
        _rec(
            recurrent.gru_body,
            (_w(3 * H, H),),
            (arr(B, H),),
            (arr(T, B, 3 * H),),
            name="gru-nobias",
        ),
        _rec(
            recurrent.lstm_body,
            (_w(4 * H, H),),
            (arr(3, H), arr(3, H)),
            (arr(4, 3, 4 * H), _mask(4, [4, 2, 1])),
            name="lstm-lengths",
        ),
        _rec(
            recurrent.gru_body,
            (_w(3 * H, H), arr(3 * H)),
            (arr(3, H),),
            (arr(4, 3, 3 * H), _mask(4, [3, 4, 1])),
            reverse=True,
            name="gru-lengths-reverse",
        ),
        _rec(
            recurrent.lstm_body,
            (_w(4 * H, H),),
            (arr(B, H), arr(B, H)),
            (arr(T, B, 4 * H),),
            reverse=True,
            name="lstm-reverse",
        ),
        _sample(gain_body, (arr(2),), (arr(2),), (arr(4, 2),), name="generic-ys"),
        _sample(gain_body, (arr(2),), (arr(2),), (arr(4, 2),), emit=False, name="generic-no-emit"),
    ],
}
