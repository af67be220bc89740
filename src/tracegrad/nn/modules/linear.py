"""``Identity``, ``Linear`` and ``Bilinear``, with PyTorch's default initialisation."""

from __future__ import annotations

import math

from ... import creation
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Identity", "Linear", "Bilinear"]


class Identity(Module):
    """Returns its input unchanged (constructor arguments are accepted and ignored)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


def _weight_and_bias(module: Module, shape: tuple, bias: bool, out: int, device, dtype) -> None:
    """Register ``module``'s ``weight`` of ``shape`` and its ``bias`` of ``out`` elements (None
    without ``bias``), both left uninitialised for ``reset_parameters``."""
    module.weight = Parameter(creation.empty(shape, device=device, dtype=dtype))
    if bias:
        module.bias = Parameter(creation.empty(out, device=device, dtype=dtype))
    else:
        module.register_parameter("bias", None)


def _kaiming_reset(module: Module, *, empty_fan_in_zeroes_bias: bool) -> None:
    """PyTorch's default reset of a ``weight`` and ``bias`` layer: ``kaiming_uniform_(a=sqrt(5))``
    for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. With no fan-in ``Linear``
    fills the bias from U(0, 0) and convolutions leave it as it is."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(module.weight)
        if fan_in != 0:
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(module.bias, -bound, bound)
        elif empty_fan_in_zeroes_bias:
            init.uniform_(module.bias, 0, 0)


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last dimension of ``x``, as ``torch.nn.Linear``.

    ``weight`` is ``(out_features, in_features)``; both it and ``bias`` start as
    U(-1/sqrt(in_features), 1/sqrt(in_features)) (PyTorch's ``kaiming_uniform_(a=sqrt(5))``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _weight_and_bias(self, (out_features, in_features), bias, out_features, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw ``weight`` and ``bias`` from PyTorch's default distributions."""
        _kaiming_reset(self, empty_fan_in_zeroes_bias=True)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            last = input.shape[-1] if input.ndim else 1
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({_rows(input)}x{last} and "
                f"{self.in_features}x{self.out_features}) (Linear expects the input's last "
                f"dimension to be in_features={self.in_features}, got input of shape "
                f"{list(input.shape)})"
            )
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


def _rows(input: Tensor) -> int:
    n = 1
    for s in input.shape[:-1]:
        n *= s
    return n


class Bilinear(Module):
    """``y = x1^T A x2 + b`` per output feature, as ``torch.nn.Bilinear``: ``weight`` is
    ``(out_features, in1_features, in2_features)``; both parameters start as
    U(-1/sqrt(in1_features), 1/sqrt(in1_features))."""

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        shape = (out_features, in1_features, in2_features)
        _weight_and_bias(self, shape, bias, out_features, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw ``weight`` and ``bias`` from U(-1/sqrt(in1), 1/sqrt(in1))."""
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
