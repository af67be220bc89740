"""Activation layers, as in ``torch.nn``: thin modules over the functions in
``tracegrad.nn.functional`` (each with its own hand-written VJP in ``tracegrad/ops``)."""

from __future__ import annotations

from ... import creation
from ...ops import elementwise as E
from ...ops.reduction import log_softmax, softmax
from ...tensor import Tensor
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "CELU",
    "SELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "LogSigmoid",
    "Tanh",
    "Hardtanh",
    "Hardsigmoid",
    "Hardswish",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "Softmax",
    "LogSoftmax",
    "Softmin",
]


def _inplace_suffix(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class _InplaceOnly(Module):
    """An activation whose only option is ``inplace`` (repr ``ReLU()`` / ``ReLU(inplace=True)``)."""

    _fn = None

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_InplaceOnly):
    """``max(0, x)``."""

    _fn = staticmethod(E.relu)


class SELU(_InplaceOnly):
    """``scale * elu(x, alpha)`` with the self-normalising constants."""

    _fn = staticmethod(E.selu)


class SiLU(_InplaceOnly):
    """``x * sigmoid(x)`` (swish)."""

    _fn = staticmethod(E.silu)


class Mish(_InplaceOnly):
    """``x * tanh(softplus(x))``."""

    _fn = staticmethod(E.mish)


class Hardsigmoid(_InplaceOnly):
    """``relu6(x + 3) / 6``."""

    _fn = staticmethod(E.hardsigmoid)

    def extra_repr(self) -> str:
        return ""


class Hardswish(_InplaceOnly):
    """``x * relu6(x + 3) / 6``."""

    _fn = staticmethod(E.hardswish)

    def extra_repr(self) -> str:
        return ""


class Hardtanh(Module):
    """``clamp(x, min_val, max_val)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError("max_val must be greater than min_val")

    def forward(self, input: Tensor) -> Tensor:
        return E.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self.inplace)}"


class ReLU6(Hardtanh):
    """``min(max(0, x), 6)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return E.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self.inplace)}"


class PReLU(Module):
    """Leaky ReLU with a learned slope: one (``num_parameters=1``) or one per channel (dim 1),
    initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fill the slope with ``init``."""
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        w = self.weight
        if self.num_parameters != 1:
            if input.ndim < 2 or input.shape[1] != self.num_parameters:
                raise RuntimeError(
                    f"Mismatch of parameter numbers and input channel size. Found parameter "
                    f"numbers = {self.num_parameters} and channel size = "
                    f"{input.shape[1] if input.ndim > 1 else 1}."
                )
            w = w.reshape((self.num_parameters,) + (1,) * (input.ndim - 2))
        return E.where(input >= 0, input, w * input)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """``x`` for positive inputs, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return E.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_suffix(self.inplace)}"


class CELU(ELU):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def forward(self, input: Tensor) -> Tensor:
        return E.celu(input, self.alpha, self.inplace)


class GELU(Module):
    """``x * Phi(x)``; ``approximate='tanh'`` uses the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return E.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _NoArgs(Module):
    _fn = None

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)


class Sigmoid(_NoArgs):
    """``1 / (1 + exp(-x))``."""

    _fn = staticmethod(E.sigmoid)


class Tanh(_NoArgs):
    """``tanh(x)``."""

    _fn = staticmethod(E.tanh)


class LogSigmoid(_NoArgs):
    """``log(sigmoid(x))``, computed stably."""

    _fn = staticmethod(E.logsigmoid)


class Softsign(_NoArgs):
    """``x / (1 + |x|)``."""

    _fn = staticmethod(lambda x: x / (x.abs() + 1))


class Tanhshrink(_NoArgs):
    """``x - tanh(x)``."""

    _fn = staticmethod(lambda x: x - E.tanh(x))


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold`` (for stability)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return E.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Softmax):
    """``softmax(-x)`` along ``dim``."""

    def forward(self, input: Tensor) -> Tensor:
        return softmax(-input, self.dim)


class LogSoftmax(Softmax):
    """``log(softmax(x))`` along ``dim``, computed stably."""

    def forward(self, input: Tensor) -> Tensor:
        return log_softmax(input, self.dim)
