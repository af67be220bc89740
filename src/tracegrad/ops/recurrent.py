"""PyTorch's recurrent cells (RNN tanh/relu, LSTM with optional projection, GRU) and one layer of
them over a whole sequence as a single ``scan`` node (see ``ops/scan.py``).

The math is PyTorch's, with its gate order (LSTM ``i, f, g, o``; GRU ``r, z, n``)::

    RNN:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
    LSTM: i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)
          c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')  [then h' W_hr^T]
    GRU:  r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z})
          n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn));  h' = (1 - z) n + z h

A layer computes the input projection ``x W_ih^T + b`` for all steps at once, outside the scan (one
big matmul); the scan body does only the recurrent part. For RNN and LSTM ``b_hh`` adds to the
gates like ``b_ih``, so it joins the projection's bias; GRU's ``b_hn`` is multiplied by ``r``, so
GRU keeps ``b_hh`` inside the body.

Variable lengths: the body also reads a boolean mask ``m_t`` (B, 1), true while step ``t`` is
inside a sequence. Masked steps keep the carry (``new = where(m, cell, carry)``), so the final
carry is each sequence's last valid state, and the output is zero there (as
``pad_packed_sequence`` gives). A reverse scan over padded steps passes the initial state through
the padding first, then starts each sequence at its last valid step: PyTorch's packed semantics.

The bodies are module-level functions (their identity keys the jitted lowering); which variant
runs is read from the structure of their arguments (a mask present, a projection or GRU bias
present).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, tensor
from .elementwise import relu, sigmoid, tanh, where
from .linalg import linear_2d
from .scan import scan, unpack
from .shape import chunk

__all__: list[str] = []

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")


def _lin(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """``x @ w.T + b`` (one fused op for a 2-D ``x`` with a bias, as ``F.linear``)."""
    if b is not None and x.ndim == 2:
        return linear_2d(x, w, b)
    out = x.matmul(w.t())
    return out if b is None else out + b


def _lstm_step(gates: Tensor, c: Tensor, w_hr: Tensor | None) -> tuple[Tensor, Tensor]:
    i, f, g, o = chunk(gates, 4, -1)
    c_new = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h_new = sigmoid(o) * tanh(c_new)
    if w_hr is not None:
        h_new = h_new.matmul(w_hr.t())
    return h_new, c_new


def _gru_step(xw: Tensor, hw: Tensor, h: Tensor) -> Tensor:
    xr, xz, xn = chunk(xw, 3, -1)
    hr, hz, hn = chunk(hw, 3, -1)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)
    return (1 - z) * n + z * h


# ---------------------------------------------------------------------------------- cells
def rnn_tanh_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih=None, b_hh=None
) -> Tensor:
    """One step of an Elman RNN with tanh: ``tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``
    (PyTorch's ``rnn_tanh_cell``); recorded op by op."""
    return tanh(_lin(input, w_ih, b_ih) + _lin(hx, w_hh, b_hh))


def rnn_relu_cell(
    input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih=None, b_hh=None
) -> Tensor:
    """One step of an Elman RNN with ReLU: ``relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``
    (PyTorch's ``rnn_relu_cell``); recorded op by op."""
    return relu(_lin(input, w_ih, b_ih) + _lin(hx, w_hh, b_hh))


def lstm_cell(
    input: Tensor, hx: Tensor, cx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih=None, b_hh=None
) -> tuple[Tensor, Tensor]:
    """One LSTM step, PyTorch's ``lstm_cell``: gates ``i, f, g, o`` from
    ``x W_ih^T + b_ih + h W_hh^T + b_hh``; returns ``(h', c')``; recorded op by op."""
    return _lstm_step(_lin(input, w_ih, b_ih) + _lin(hx, w_hh, b_hh), cx, None)


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih=None, b_hh=None) -> Tensor:
    """One GRU step, PyTorch's ``gru_cell``: gates ``r, z, n`` with
    ``n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))`` and ``h' = (1 - z) n + z h``."""
    return _gru_step(_lin(input, w_ih, b_ih), _lin(hx, w_hh, b_hh), hx)


# ------------------------------------------------------------------------- scan bodies
# carry: (h, hw) or (h, c, hw); xs: (xw_t,) or (xw_t, mask_t); consts: the recurrent weights.
#
# Why ``hw = h W_hh^T (+ b_hh for GRU)`` is carried: the rule of ``scan`` re-runs the body from
# the saved carry to differentiate one step. Were the step's recurrent matmul computed from ``h``
# inside the step, that re-run would repeat it: a third matmul per step on top of the two of its
# VJP. Computed at the end of the step for the next one, its value feeds nothing the VJP reads (a
# matmul's VJP reads its operands, not its result), so XLA drops it from the backward scan, and
# the step's gates come from the saved ``hw``. The price: ``hw`` is saved per step (what JAX's own
# scan autodiff keeps as residuals), and one matmul at the last step whose result goes unused.
def _masked(xs: tuple, new: tuple, carry: tuple) -> tuple:
    if len(xs) == 1:
        return new
    m = xs[1]
    return tuple(where(m, a, b) for a, b in zip(new, carry))


def rnn_tanh_body(carry: tuple, xs: tuple, consts: tuple) -> tuple:
    """Scan body of an RNN_TANH layer: ``h' = tanh(xw_t + h W_hh^T)``."""
    h, hw = carry
    (h_new,) = _masked(xs, (tanh(xs[0] + hw),), (h,))
    return (h_new, h_new.matmul(consts[0].t())), ()


def rnn_relu_body(carry: tuple, xs: tuple, consts: tuple) -> tuple:
    """Scan body of an RNN_RELU layer: ``h' = relu(xw_t + h W_hh^T)``."""
    h, hw = carry
    (h_new,) = _masked(xs, (relu(xs[0] + hw),), (h,))
    return (h_new, h_new.matmul(consts[0].t())), ()


def lstm_body(carry: tuple, xs: tuple, consts: tuple) -> tuple:
    """Scan body of an LSTM layer; consts ``(W_hh,)`` or ``(W_hh, W_hr)`` (projection)."""
    h, c, hw = carry
    w_hr = consts[1] if len(consts) > 1 else None
    h_new, c_new = _masked(xs, _lstm_step(xs[0] + hw, c, w_hr), (h, c))
    return (h_new, c_new, h_new.matmul(consts[0].t())), ()


def gru_body(carry: tuple, xs: tuple, consts: tuple) -> tuple:
    """Scan body of a GRU layer; consts ``(W_hh,)`` or ``(W_hh, b_hh)``; ``hw`` includes
    ``b_hh``."""
    h, hw = carry
    (h_new,) = _masked(xs, (_gru_step(xs[0], hw, h),), (h,))
    hw_new = h_new.matmul(consts[0].t())
    if len(consts) > 1:
        hw_new = hw_new + consts[1]
    return (h_new, hw_new), ()


BODIES = {
    "RNN_TANH": rnn_tanh_body,
    "RNN_RELU": rnn_relu_body,
    "LSTM": lstm_body,
    "GRU": gru_body,
}


def _lengths_mask(lengths, t_len: int, batch: int) -> np.ndarray | None:
    """The (T, B, 1) mask of steps inside each sequence; None when every sequence is full."""
    if isinstance(lengths, Tensor):
        lengths = lengths.tolist()
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if lengths.shape[0] != batch:
        raise ValueError(f"Expected {batch} lengths (one per sequence), got {lengths.shape[0]}")
    if lengths.size and (lengths.min() < 1 or lengths.max() > t_len):
        raise ValueError(
            f"sequence lengths must be between 1 and the number of steps {t_len}, got "
            f"{lengths.tolist()}"
        )
    if (lengths == t_len).all():
        return None
    return (np.arange(t_len)[:, None] < lengths[None, :])[:, :, None]


def recurrent_layer(
    mode: str,
    x: Tensor,
    hx: Tensor,
    cx: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None = None,
    lengths=None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer, one direction of a recurrent network over a time-major sequence ``x``
    (T, B, I) from the state ``hx`` (B, H_out) (and ``cx`` (B, H) for ``mode="LSTM"``), as one
    recorded ``scan`` node; ``reverse`` runs from the last step to the first. ``lengths`` (B ints
    in 1..T, or None) makes each sequence stop at its length: its output is zero after it and
    ``h_n``/``c_n`` are its last valid state (PyTorch's packed-sequence semantics). Returns
    ``(output (T, B, H_out), h_n (B, H_out), c_n (B, H) or None)``."""
    if mode not in MODES:
        raise ValueError(f"Unrecognized RNN mode: {mode}")
    if x.ndim != 3:
        raise ValueError(f"recurrent_layer: expected a (T, B, I) input, got shape {list(x.shape)}")
    if (cx is None) != (mode != "LSTM"):
        raise ValueError(f"recurrent_layer: cx must be given for LSTM only (mode {mode})")
    if w_hr is not None and mode != "LSTM":
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    t_len, batch, n_in = x.shape
    bias = b_ih
    if mode != "GRU" and b_hh is not None:  # b_hh adds to the gates: it joins the projection
        bias = b_hh if bias is None else bias + b_hh
    xw = _lin(x.reshape(t_len * batch, n_in), w_ih, bias).reshape(t_len, batch, w_ih.shape[0])
    xs = (xw,)
    mask = _lengths_mask(lengths, t_len, batch) if lengths is not None else None
    if mask is not None:
        mask = tensor(mask)
        xs = (xw, mask)
    consts: tuple = (w_hh,)
    if mode == "LSTM" and w_hr is not None:
        consts = (w_hh, w_hr)
    elif mode == "GRU" and b_hh is not None:
        consts = (w_hh, b_hh)
    hw = _lin(hx, w_hh, b_hh if mode == "GRU" else None)  # the first step's (see the bodies)
    carry = (hx, cx, hw) if mode == "LSTM" else (hx, hw)
    out = scan(BODIES[mode], carry, xs, consts, reverse=reverse)
    final, steps, _ = unpack(out, carry, t_len)
    output = steps[0]
    if mask is not None:
        output = where(mask, output, 0.0)
    return output, final[0], (final[1] if mode == "LSTM" else None)
