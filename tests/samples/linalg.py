"""Samples for the linear algebra ops (mm, bmm, dot, mv, batched matmul, addmm, linear, baddbmm, einsum)."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def _pairs(*shapes):
    return [S((arr(*a), arr(*b)), name=f"{a}x{b}") for a, b in shapes]


def _einsum(equation, *shapes, **kw):
    args = tuple(arr(*s) for s in shapes)
    if len(args) == 1:
        args = (*args, None)
    return S(args, {"equation": equation}, name=equation, **kw)


SAMPLES = {
    "mm": _pairs(((3, 4), (4, 5)), ((1, 1), (1, 1)), ((0, 4), (4, 2)), ((3, 0), (0, 2))),
    "bmm": _pairs(((2, 3, 4), (2, 4, 5)), ((1, 2, 2), (1, 2, 3)), ((0, 2, 3), (0, 3, 1))),
    "dot": _pairs(((4,), (4,)), ((1,), (1,)), ((0,), (0,))),
    "mv": _pairs(((3, 4), (4,)), ((0, 2), (2,))),
    "matmul": _pairs(
        ((2, 3, 4), (4, 5)),
        ((3, 4), (2, 4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((2, 3, 4), (2, 4, 5)),
        ((1, 3, 4), (2, 4, 1)),
        ((0, 3, 4), (4, 2)),
    ),
    "addmm": [
        S((arr(3, 5), arr(3, 4), arr(4, 5)), {"beta": 1, "alpha": 1}),
        S((arr(5), arr(3, 4), arr(4, 5)), {"beta": 0.5, "alpha": 2.0}, name="broadcast"),
        S((arr(3, 1), arr(3, 4), arr(4, 5)), {"beta": 0, "alpha": -1.0}, name="beta0"),
        S((arr(), arr(2, 3), arr(3, 2)), {"beta": 2, "alpha": 1}, name="scalar_input"),
    ],
    "linear": [
        S((arr(3, 4), arr(5, 4), arr(5))),
        S((arr(0, 4), arr(2, 4), arr(2)), name="empty_batch"),
    ],
    "baddbmm": [
        S((arr(2, 3, 5), arr(2, 3, 4), arr(2, 4, 5)), {"beta": 1, "alpha": 1}),
        S((arr(3, 5), arr(2, 3, 4), arr(2, 4, 5)), {"beta": 0.5, "alpha": 3.0}, name="bcast"),
    ],
    "einsum": [
        _einsum("ij,jk->ik", (3, 4), (4, 5)),
        _einsum("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
        _einsum("i,i->", (4,), (4,)),
        _einsum("i,j->ij", (3,), (4,)),
        _einsum("ij,ij->ij", (1, 3), (2, 3)),
        _einsum("ij,j->", (3, 4), (4,)),
        _einsum("ijk,kj->i", (2, 3, 4), (4, 3)),
        _einsum("ij->ji", (3, 4)),
        _einsum("ij->i", (3, 4)),
        _einsum("ij->", (3, 4)),
        _einsum("ii->i", (3, 3)),
        _einsum("ii->", (3, 3)),
        _einsum("iij->ij", (2, 2, 3)),
        _einsum("ii,ij->j", (3, 3), (3, 4)),
        _einsum("ik,jk->", (2, 3), (4, 3)),
        _einsum("->", ()),
        _einsum(",ij->ij", (), (2, 3)),
    ],
}
