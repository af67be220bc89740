"""Lazy modules: ``LazyModuleMixin`` and the ``Lazy*`` convolution and normalisation layers.

A lazy module is built without its input size; its parameters are ``UninitializedParameter``s.
A forward pre-hook reads the size from the first input (``initialize_parameters``), materialises
the parameters in place (so an optimizer made afterwards, or holding them, sees real
parameters), initialises them as the ordinary layer would, and turns the module into that layer
(``cls_to_become``). ``load_state_dict`` into an uninitialised lazy module materialises the
parameters with the checkpoint's shapes, as in PyTorch.
"""

from __future__ import annotations

import itertools

from ... import creation
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from .conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

__all__ = [
    "LazyModuleMixin",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]


class LazyModuleMixin:
    """Mix in before a ``Module`` class to infer parameter shapes from the first input, as
    ``torch.nn.modules.lazy.LazyModuleMixin``.

    Subclasses create ``UninitializedParameter``s / ``UninitializedBuffer``s, implement
    ``initialize_parameters(*args, **kwargs)`` (called with the first call's arguments) and may
    set ``cls_to_become``, the class the module becomes once initialised.
    """

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._load_hook = self.register_load_state_dict_pre_hook(_lazy_load_hook)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters, with_kwargs=True)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        # an uninitialised parameter is saved as itself (detach would lose what it is)
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = (
                    param if is_lazy(param) or keep_vars else param.detach()
                )
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if is_lazy(buf) or keep_vars else buf.detach()

    def initialize_parameters(self, *args, **kwargs) -> None:
        """Materialise and initialise the parameters from the first call's arguments."""
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {self.__class__.__name__}"
        )

    def has_uninitialized_params(self) -> bool:
        """Whether any parameter or buffer of this module is still uninitialised."""
        return any(
            is_lazy(t) for t in itertools.chain(self._parameters.values(), self._buffers.values())
        )

    def _replicate_for_data_parallel(self):
        raise RuntimeError(
            "Modules with uninitialized parameters can't be used with `DataParallel`. Run a "
            "dummy forward pass to correctly initialize the modules"
        )


def _dematerialize(tensor: Tensor, cls: type, array) -> None:
    tensor._storage.array = array
    tensor.__class__ = cls


def _lazy_load_hook(
    module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
) -> None:
    """Materialise each uninitialised parameter or buffer that the checkpoint holds with the
    checkpoint's shape (the load then copies the values); the load undoes it if it fails."""
    for name, param in itertools.chain(module._parameters.items(), module._buffers.items()):
        key = prefix + name
        if key in state_dict and param is not None and is_lazy(param):
            value = state_dict[key]
            if not is_lazy(value) and hasattr(value, "shape"):
                undo = (_dematerialize, (param, type(param), param._storage.array))
                with no_grad():
                    param.materialize(tuple(value.shape))
                local_metadata["copies"].append((module, None, None, undo, "undo"))


def _infer_parameters(module, args, kwargs=None) -> None:
    """The forward pre-hook: initialise from the first call, then become ``cls_to_become``."""
    kwargs = kwargs if kwargs else {}
    module.initialize_parameters(*args, **kwargs)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    module._initialize_hook.remove()
    module._load_hook.remove()
    delattr(module, "_initialize_hook")
    delattr(module, "_load_hook")
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


# ------------------------------------------------------------------------------- convolutions
class _LazyConvXdMixin(LazyModuleMixin):
    _nd = 0

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor, *args, **kwargs) -> None:
        """``in_channels`` from ``input`` (batched or not); then the weight and bias."""
        if not self.has_uninitialized_params():
            if self.in_channels == 0:  # loaded from a state dict: the weight has the size
                w = self.weight.shape
                self.in_channels = w[0] if self.transposed else w[1] * self.groups
            return
        self.in_channels = self._get_in_channels(input)
        if self.in_channels % self.groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        with no_grad():
            if self.transposed:
                shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
            else:
                shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
            self.weight.materialize(shape)
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()

    def _uninitialized(self, out_channels: int, bias: bool, device, dtype) -> None:
        """The weight (and bias) as uninitialised parameters, after the base class built the
        layer without them."""
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def _get_num_spatial_dims(self) -> int:
        return self._nd

    def _get_in_channels(self, input: Tensor) -> int:
        no_batch = self._get_num_spatial_dims() + 1
        batch = no_batch + 1
        if input.dim() not in (no_batch, batch):
            raise RuntimeError(
                f"Expected {no_batch}D (unbatched) or {batch}D (batched) input to "
                f"{self.__class__.__name__}, but got input of size: {input.shape}"
            )
        return input.shape[1] if input.dim() == batch else input.shape[0]


def _lazy_conv(base: type, nd: int) -> type:
    class LazyConv(_LazyConvXdMixin, base):
        cls_to_become = base
        _nd = nd

        def __init__(
            self,
            out_channels: int,
            kernel_size,
            stride=1,
            padding=0,
            dilation=1,
            groups: int = 1,
            bias: bool = True,
            padding_mode: str = "zeros",
            device=None,
            dtype=None,
        ) -> None:
            # bias=False and 0 channels: nothing is created that would be replaced at once
            super().__init__(
                0,
                0,
                kernel_size,
                stride,
                padding,
                dilation,
                groups,
                False,
                padding_mode,
                device=device,
                dtype=dtype,
            )
            self._uninitialized(out_channels, bias, device, dtype)

    return LazyConv


def _lazy_conv_transpose(base: type, nd: int) -> type:
    class LazyConvTranspose(_LazyConvXdMixin, base):
        cls_to_become = base
        _nd = nd

        def __init__(
            self,
            out_channels: int,
            kernel_size,
            stride=1,
            padding=0,
            output_padding=0,
            groups: int = 1,
            bias: bool = True,
            dilation=1,
            padding_mode: str = "zeros",
            device=None,
            dtype=None,
        ) -> None:
            super().__init__(
                0,
                0,
                kernel_size,
                stride,
                padding,
                output_padding,
                groups,
                False,
                dilation,
                padding_mode,
                device=device,
                dtype=dtype,
            )
            self._uninitialized(out_channels, bias, device, dtype)

    return LazyConvTranspose


def _named(cls: type, doc: str) -> type:
    """``cls`` named ``Lazy`` + the name of the layer it becomes, with ``doc`` (a template of
    ``{base}`` and ``{name}``) as its docstring."""
    base = cls.cls_to_become.__name__
    cls.__name__ = cls.__qualname__ = name = "Lazy" + base
    cls.__module__ = __name__
    cls.__doc__ = doc.format(base=base, name=name)
    return cls


_CONV_DOC = (
    "A ``{base}`` whose ``in_channels`` is read from the first input (``input.shape[1]``, or "
    "``[0]`` unbatched), as ``torch.nn.{name}``; it then becomes a ``{base}``."
)
LazyConv1d = _named(_lazy_conv(Conv1d, 1), _CONV_DOC)
LazyConv2d = _named(_lazy_conv(Conv2d, 2), _CONV_DOC)
LazyConv3d = _named(_lazy_conv(Conv3d, 3), _CONV_DOC)
LazyConvTranspose1d = _named(_lazy_conv_transpose(ConvTranspose1d, 1), _CONV_DOC)
LazyConvTranspose2d = _named(_lazy_conv_transpose(ConvTranspose2d, 2), _CONV_DOC)
LazyConvTranspose3d = _named(_lazy_conv_transpose(ConvTranspose3d, 3), _CONV_DOC)


# ----------------------------------------------------------------------------- normalisation
class _LazyNormBase(LazyModuleMixin):
    """Batch and instance norm without ``num_features`` (PyTorch's ``_LazyNormBase``)."""

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        # affine and track_running_stats off: nothing is created that would be replaced at once
        super().__init__(0, eps, momentum, False, False, device, dtype)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        if self.track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = creation.tensor(0, dtype="int64", device=device)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """``num_features`` from ``input.shape[1]``; then the parameters and running stats."""
        if not self.has_uninitialized_params():
            state = self.weight if self.affine else self.running_mean
            if self.num_features == 0 and state is not None:  # loaded from a state dict
                self.num_features = state.shape[0]
            return
        self.num_features = input.shape[1]
        with no_grad():
            if self.affine:
                self.weight.materialize((self.num_features,))
                self.bias.materialize((self.num_features,))
            if self.track_running_stats:
                self.running_mean.materialize((self.num_features,))
                self.running_var.materialize((self.num_features,))
            self.reset_parameters()


def _lazy_norm(base: type, affine: bool, track: bool) -> type:
    # As in PyTorch, the lazy class derives from the private family class (``_BatchNorm``), not
    # from the layer it becomes: ``isinstance(LazyBatchNorm1d(), BatchNorm1d)`` is false. The
    # layer's own class attributes (the input ranks it accepts) are copied over.
    class LazyNorm(_LazyNormBase, base.__bases__[0]):
        cls_to_become = base

        def __init__(
            self,
            eps: float = 1e-5,
            momentum: float | None = 0.1,
            affine: bool = affine,
            track_running_stats: bool = track,
            device=None,
            dtype=None,
        ) -> None:
            super().__init__(eps, momentum, affine, track_running_stats, device, dtype)

    for key, value in vars(base).items():
        if not key.startswith("__"):
            setattr(LazyNorm, key, value)
    return LazyNorm


_NORM_DOC = (
    "A ``{base}`` whose ``num_features`` is read from the first input (``input.shape[1]``), as "
    "``torch.nn.{name}``; it then becomes a ``{base}``."
)
LazyBatchNorm1d = _named(_lazy_norm(BatchNorm1d, True, True), _NORM_DOC)
LazyBatchNorm2d = _named(_lazy_norm(BatchNorm2d, True, True), _NORM_DOC)
LazyBatchNorm3d = _named(_lazy_norm(BatchNorm3d, True, True), _NORM_DOC)
LazyInstanceNorm1d = _named(_lazy_norm(InstanceNorm1d, True, True), _NORM_DOC)
LazyInstanceNorm2d = _named(_lazy_norm(InstanceNorm2d, True, True), _NORM_DOC)
LazyInstanceNorm3d = _named(_lazy_norm(InstanceNorm3d, True, True), _NORM_DOC)


class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is read from the first input's last dimension, as
    ``torch.nn.LazyLinear``; it then becomes a ``Linear``."""

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        # bias=False and 0 features: nothing is created that would be replaced at once
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        """Re-draw the parameters, once they are initialised."""
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:
        """``in_features`` from ``input.shape[-1]``; then the weight and bias."""
        if not self.has_uninitialized_params():
            if self.in_features == 0:  # loaded from a state dict: the weight has the size
                self.in_features = self.weight.shape[1]
            return
        with no_grad():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()
