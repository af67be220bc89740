"""``nn.utils.rnn``: packing and padding of variable-length batches. Without PyTorch: the packed
layout and gradients against hand-worked examples (the layout PyTorch documents). With PyTorch:
values, the packed ``data`` ordering, lengths, permutations and gradients equal its own for every
option, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.nn.utils import rnn as R

from .tiers import slow, slow_after


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy())


# --- without PyTorch: exact layouts -------------------------------------------------------------


def test_pack_sequence_layout_is_time_major_longest_first():
    # PyTorch's documented example: data ``abc`` and ``x`` pack to ``axbc``.
    p = R.pack_sequence([tg.tensor([1, 2, 3]), tg.tensor([4, 5]), tg.tensor([6])])
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3]
    assert p.batch_sizes.tolist() == [3, 2, 1]
    assert p.batch_sizes.dtype == tg.int64 and p.batch_sizes.device.type == "cpu"
    assert p.sorted_indices is None and p.unsorted_indices is None
    assert p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    padded, lengths = R.pad_packed_sequence(p, batch_first=True, padding_value=-1)
    assert padded.tolist() == [[1, 2, 3], [4, 5, -1], [6, -1, -1]]
    assert lengths.tolist() == [3, 2, 1] and lengths.dtype == tg.int64


def test_unsorted_batch_keeps_its_permutation():
    seqs = [tg.tensor([1, 2]), tg.tensor([3]), tg.tensor([4, 5, 6])]
    p = R.pack_sequence(seqs, enforce_sorted=False)
    assert p.sorted_indices.tolist() == [2, 0, 1]
    assert p.unsorted_indices.tolist() == [1, 2, 0]
    assert p.data.tolist() == [4, 1, 3, 5, 2, 6]
    assert [s.tolist() for s in R.unpack_sequence(p)] == [[1, 2], [3], [4, 5, 6]]


def test_packing_gradient_routes_each_cotangent_to_its_step():
    # d(sum(w * pack(x).data))/dx puts w's entries where they came from and zeros in the padding.
    x = tg.arange(12.0).reshape(3, 4).requires_grad_()  # (T=3, B=4)
    p = R.pack_padded_sequence(x, [3, 2, 2, 1])
    assert p.data.tolist() == [0, 1, 2, 3, 4, 5, 6, 8]
    w = tg.arange(1.0, 9.0)
    (p.data * w).sum().backward()
    assert x.grad.tolist() == [[1, 2, 3, 4], [5, 6, 7, 0], [8, 0, 0, 0]]


def test_unpacking_gradient_skips_the_padding():
    data = tg.tensor([1.0, 4.0, 6.0, 2.0, 5.0, 3.0], requires_grad=True)
    p = R.PackedSequence(data, tg.tensor([3, 2, 1]))
    padded, _ = R.pad_packed_sequence(p, padding_value=9.0)  # (T=3, B=3)
    (padded * tg.arange(9.0).reshape(3, 3)).sum().backward()
    # data[k] sits at (t, b) = (0,0) (0,1) (0,2) (1,0) (1,1) (2,0)
    assert data.grad.tolist() == [0, 1, 2, 3, 4, 6]


def test_pad_sequence_left_and_right():
    seqs = [tg.tensor([1.0]), tg.tensor([2.0, 3.0])]
    assert R.pad_sequence(seqs, batch_first=True).tolist() == [[1, 0], [2, 3]]
    assert R.pad_sequence(seqs, True, 7.0, "left").tolist() == [[7, 1], [2, 3]]
    assert R.pad_sequence(seqs).tolist() == [[1, 2], [0, 3]]


def test_invert_permutation():
    assert R.invert_permutation(tg.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert R.invert_permutation(None) is None


# --- against PyTorch ----------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _pair(x: np.ndarray, grad: bool = True):
    torch = _torch()
    a = torch.tensor(x, requires_grad=grad and x.dtype.kind == "f")
    b = tg.tensor(x, requires_grad=grad and x.dtype.kind == "f")
    return a, b


def _same_packed(p_tg, p_torch):
    assert type(p_tg).__name__ == "PackedSequence"
    for got, ref in zip(p_tg, p_torch, strict=True):
        if ref is None:
            assert got is None
        else:
            np.testing.assert_array_equal(_np(got), ref.detach().numpy())
            assert str(got.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]


def _backward_both(out_torch, out_tg, seed=0):
    torch = _torch()
    cot = np.random.default_rng(seed).standard_normal(tuple(out_torch.shape))
    out_torch.backward(torch.tensor(cot, dtype=out_torch.dtype))
    out_tg.backward(tg.tensor(cot, dtype=out_tg.dtype))


PACK_CASES = slow_after(
    [
        (False, False, [2, 5, 1, 5]),
        (True, True, [5, 4, 4, 1]),
        (False, True, [5, 3, 3, 2]),
        (True, False, [1, 2, 3, 2]),
        (False, False, [3, 3, 3, 3]),
    ],
    keep=2,
    multi=True,
)


@pytest.mark.parametrize("batch_first,enforce_sorted,lengths", PACK_CASES)
def test_pack_pad_roundtrip_matches_pytorch(batch_first, enforce_sorted, lengths):
    torch = _torch()
    tr = torch.nn.utils.rnn
    shape = (4, 6, 3) if batch_first else (6, 4, 3)
    x = np.random.default_rng(1).standard_normal(shape)
    a, b = _pair(x)
    lens_torch = torch.tensor(lengths) if enforce_sorted else lengths
    lens_tg = tg.tensor(lengths) if enforce_sorted else lengths
    pa = tr.pack_padded_sequence(a, lens_torch, batch_first, enforce_sorted)
    pb = R.pack_padded_sequence(b, lens_tg, batch_first, enforce_sorted)
    _same_packed(pb, pa)
    for total in (None, 8):
        ua, la = tr.pad_packed_sequence(pa, batch_first, -2.5, total)
        ub, lb = R.pad_packed_sequence(pb, batch_first, -2.5, total)
        np.testing.assert_array_equal(_np(ub), ua.detach().numpy())
        np.testing.assert_array_equal(_np(lb), la.numpy())
        assert lb.dtype == tg.int64
    _backward_both(ua * ua, ub * ub)
    np.testing.assert_allclose(_np(b.grad), a.grad.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "batch_first,side,trailing",
    slow_after(
        [(False, "right", (2,)), (True, "left", ()), (True, "right", (2, 3)), (False, "left", ())],
        keep=2,
        multi=True,
    ),
)
def test_pad_sequence_matches_pytorch(batch_first, side, trailing):
    torch = _torch()
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((n, *trailing)) for n in (3, 1, 4)]
    pairs = [_pair(x) for x in xs]
    ref = torch.nn.utils.rnn.pad_sequence([p[0] for p in pairs], batch_first, 0.5, side)
    got = R.pad_sequence([p[1] for p in pairs], batch_first, 0.5, side)
    np.testing.assert_array_equal(_np(got), ref.detach().numpy())
    _backward_both(ref, got)
    for a, b in pairs:
        np.testing.assert_array_equal(_np(b.grad), a.grad.numpy())


def test_pad_sequence_dtype_and_broadcast_follow_the_first_sequence():
    torch = _torch()
    cases = [
        [np.array([1, 2]), np.array([1.5, -2.7, 3.2])],  # ints first: the floats are truncated
        [np.zeros((2, 3)), np.ones((1, 1))],  # broadcast into the padded row
    ]
    for xs in cases:
        ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(x) for x in xs])
        got = R.pad_sequence([tg.tensor(x) for x in xs])
        np.testing.assert_array_equal(_np(got), ref.numpy())
        assert str(got.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    x = np.arange(6.0).reshape(3, 2)
    ref = torch.nn.utils.rnn.pad_sequence(torch.tensor(x))  # a tensor is a sequence of its rows
    np.testing.assert_array_equal(_np(R.pad_sequence(tg.tensor(x))), ref.numpy())


def test_pack_sequence_and_unpack_sequence_match_pytorch():
    torch = _torch()
    tr = torch.nn.utils.rnn
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((n, 2)) for n in (2, 5, 3)]
    pairs = [_pair(x) for x in xs]
    pa = tr.pack_sequence([p[0] for p in pairs], enforce_sorted=False)
    pb = R.pack_sequence([p[1] for p in pairs], enforce_sorted=False)
    _same_packed(pb, pa)
    ua, ub = tr.unpack_sequence(pa), R.unpack_sequence(pb)
    for got, ref in zip(ub, ua, strict=True):
        np.testing.assert_array_equal(_np(got), ref.detach().numpy())
    sum((r * r).sum() for r in ua).backward()
    sum((g * g).sum() for g in ub).backward()
    for a, b in pairs:
        np.testing.assert_allclose(_np(b.grad), a.grad.numpy(), rtol=1e-12)


def test_unpad_sequence_matches_pytorch_including_its_in_place_transpose():
    torch = _torch()
    x = np.random.default_rng(4).standard_normal((4, 3, 2))
    a, b = torch.tensor(x) * 1, tg.tensor(x) * 1
    ref = torch.nn.utils.rnn.unpad_sequence(a, torch.tensor([4, 1, 2]))
    got = R.unpad_sequence(b, tg.tensor([4, 1, 2]))
    assert tuple(b.shape) == tuple(a.shape) == (3, 4, 2)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(_np(g), r.numpy())
    leaf_a = torch.zeros(2, 2, requires_grad=True)
    leaf_b = tg.zeros(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        torch.nn.utils.rnn.unpad_sequence(leaf_a, torch.tensor([1, 1]))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        R.unpad_sequence(leaf_b, tg.tensor([1, 1]))


def test_packed_sequence_construction_and_conversion():
    torch = _torch()
    p = R.pack_sequence([tg.tensor([1, 2, 3]), tg.tensor([4])], enforce_sorted=False)
    q = R.PackedSequence((p.data, p.batch_sizes), sorted_indices=tg.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]
    assert p.to(tg.int64) is p
    d = p.double()
    assert type(d) is R.PackedSequence and d.data.dtype == tg.float64
    assert d.batch_sizes is p.batch_sizes and d.sorted_indices.tolist() == [0, 1]
    assert p.float().data.dtype == tg.float32 and p.long() is p
    assert p.is_cuda is False and p.is_pinned() is False
    assert repr(p).startswith("PackedSequence(data=tensor([1, 4, 2, 3])")
    with pytest.raises(AssertionError, match="list or tuple of length 2"):
        R.PackedSequence(p.data)
    ref = torch.nn.utils.rnn.PackedSequence(torch.tensor([1, 4, 2, 3]), torch.tensor([2, 1, 1]))
    assert type(ref).__mro__[1].__name__ == type(p).__mro__[1].__name__ == "PackedSequence_"


def _raises_same(fn_torch, fn_tg):
    with pytest.raises(Exception) as ref:
        fn_torch()
    with pytest.raises(type(ref.value)) as got:
        fn_tg()
    assert str(got.value) == str(ref.value)


ERRORS = [
    ("pack", dict(lengths=[1, 3, 2, 2])),
    ("pack", dict(lengths=[3, 2])),
    ("pack", dict(lengths=[3, 2, 2, 0])),
    ("pack", dict(lengths=[[3, 2], [2, 1]])),
    ("pad_seq", dict(sequences=[])),
    ("pad_seq", dict(sequences=5)),
    ("pad_seq", dict(sequences=[np.zeros((2, 3)), np.zeros((3, 4))])),
    ("pad_seq", dict(sequences=[np.zeros(2)], padding_side="middle")),
    ("unpack", dict(total_length=2)),
    ("empty", dict(lengths=[])),
]


@pytest.mark.parametrize("kind,kwargs", slow_after(ERRORS, keep=3, multi=True))
def test_errors_match_pytorch(kind, kwargs):
    torch = _torch()
    tr = torch.nn.utils.rnn
    x = np.zeros((3, 4, 2))

    def call(lib, mod):
        if kind == "pack":
            return lambda: mod.pack_padded_sequence(lib.tensor(x), **kwargs)
        if kind == "empty":
            return lambda: mod.pack_padded_sequence(lib.zeros(0, 3), **kwargs)
        if kind == "pad_seq":
            seqs = kwargs["sequences"]
            seqs = [lib.tensor(s) for s in seqs] if isinstance(seqs, list) else seqs
            rest = {k: v for k, v in kwargs.items() if k != "sequences"}
            return lambda: mod.pad_sequence(seqs, **rest)
        packed = mod.pack_sequence([lib.tensor([1, 2, 3]), lib.tensor([4])])
        return lambda: mod.pad_packed_sequence(packed, **kwargs)

    _raises_same(call(torch, tr), call(tg, R))


def test_lengths_past_the_input_are_refused():
    # PyTorch reads past the end of the input here; tracegrad raises instead.
    with pytest.raises(RuntimeError, match="exceeds the padded input's number of steps"):
        R.pack_padded_sequence(tg.zeros(3, 2), [4, 1])


@slow
def test_integer_and_float_lengths_tensors_match_pytorch():
    torch = _torch()
    x = np.random.default_rng(5).standard_normal((3, 2))
    for lens in ([3.0, 2.0], (3, 2)):
        ref = torch.nn.utils.rnn.pack_padded_sequence(
            torch.tensor(x), torch.tensor(lens) if isinstance(lens, list) else lens
        )
        got = R.pack_padded_sequence(
            tg.tensor(x), tg.tensor(lens) if isinstance(lens, list) else lens
        )
        _same_packed(got, ref)
