"""PyTorch's ``layout`` and ``memory_format`` names, and the checks factories run on them.

JAX arrays are dense and have no strides, so ``tracegrad.strided`` is the only layout and
``contiguous_format`` / ``preserve_format`` the only memory formats that mean what tracegrad does.
Anything else (``sparse_coo``, ``channels_last``) raises ``NotImplementedError`` rather than being
ignored, and so does ``pin_memory=True``: there is no page-locked host memory to ask for.
"""

from __future__ import annotations

__all__ = [
    "layout",
    "memory_format",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "contiguous_format",
    "preserve_format",
    "channels_last",
    "channels_last_3d",
]


class _Named:
    """A singleton named like its PyTorch counterpart (``tracegrad.strided``); pickles by name."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"tracegrad.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


class layout(_Named):
    """A tensor layout, named as ``torch.layout``; tracegrad implements ``strided`` only."""

    __slots__ = ()


class memory_format(_Named):
    """A memory format, named as ``torch.memory_format``; JAX arrays have no strides, so only
    ``contiguous_format`` and ``preserve_format`` describe them."""

    __slots__ = ()


strided = layout("strided")
sparse_coo = layout("sparse_coo")
sparse_csr = layout("sparse_csr")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")

_ALL = {
    x.name: x
    for x in (
        strided,
        sparse_coo,
        sparse_csr,
        contiguous_format,
        preserve_format,
        channels_last,
        channels_last_3d,
    )
}


def _by_name(name: str):
    return _ALL[name]


def _name(value) -> str:
    """The name of a tracegrad (or torch) layout / memory format: ``torch.strided`` -> 'strided'."""
    return getattr(value, "name", None) or str(value).rsplit(".", 1)[-1]


def check_layout(fn: str, value) -> None:
    """Accept ``None`` and ``strided``; refuse any other layout with ``NotImplementedError``."""
    if value is not None and _name(value) != "strided":
        raise NotImplementedError(
            f"{fn}(): layout={value!r} is not supported; tracegrad tensors are dense JAX arrays "
            "(layout=strided)"
        )


def check_memory_format(fn: str, value) -> None:
    """Accept ``None``, ``contiguous_format`` and ``preserve_format``; refuse the others."""
    if value is not None and _name(value) not in ("contiguous_format", "preserve_format"):
        raise NotImplementedError(
            f"{fn}(): memory_format={value!r} is not supported; JAX arrays have no strides (XLA "
            "picks the layout), so drop the argument"
        )


def contiguous_strides(shape: tuple) -> tuple:
    """The strides, in elements, of a contiguous (row-major) tensor of ``shape``, as PyTorch
    computes them: each is the product of the sizes after it, a size 0 counting as 1."""
    strides = [1] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * max(shape[d + 1], 1)
    return tuple(strides)


def is_contiguous_as(shape: tuple, value) -> bool:
    """``Tensor.is_contiguous(memory_format)`` for a row-major (contiguous) tensor of ``shape``.

    PyTorch walks the dimensions in the format's order (channels first, batch last) and expects
    each non-size-1 dimension's stride to be the product of the sizes walked before it."""
    name = "contiguous_format" if value is None else _name(value)
    if name in ("contiguous_format", "preserve_format"):
        return True
    order = {"channels_last": (1, 3, 2, 0), "channels_last_3d": (1, 4, 3, 2, 0)}.get(name)
    if order is None:
        raise RuntimeError(f"is_contiguous(): unknown memory_format {value!r}")
    if len(shape) != len(order):
        return False
    strides = contiguous_strides(shape)
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def check_pin_memory(fn: str, value) -> None:
    """Accept ``pin_memory=False``; refuse ``True`` (JAX manages host buffers itself)."""
    if value:
        raise NotImplementedError(
            f"{fn}(): pin_memory=True is not supported; JAX manages host-to-device transfers "
            "itself, so drop the argument"
        )
