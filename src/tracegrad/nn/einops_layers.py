"""einops on tracegrad tensors (docs/einops.md).

Two things live here. ``TracegradBackend`` is the einops backend for tracegrad tensors: einops
picks a backend among the loaded subclasses of its ``AbstractBackend`` whose ``framework_name`` is
an imported module, so defining the class registers it. Each method lowers to tracegrad ops
(``reshape``, ``permute``, ``expand``, reductions, ``cat``, ``einsum``), so ``einops.rearrange``,
``reduce``, ``repeat``, ``einsum``, ``pack``, ``unpack`` and ``parse_shape`` record a graph and
gradients flow through them. And ``Rearrange``, ``Reduce`` and ``EinMix`` are tracegrad Modules
built on einops' own layer mixins, as ``einops.layers.torch`` builds PyTorch's; a layer from
``einops.layers.torch`` given to a tracegrad Module is converted into one of these
(``convert_einops_layer``).

Importing this module needs einops. ``import tracegrad`` does not import einops: tracegrad loads
this module the moment einops itself is imported (``tracegrad.nn._einops_hook``).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from einops._backends import AbstractBackend
from einops.layers import RearrangeMixin, ReduceMixin
from einops.layers._einmix import _EinmixMixin

from .. import _dtype, creation
from ..ops.linalg import einsum as _einsum
from ..ops.shape import cat, stack, unsqueeze
from ..tensor import Tensor
from .modules.module import Module, register_module_converter
from .parameter import Parameter

__all__ = ["EinMix", "Rearrange", "Reduce", "TracegradBackend", "convert_einops_layer"]

_FLOAT_DTYPES = (_dtype.float16, _dtype.bfloat16, _dtype.float32, _dtype.float64)


class TracegradBackend(AbstractBackend):
    """The einops backend for ``tracegrad.Tensor``; einops finds it by ``framework_name``.

    The methods mirror einops' PyTorch backend, each one a recorded tracegrad op."""

    framework_name = "tracegrad"

    def is_appropriate_type(self, tensor: Any) -> bool:
        return isinstance(tensor, Tensor)

    def from_numpy(self, x: np.ndarray) -> Tensor:
        variable = creation.from_numpy(x)
        if self.is_float_type(variable):
            variable.requires_grad = True  # as einops' torch backend: only floats take gradients
        return variable

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.detach().numpy()

    def arange(self, start: int, stop: int) -> Tensor:
        return creation.arange(start, stop, dtype=_dtype.int64)

    def reduce(self, x: Tensor, operation: str, reduced_axes) -> Tensor:
        axes = tuple(reduced_axes)
        if operation == "min":
            return x.amin(dim=axes)
        if operation == "max":
            return x.amax(dim=axes)
        if operation == "sum":
            return x.sum(dim=axes)
        if operation == "mean":
            return x.mean(dim=axes)
        if operation in ("any", "all", "prod"):
            # these take one dim at a time, in PyTorch as here; the last axis first keeps the
            # other indices valid
            for i in sorted(axes, reverse=True):
                x = getattr(x, operation)(dim=i)
            return x
        raise NotImplementedError("Unknown reduction ", operation)

    def transpose(self, x: Tensor, axes) -> Tensor:
        return x.permute(tuple(axes))

    def stack_on_zeroth_dimension(self, tensors: list) -> Tensor:
        return stack(tensors)

    def add_axes(self, x: Tensor, n_axes: int, pos2len: dict) -> Tensor:
        repeats = [-1] * n_axes
        for axis_position, axis_length in pos2len.items():
            x = unsqueeze(x, axis_position)
            repeats[axis_position] = axis_length
        return x.expand(repeats)

    def tile(self, x: Tensor, repeats) -> Tensor:
        return x.repeat(tuple(repeats))

    def concat(self, tensors: list, axis: int) -> Tensor:
        return cat(tensors, dim=axis)

    def add_axis(self, x: Tensor, new_position: int) -> Tensor:
        return unsqueeze(x, new_position)

    def is_float_type(self, x: Tensor) -> bool:
        return x.dtype in _FLOAT_DTYPES

    def layers(self):
        return sys.modules[__name__]

    def einsum(self, pattern: str, *x: Tensor) -> Tensor:
        return _einsum(pattern, *x)


class Rearrange(RearrangeMixin, Module):
    """``einops.layers.torch.Rearrange`` as a tracegrad Module: ``Rearrange(pattern, **axes)``
    applies ``einops.rearrange(x, pattern, **axes)``."""

    def forward(self, input: Tensor) -> Tensor:
        return self._apply_recipe(input)


class Reduce(ReduceMixin, Module):
    """``einops.layers.torch.Reduce`` as a tracegrad Module: ``Reduce(pattern, reduction, **axes)``
    applies ``einops.reduce(x, pattern, reduction, **axes)``."""

    def forward(self, input: Tensor) -> Tensor:
        return self._apply_recipe(input)


class EinMix(_EinmixMixin, Module):
    """``einops.layers.torch.EinMix`` as a tracegrad Module: an einsum of the input with a learned
    ``weight`` (and an optional ``bias``), with einops rearrangements before and after. Weights
    start uniform in einops' He-style bounds, as in einops' PyTorch layer."""

    def _create_parameters(self, weight_shape, weight_bound, bias_shape, bias_bound) -> None:
        self.weight = Parameter(creation.zeros(weight_shape).uniform_(-weight_bound, weight_bound))
        if bias_shape is not None:
            self.bias = Parameter(creation.zeros(bias_shape).uniform_(-bias_bound, bias_bound))
        else:
            self.bias = None

    def _create_rearrange_layers(
        self, pre_reshape_pattern, pre_reshape_lengths, post_reshape_pattern, post_reshape_lengths
    ) -> None:
        self.pre_rearrange = None
        if pre_reshape_pattern is not None:
            self.pre_rearrange = Rearrange(pre_reshape_pattern, **dict(pre_reshape_lengths))
        self.post_rearrange = None
        if post_reshape_pattern is not None:
            self.post_rearrange = Rearrange(post_reshape_pattern, **dict(post_reshape_lengths))

    def forward(self, input: Tensor) -> Tensor:
        if self.pre_rearrange is not None:
            input = self.pre_rearrange(input)
        result = _einsum(self.einsum_pattern, input, self.weight)
        if self.bias is not None:
            result = result + self.bias
        if self.post_rearrange is not None:
            result = self.post_rearrange(result)
        return result


def _to_tracegrad(value: Any) -> Tensor:
    """A PyTorch tensor's values as a tracegrad tensor (through numpy; PyTorch is not imported)."""
    return creation.from_numpy(np.array(value.detach().cpu().numpy()))


def convert_einops_layer(layer: Any) -> Module | None:
    """The tracegrad layer for an einops layer built on another framework's Module (such as
    ``einops.layers.torch.Rearrange``), or ``None`` if ``layer`` is not an einops layer.

    The pattern, reduction and axis lengths are kept; an ``EinMix`` keeps its weights (copied, with
    their dtype and ``requires_grad``); the training flag is kept. tracegrad Modules call this for every
    foreign module added to them, so ``nn.Sequential(Rearrange(...), ...)`` works with the layers
    of ``einops.layers.torch``."""
    if isinstance(layer, Module):
        return None
    if isinstance(layer, RearrangeMixin):
        converted: Module = Rearrange(layer.pattern, **layer.axes_lengths)
    elif isinstance(layer, ReduceMixin):
        converted = Reduce(layer.pattern, layer.reduction, **layer.axes_lengths)
    elif isinstance(layer, _EinmixMixin):
        converted = EinMix(
            layer.pattern, layer.weight_shape, layer.bias_shape, **layer.axes_lengths
        )
        for name in ("weight", "bias"):
            theirs = getattr(layer, name, None)
            if theirs is not None:
                value = _to_tracegrad(theirs)
                setattr(converted, name, Parameter(value, bool(theirs.requires_grad)))
    else:
        return None
    converted.train(bool(getattr(layer, "training", True)))
    return converted


register_module_converter(convert_einops_layer)
