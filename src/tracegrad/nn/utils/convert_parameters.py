"""``parameters_to_vector`` and ``vector_to_parameters``, as ``torch.nn.utils``."""

from __future__ import annotations

from collections.abc import Iterable

from ...autograd.grad_mode import no_grad
from ...ops.shape import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_device(param: Tensor, old_device):
    if old_device is not None and param.device != old_device:
        raise TypeError(
            "Found two parameters on different devices, this is currently not supported."
        )
    return param.device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All ``parameters`` flattened and concatenated into one 1-D tensor (recorded, so gradients
    flow back to the parameters)."""
    device, vec = None, []
    for p in parameters:
        device = _check_device(p, device)
        vec.append(p.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place: the parameter
    objects are kept)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected tracegrad.Tensor, but got: {type(vec).__name__}")
    device, pointer = None, 0
    with no_grad():
        for p in parameters:
            device = _check_device(p, device)
            n = p.numel()
            p.data = vec[pointer : pointer + n].reshape(tuple(p.shape)).to(p.dtype)
            pointer += n
