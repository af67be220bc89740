"""``Embedding``: a lookup table of learned vectors, as ``torch.nn.Embedding``."""

from __future__ import annotations

from ... import creation
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Embedding"]


def _padding_index(padding_idx: int | None, num_embeddings: int, name: str) -> int | None:
    """``padding_idx`` made non-negative, or PyTorch's ``AssertionError`` (which spells the
    argument ``name``) when it is outside ``[-num_embeddings, num_embeddings)``."""
    if padding_idx is None:
        return None
    if padding_idx < -num_embeddings or (padding_idx > 0 and padding_idx >= num_embeddings):
        raise AssertionError(f"{name} must be within num_embeddings")
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


def _init_weight(module: Module, _weight: Tensor | None, requires_grad: bool, device, dtype):
    """Give an embedding ``module`` its ``(num_embeddings, embedding_dim)`` weight: ``_weight``
    (whose shape is checked), or a fresh one drawn by ``module.reset_parameters()``."""
    shape = (module.num_embeddings, module.embedding_dim)
    if _weight is None:
        module.weight = Parameter(
            creation.empty(shape, device=device, dtype=dtype), requires_grad=requires_grad
        )
        module.reset_parameters()
    else:
        if tuple(_weight.shape) != shape:
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        module.weight = Parameter(_weight, requires_grad=requires_grad)


class Embedding(Module):
    """Row ``i`` of ``weight`` (``(num_embeddings, embedding_dim)``, initialised N(0, 1)) for each
    index ``i`` of the input. With ``padding_idx`` that row starts at zero and receives no
    gradient. ``max_norm`` renormalises looked-up rows in place, ``scale_grad_by_freq`` divides
    gradients by index frequency; ``sparse=True`` raises when the weight is trained (tracegrad has no sparse
    gradients); with a frozen weight it changes nothing and is accepted."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings, "Padding_idx")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        _init_weight(self, _weight, not _freeze, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draw ``weight`` from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq=True"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An ``Embedding`` holding ``embeddings`` (2-D) as its weight; ``freeze`` (default)
        makes it not require grad."""
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(
            num_embeddings=rows,
            embedding_dim=cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )
