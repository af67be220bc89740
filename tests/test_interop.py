"""A tensor's dealings outside tracegrad (buffers, DLPack, host callables, the container
protocol), legacy spellings, post-accumulate hooks and the global numeric switches, against
PyTorch on the same calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg

torch = pytest.importorskip("torch")


def test_data_ptr_is_shared_by_aliases_and_distinct_for_copies():
    x = tg.arange(6.0)
    assert x.data_ptr() == x.detach().data_ptr() == tg.Tensor(x).data_ptr() != 0
    assert x.clone().data_ptr() != x.data_ptr()
    assert tg.ones(0).data_ptr() == 0 == torch.ones(0).data_ptr()
    assert x.const_data_ptr() == x.data_ptr()


def test_dlpack_round_trips_through_numpy_and_pytorch():
    x = tg.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.from_dlpack(x), np.arange(6.0).reshape(2, 3))
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float32 and t.shape == (2, 3)
    back = tg.from_dlpack(torch.arange(4, dtype=torch.int64))
    assert back.dtype == tg.int64 and back.tolist() == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="require gradient"):
        tg.ones(2, requires_grad=True).__dlpack__()


@pytest.mark.parametrize(
    "name,args",
    [
        ("apply_", (lambda v: v * 2 + 1,)),
        ("map_", ("other", lambda a, b: a * b - 1)),
        ("map2_", ("other", "third", lambda s, a, b: s + a * b)),
    ],
)
def test_host_callables_match_pytorch(name, args):
    data = np.arange(6.0).reshape(2, 3)
    other, third = np.linspace(-1, 1, 3), np.full((2, 3), 0.5)
    results = []
    for lib in (tg, torch):
        x = lib.tensor(data)
        real = [
            lib.tensor(other) if a == "other" else lib.tensor(third) if a == "third" else a
            for a in args
        ]
        assert getattr(x, name)(*real) is x
        results.append(np.array(x.tolist()))
    np.testing.assert_array_equal(*results)
    with pytest.raises(RuntimeError, match="requires grad"):
        tg.ones(2, requires_grad=True).apply_(lambda v: v)


def test_contains_reversed_and_the_legacy_new_match_pytorch():
    for lib in (tg, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert (3.0 in x, 5 in x, lib.tensor(2.0) in x) == (True, False, True)
        assert [r.tolist() for r in reversed(x)] == [[3.0, 4.0], [1.0, 2.0]]
        with pytest.raises(RuntimeError, match="only supports Tensor or scalar"):
            "a" in x  # noqa: B015
        assert x.new([1, 2]).dtype == lib.float32 and x.new([1, 2]).tolist() == [1.0, 2.0]
        assert x.new(2, 3).shape == (2, 3) and x.new().shape == (0,)
        assert x.long().new([7]).dtype == lib.int64
        assert x.dim_order() == (0, 1) and x.to_dense() is x
        assert not x.is_pinned() and not x.is_shared() and x.name is None
    with pytest.warns(UserWarning, match="volatile was removed"):
        assert tg.ones(1).volatile is False
    assert tg.typename(3) == torch.typename(3) == "int"
    assert tg.typename(tg.ones(1, dtype=tg.int64)) == tg.ones(1, dtype=tg.int64).type()
    with pytest.raises(NotImplementedError, match="share_memory_"):
        tg.ones(1).share_memory_()


def test_post_accumulate_grad_hook_steps_parameters_like_pytorch():
    """The optimizer-in-backward pattern: each parameter is updated as soon as its gradient has
    accumulated."""
    results = []
    for lib in (tg, torch):
        w = lib.nn.Parameter(lib.tensor([1.0, -2.0]))
        b = lib.nn.Parameter(lib.tensor(0.5))
        seen = []

        def hook(p, lib=lib, seen=seen):
            seen.append(p.grad.clone().tolist())
            with lib.no_grad():
                p.sub_(0.1 * p.grad)
            p.grad = None

        handles = [p.register_post_accumulate_grad_hook(hook) for p in (w, b)]
        for _ in range(2):
            ((w * lib.tensor([3.0, 4.0])).sum() * b).backward()
        handles[1].remove()
        (w.sum() + b).backward()
        results.append((w.tolist(), b.item(), b.grad.item(), sorted(map(str, seen))))
    assert results[0] == results[1]
    x = tg.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        x.register_post_accumulate_grad_hook(lambda p: None)


def test_set_default_tensor_type_and_float32_matmul_precision():
    before = tg.get_default_dtype()
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            tg.set_default_tensor_type("torch.DoubleTensor")
        assert tg.ones(1).dtype == tg.float64
        with pytest.warns(UserWarning):
            tg.set_default_tensor_type(tg.FloatTensor)
        assert tg.ones(1).dtype == tg.float32
        with pytest.raises(TypeError, match="only floating-point"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tg.set_default_tensor_type(tg.LongTensor)
    finally:
        tg.set_default_dtype(before)
    assert tg.get_float32_matmul_precision() == "highest"  # JAX's CPU default is full float32
    try:
        for p in ("high", "medium", "highest"):
            tg.set_float32_matmul_precision(p)
            assert tg.get_float32_matmul_precision() == p
        assert tg.backends.cuda.matmul.allow_tf32 is False
        with pytest.raises(RuntimeError, match="Invalid float32 matmul precision"):
            tg.set_float32_matmul_precision("low")
    finally:
        import jax

        jax.config.update("jax_default_matmul_precision", None)
    assert not tg.are_deterministic_algorithms_enabled()
    assert tg.detach(tg.ones(1, requires_grad=True)).requires_grad is False
    assert tg.get_device(tg.ones(1)) == torch.get_device(torch.ones(1)) == -1


def test_small_conversions_and_queries_match_pytorch():
    for lib in (tg, torch):
        x = lib.tensor([1.5, -2.0])
        assert x.char().dtype == lib.int8 and x.char().tolist() == [1, -2]
        assert not lib.is_storage(x) and x.isreal().tolist() == [True, True]
        e = x.new_empty_strided((2, 3), (3, 1))
        assert e.shape == (2, 3) and e.dtype == lib.float32 and e.stride() == (3, 1)
    with pytest.raises(NotImplementedError, match="complex32"):
        tg.ones(1).chalf()
