"""``LocalResponseNorm`` and ``CrossMapLRN2d``, as ``torch.nn``.

``LocalResponseNorm`` holds the options of ``F.local_response_norm``. ``CrossMapLRN2d`` is
PyTorch's legacy cross-channel LRN (``torch/nn/_functions.py``), a custom Function with its own
window and its own hand-written backward, reproduced here as a tracegrad ``autograd.Function``.
"""

from __future__ import annotations

from ..._dtype import scalar_type_name
from ...autograd.function import Function
from ...ops.resample import pad
from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["LocalResponseNorm", "CrossMapLRN2d"]


class _LRNOptions(Module):
    """The options both LRN layers hold, and their repr."""

    def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LocalResponseNorm(_LRNOptions):
    """Normalise each element by ``(k + alpha * mean of x^2 over size neighbouring
    channels)^beta`` (see ``F.local_response_norm``)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__(size, alpha, beta, k)

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)


def _channel_window_sum(x: Tensor, before: int, after: int) -> Tensor:
    """``out[:, c] = sum of x[:, j]`` for ``c - before <= j <= c + after`` (channels outside
    ``[0, C)`` count as zero): zero-pad the channel axis and add shifted slices, elementwise, so
    the sums are exact float additions on every backend (a matmul may run at reduced precision)."""
    c = x.shape[1]
    # F.pad lists pairs from the last dimension: (W), (H), then the channels.
    xp = pad(x, (0, 0, 0, 0, before, after))
    out = xp[:, 0:c]
    for i in range(1, before + after + 1):
        out = out + xp[:, i : i + c]
    return out


# PyTorch's forward (torch/nn/_functions.py) computes the scale by a running sum over channels:
# scale[0] sums the squares of the first pre_pad = int((size - 1) / 2 + 1) channels, and each next
# channel adds square[c + pre_pad - 1] and, once c > pre_pad, subtracts square[c - pre_pad]. The
# first subtraction is of square[1], so square[0] is never removed: channel c's window is
# [c - pre_pad + 1, c + pre_pad - 1] clipped to [0, C), plus channel 0 once c >= pre_pad. The window
# has 2 * pre_pad - 1 channels (size - 1 for an even size) but the sum is divided by size.
#
# Its backward is not the derivative of that forward. With ratio = g * out / scale it gives
#   grad = scale^-beta * g - (2 alpha beta / size) * x * accum,
# accum[c] = sum of ratio[j] for c - q <= j <= c + size - 1 - q, q = int(size - (size - 1) / 2),
# a window shifted against the forward's (and without the channel-0 term). PyTorch's gradients are
# these values, so tracegrad's are too: hence a custom Function, not a composition of ops (whose
# gradient would be the true derivative). For size 1, PyTorch's backward fails (narrow() out of
# range); so does this one, with its message.
class _CrossMapLRN2dFunction(Function):
    """The Function behind ``nn.CrossMapLRN2d``; its node is ``CrossMapLRN2dBackward``."""

    @staticmethod
    def forward(ctx, input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
        if input.dim() != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.dim()}D instead.")
        if input.shape[1] == 0:  # PyTorch's loop starts by selecting channel 0
            raise IndexError(
                "select(): index 0 out of range for tensor of size "
                f"[{', '.join(map(str, input.shape))}] at dimension 1"
            )
        if not (input.is_floating_point() or input.is_complex()):
            # PyTorch writes pow(x, 2) into a buffer of the input's dtype, then a float into it.
            raise RuntimeError(
                "result type Float can't be cast to the desired output type "
                f"{scalar_type_name(input.dtype)}"
            )
        pre_pad = int((size - 1) / 2 + 1)
        sq = input * input
        total = _channel_window_sum(sq, pre_pad - 1, pre_pad - 1)
        channels = input.shape[1]
        if channels > pre_pad:
            # square[0] stays in every window from channel pre_pad on (see above).
            stuck = pad(sq[:, 0:1].expand(-1, channels - pre_pad, -1, -1), (0, 0, 0, 0, pre_pad, 0))
            total = total + stuck
        scale = total * (alpha / size) + k
        output = scale.pow(-beta) * input
        ctx.size, ctx.alpha, ctx.beta, ctx.scale = size, alpha, beta, scale
        ctx.save_for_backward(input, output)
        return output

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        input, output = ctx.saved_tensors
        size, alpha, beta, scale = ctx.size, ctx.alpha, ctx.beta, ctx.scale
        channels = input.shape[1]
        q = int(size - (size - 1) / 2)
        if q + channels > channels + size - 1:
            raise RuntimeError(
                f"start ({q}) + length ({channels}) exceeds dimension size ({channels + size - 1})."
            )
        ratio = grad_output * output / scale
        accum = _channel_window_sum(ratio, q, size - 1 - q)
        grad_input = scale.pow(-beta) * grad_output - (2 * alpha * beta / size) * input * accum
        return grad_input, None, None, None, None


_CrossMapLRN2dFunction.__name__ = "CrossMapLRN2d"
_CrossMapLRN2dFunction._op.name = "CrossMapLRN2d"
_CrossMapLRN2dFunction._op.grad_fn_name = "CrossMapLRN2dBackward"


class CrossMapLRN2d(_LRNOptions):
    """PyTorch's legacy cross-channel local response normalisation of a 4-D (N, C, H, W) input:
    ``x / (k + alpha / size * sum of x^2 over a window of channels)^beta``. The window and the
    gradient are PyTorch's own (``torch.nn.CrossMapLRN2d``), not ``nn.LocalResponseNorm``'s: the
    window keeps channel 0 in every sum, and the backward is PyTorch's hand-written formula,
    which is not the exact derivative of the forward (see the comment above the Function)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__(size, alpha, beta, k)

    def forward(self, input: Tensor) -> Tensor:
        return _CrossMapLRN2dFunction.apply(input, self.size, self.alpha, self.beta, self.k)
