"""``LinearCrossEntropyOptions``: the chunking options of ``F.linear_cross_entropy``, as
``torch.nn.LinearCrossEntropyOptions`` (PyTorch 2.13): the same fields, defaults, validation and
resolution of the ``"auto"`` sentinels. tracegrad honours ``batch_chunk_size`` /
``chunking_method`` (the batch is processed in that many rows at a time) and ``acc_dtype`` (the
dtype the logits and the loss are computed in); see docs/linear_cross_entropy.md for what the
other fields mean here."""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

from ... import _dtype

__all__ = ["LinearCrossEntropyOptions"]


class _AutoDefault(NamedTuple):
    acc_policy: str
    chunking_method: str


# PyTorch's per-(device type, input dtype) picks for the "auto" sentinels; other pairs fall back.
_AUTO_DEFAULTS: dict[tuple[str, _dtype.dtype], _AutoDefault] = {
    ("cuda", _dtype.bfloat16): _AutoDefault("compact", "aspect_ratio:2"),
    ("cuda", _dtype.float16): _AutoDefault("compact", "aspect_ratio:2"),
    ("cpu", _dtype.bfloat16): _AutoDefault("accurate", "aspect_ratio"),
    ("cpu", _dtype.float16): _AutoDefault("accurate", "aspect_ratio"),
}
_AUTO_FALLBACK = _AutoDefault("compact", "aspect_ratio:2")
_ACC_DTYPES = (_dtype.float16, _dtype.bfloat16, _dtype.float32, _dtype.float64)


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """Configuration of the chunked path of ``F.linear_cross_entropy``: the batch is processed
    ``batch_chunk_size`` rows at a time (or as many as ``chunking_method`` picks:
    ``"aspect_ratio[:N]"`` sizes a chunk's ``(rows, num_classes)`` logits like the
    ``(num_batches, in_features)`` input, divided by ``N``; ``"auto"`` is PyTorch's per-device
    pick), computing the logits and the loss in ``acc_dtype`` (``None``: float32 for float16 and
    bfloat16 input under ``acc_policy="auto"``, else the input dtype). ``acc_policy`` and
    ``allow_retain_graph`` are validated and kept; tracegrad computes every policy as
    ``"accurate"`` and always allows ``retain_graph=True`` (see docs/linear_cross_entropy.md)."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: Literal["accurate", "balanced", "compact", "auto"] = "auto"
    acc_dtype: _dtype.dtype | None = None

    def __post_init__(self) -> None:
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            if not sep:
                factor = "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        if not (
            self.batch_chunk_size is None
            or (isinstance(self.batch_chunk_size, int) and self.batch_chunk_size > 0)
        ):
            raise ValueError(
                f"batch_chunk_size must be positive int or None, got {self.batch_chunk_size!r}"
            )
        if self.acc_dtype is not None and self.acc_dtype not in _ACC_DTYPES:
            raise ValueError(
                f"acc_dtype must be one of {{None, torch.float16, torch.bfloat16, "
                f"torch.float32, torch.float64}}, got {self.acc_dtype!r}. Pass "
                "acc_dtype=None to let the op pick automatically."
            )

    @staticmethod
    def _chunk_size(method: str, num_batches: int, in_features: int, num_classes: int) -> int:
        factor = int(method.split(":", 1)[1]) if ":" in method else 1
        inc_factor = -(-num_classes // in_features)
        target = -(-num_batches // inc_factor)
        chunk_size = 1 << (target - 1).bit_length()  # the next power of 2 >= target
        return min(chunk_size // factor, num_batches)

    def _adjust(
        self, num_batches: int, in_features: int, num_classes: int, dtype, device_type: str
    ) -> LinearCrossEntropyOptions:
        """Resolve the ``"auto"`` sentinels and ``None`` defaults for one call, as PyTorch's
        ``_adjust`` does (a ``ValueError`` when ``batch_chunk_size`` and ``chunking_method``
        disagree)."""
        acc_policy, method = self.acc_policy, self.chunking_method
        if method == "auto" and self.batch_chunk_size is not None:
            method = None
        if acc_policy == "auto" or method == "auto":
            ap, cm = _AUTO_DEFAULTS.get((device_type, dtype), _AUTO_FALLBACK)
            acc_policy = ap if acc_policy == "auto" else acc_policy
            method = cm if method == "auto" else method
        size = num_batches if self.batch_chunk_size is None else self.batch_chunk_size
        size = min(size, num_batches)
        if method is not None:
            size = self._chunk_size(method, num_batches, in_features, num_classes)
            if self.batch_chunk_size is not None and self.batch_chunk_size != size:
                raise ValueError(
                    f"batch_chunk_size (={self.batch_chunk_size}) and "
                    f"chunking_method ('{method}') give different "
                    f"chunk sizes ({self.batch_chunk_size} vs {size}); pass only one."
                )
        acc_dtype = self.acc_dtype
        if acc_dtype is None:
            mixed = self.acc_policy == "auto" and dtype in (_dtype.float16, _dtype.bfloat16)
            acc_dtype = _dtype.float32 if mixed else dtype
        return dataclasses.replace(
            self,
            acc_policy=acc_policy,
            chunking_method=method,
            batch_chunk_size=max(1, size),
            acc_dtype=acc_dtype,
        )
