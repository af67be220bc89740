"""``BatchNorm1d/2d/3d`` and ``SyncBatchNorm``, as ``torch.nn``: ``weight``/``bias`` parameters, ``running_mean``,
``running_var`` and ``num_batches_tracked`` (int64) buffers, ``momentum=None`` for a cumulative
average, eval mode using the running stats.

The running-stat update is tensor ops only (``num_batches_tracked.add_(1)``; with
``momentum=None`` the factor ``1 / num_batches_tracked`` stays a tensor), so a training step that
contains a batch norm can be traced and compiled without host round trips.
"""

from __future__ import annotations

from ... import creation
from ...tensor import tensor
from .. import functional as F
from .. import init
from .module import Module
from .normalization import _affine_parameters

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]


class _NormBase(Module):
    """What batch and instance norm share (PyTorch's ``_NormBase``): ``weight``/``bias`` when
    ``affine``, the running-stat buffers when ``track_running_stats``, and their reset."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, affine, bias, num_features, device, dtype)
        if track_running_stats:
            self.register_buffer(
                "running_mean", creation.zeros(num_features, device=device, dtype=dtype)
            )
            self.register_buffer(
                "running_var", creation.ones(num_features, device=device, dtype=dtype)
            )
            self.register_buffer("num_batches_tracked", tensor(0, dtype="int64"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running stats, ``weight`` to 1 and ``bias`` (if any) to 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)


class _BatchNorm(_NormBase):
    """Batch norm of ``_dims``-D inputs; its constructor is ``_NormBase``'s, whose defaults are
    PyTorch's ``_BatchNorm``'s."""

    _dims: tuple = ()
    _dims_text = ""

    def _check_input_dim(self, input) -> None:
        if input.ndim not in self._dims:
            raise ValueError(f"expected {self._dims_text} input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / self.num_batches_tracked.to(self.running_mean.dtype)
        # Batch statistics in training, or in eval when there are no running stats to use.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over ``(N, C)`` or ``(N, C, L)`` inputs, per channel ``C``."""

    _dims = (2, 3)
    _dims_text = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over ``(N, C, H, W)`` inputs, per channel ``C``."""

    _dims = (4,)
    _dims_text = "4D"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over ``(N, C, D, H, W)`` inputs, per channel ``C``."""

    _dims = (5,)
    _dims_text = "5D"


class SyncBatchNorm(_BatchNorm):
    """``torch.nn.SyncBatchNorm`` in a single process, which is how tracegrad runs (it has no
    ``torch.distributed``): PyTorch then falls back to plain batch norm over the local batch, and so
    does this; inputs of any rank from 2 up. ``convert_sync_batchnorm`` swaps the ``BatchNorm*d``
    layers of a model for it, keeping their parameters and running statistics. A
    ``process_group`` other than None raises ``NotImplementedError``."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        _check_process_group(process_group)
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every ``BatchNorm*d`` layer replaced by a ``SyncBatchNorm`` sharing its
        parameters and buffers (a new layer when ``module`` itself is one), as PyTorch's."""
        _check_process_group(process_group)
        out = module
        if isinstance(module, _BatchNorm):
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                bias=module.bias is not None,
            )
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


def _check_process_group(process_group) -> None:
    if process_group is not None:
        raise NotImplementedError(
            "SyncBatchNorm: process groups are not supported (tracegrad.distributed has one "
            "group, the whole mesh); pass process_group=None: under DistributedDataParallel "
            "every batch norm already reduces over the whole sharded batch (docs/scaling.md)"
        )
