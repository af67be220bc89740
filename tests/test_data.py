"""tracegrad.utils.data: datasets, samplers, default_collate and DataLoader, against numpy and
(when installed) torch.utils.data."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import tracegrad
from tracegrad.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    Generator,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)


def _xy(n=10):
    x = tracegrad.arange(n * 2, dtype=tracegrad.float32).reshape(n, 2)
    y = tracegrad.arange(n)
    return TensorDataset(x, y)


def _order(loader) -> list[int]:
    return [int(i) for _, y in loader for i in y.tolist()]


class Squares(Dataset):
    """A plain map-style dataset (no fast path) returning dict samples."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i, "name": f"item{i}"}


# ------------------------------------------------------------------------------------ datasets
def test_tensor_dataset_items_and_len():
    ds = _xy(5)
    assert len(ds) == 5
    x, y = ds[3]
    np.testing.assert_array_equal(x.numpy(), [6.0, 7.0])
    assert y.item() == 3
    assert isinstance(ds, Dataset)


def test_tensor_dataset_size_mismatch():
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(tracegrad.zeros(3, 2), tracegrad.zeros(4))


def test_concat_and_subset():
    a, b = _xy(3), _xy(4)
    c = a + b
    assert isinstance(c, ConcatDataset) and len(c) == 7 and c.cumulative_sizes == [3, 7]
    assert c[3][1].item() == 0 and c[6][1].item() == 3 and c[-1][1].item() == 3
    with pytest.raises(ValueError, match="absolute value of index"):
        c[-8]
    with pytest.raises(AssertionError, match="empty iterable"):
        ConcatDataset([])
    s = Subset(b, [3, 1])
    assert len(s) == 2 and s[0][1].item() == 3 and s[1][1].item() == 1


def test_base_dataset_getitem_not_implemented():
    with pytest.raises(NotImplementedError):
        Dataset()[0]


@pytest.mark.parametrize(
    "n, lengths, sizes",
    [
        (10, [3, 7], [3, 7]),
        (10, [0.3, 0.3, 0.4], [3, 3, 4]),
        (11, [0.5, 0.25, 0.25], [6, 3, 2]),  # floor then remainder round robin
        (7, [0.1, 0.9], [1, 6]),
    ],
)
def test_random_split_sizes_and_disjointness(n, lengths, sizes):
    parts = random_split(range(n), lengths, generator=Generator().manual_seed(0))
    assert [len(p) for p in parts] == sizes
    items = [p[i] for p in parts for i in range(len(p))]
    assert sorted(items) == list(range(n))  # disjoint and covering


def test_random_split_sizes_match_torch():
    torch = pytest.importorskip("torch")
    for n, lengths in [
        (10, [0.3, 0.3, 0.4]),
        (11, [0.5, 0.25, 0.25]),
        (7, [0.1, 0.9]),
        (5, [1, 4]),
    ]:
        ours = [len(p) for p in random_split(range(n), lengths)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), lengths)]
        assert ours == theirs


def test_random_split_reproducible_and_errors():
    tracegrad.manual_seed(3)
    a = random_split(range(20), [10, 10])[0].indices
    tracegrad.manual_seed(3)
    b = random_split(range(20), [10, 10])[0].indices
    assert a == b
    g1, g2 = Generator().manual_seed(5), Generator().manual_seed(5)
    assert random_split(range(20), [0.5, 0.5], g1)[1].indices == (
        random_split(range(20), [0.5, 0.5], g2)[1].indices
    )
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])


# -------------------------------------------------------------------------------------- collate
def test_collate_tensors_stack():
    out = default_collate([tracegrad.ones(2, 3), tracegrad.zeros(2, 3)])
    assert out.shape == (2, 2, 3) and out.dtype == tracegrad.float32
    np.testing.assert_array_equal(out.numpy()[0], np.ones((2, 3)))


def test_collate_numbers():
    f = default_collate([1.5, 2.0])
    assert f.dtype == tracegrad.float64 and f.tolist() == [1.5, 2.0]
    i = default_collate([1, 2, 3])
    assert i.dtype == tracegrad.int64 and i.tolist() == [1, 2, 3]
    b = default_collate([True, False])
    assert b.dtype == tracegrad.bool and b.tolist() == [True, False]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_collate_numpy_keeps_dtype():
    out = default_collate([np.ones(3, np.float64), np.zeros(3, np.float64)])
    assert out.dtype == tracegrad.float64 and out.shape == (2, 3)
    out = default_collate([np.int32(1), np.int32(4)])
    assert out.dtype == tracegrad.int32 and out.tolist() == [1, 4]
    out = default_collate([np.float64(1), np.float64(4)])
    assert out.dtype == tracegrad.float64
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([np.ones(2), np.ones(3)])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_collate_containers():
    out = default_collate([(np.ones(2, np.float32), 1), (np.zeros(2, np.float32), 2)])
    assert isinstance(out, list) and out[0].shape == (2, 2) and out[1].tolist() == [1, 2]
    out = default_collate([{"a": 1.0, "b": [1, 2]}, {"a": 2.0, "b": [3, 4]}])
    assert out["a"].tolist() == [1.0, 2.0]
    assert [t.tolist() for t in out["b"]] == [[1, 3], [2, 4]]
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(out, Point) and out.x.tolist() == [1, 3] and out.y.dtype == tracegrad.float64
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])


def test_collate_matches_torch():
    torch = pytest.importorskip("torch")
    batch = [
        {"x": np.arange(3, dtype=np.float32) + i, "y": i, "w": 0.5 * i, "t": ("a", np.int16(i))}
        for i in range(4)
    ]
    ours, theirs = default_collate(batch), torch.utils.data.default_collate(batch)
    for key in ("x", "y", "w"):
        assert str(ours[key].dtype).split(".")[1] == str(theirs[key].dtype).split(".")[1]
        np.testing.assert_array_equal(ours[key].numpy(), theirs[key].numpy())
    assert ours["t"][0] == theirs["t"][0]
    np.testing.assert_array_equal(ours["t"][1].numpy(), theirs["t"][1].numpy())


def test_default_convert():
    out = default_convert({"a": np.ones(2, np.float64), "b": (1, "s")})
    assert isinstance(out["a"], tracegrad.Tensor) and out["a"].dtype == tracegrad.float64
    assert out["b"] == [1, "s"]


# ----------------------------------------------------------------------------------- DataLoader
def test_batching_len_and_last_batch():
    loader = DataLoader(_xy(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0], list)
    np.testing.assert_array_equal(batches[2][0].numpy(), [[16, 17], [18, 19]])
    assert _order(loader) == list(range(10))


def test_drop_last():
    loader = DataLoader(_xy(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert _order(loader) == list(range(8))
    assert len(DataLoader(_xy(8), batch_size=4, drop_last=True)) == 2


def test_shuffle_reproducible_with_manual_seed():
    ds = _xy(50)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    tracegrad.manual_seed(0)
    e1, e2 = _order(loader), _order(loader)
    tracegrad.manual_seed(0)
    assert _order(loader) == e1 and _order(loader) == e2
    assert sorted(e1) == list(range(50)) and e1 != list(range(50)) and e1 != e2


def test_shuffle_with_generator_is_independent_of_global_state():
    ds = _xy(30)
    a = DataLoader(ds, batch_size=7, shuffle=True, generator=Generator().manual_seed(1))
    b = DataLoader(ds, batch_size=7, shuffle=True, generator=Generator().manual_seed(1))
    tracegrad.manual_seed(0)
    first = _order(a)
    tracegrad.manual_seed(99)
    assert _order(b) == first
    tracegrad.manual_seed(0)
    r1 = tracegrad.rand(3).tolist()
    tracegrad.manual_seed(0)
    _order(a)  # a generator's draws leave the global stream alone
    assert tracegrad.rand(3).tolist() == r1


def test_generator_state_round_trip():
    g = Generator().manual_seed(7)
    assert g.initial_seed() == 7
    state = g.get_state()
    x = RandomSampler(range(10), generator=g)
    first = list(x)
    g.set_state(state)
    assert list(x) == first


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_tensor_dataset_fast_path_equals_generic_path(shuffle, drop_last):
    ds = _xy(23)

    def generic(batch):  # not default_collate itself, so the loader takes the per-item path
        return default_collate(batch)

    kw = dict(batch_size=5, shuffle=shuffle, drop_last=drop_last)
    tracegrad.manual_seed(4)
    fast = list(DataLoader(ds, **kw))
    tracegrad.manual_seed(4)
    slow = list(DataLoader(ds, collate_fn=generic, **kw))
    assert len(fast) == len(slow)
    for f, s in zip(fast, slow):
        for ft, st in zip(f, s):
            assert ft.dtype == st.dtype
            np.testing.assert_array_equal(ft.numpy(), st.numpy())


def test_fast_path_through_random_split_subsets():
    ds = _xy(20)
    train, _ = random_split(ds, [0.75, 0.25], generator=Generator().manual_seed(0))
    got = _order(DataLoader(train, batch_size=4))
    assert got == list(train.indices)


def test_fast_path_records_gradients():
    x = tracegrad.ones(6, 2, requires_grad=True)
    loader = DataLoader(TensorDataset(x), batch_size=4)
    (xb,) = next(iter(loader))
    (xb * 3).sum().backward()
    expect = np.zeros((6, 2), np.float32)
    expect[:4] = 3
    np.testing.assert_array_equal(x.grad.numpy(), expect)


def test_generic_dataset_dicts_strings():
    loader = DataLoader(Squares(5), batch_size=2)
    batch = next(iter(loader))
    assert batch["x"].shape == (2, 2) and batch["y"].tolist() == [0, 1]
    assert batch["name"] == ["item0", "item1"]
    assert len(loader) == 3


def test_batch_size_none_converts_single_samples():
    loader = DataLoader(Squares(3), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and items[2]["y"] == 2 and isinstance(items[2]["x"], tracegrad.Tensor)


def test_custom_sampler_and_batch_sampler():
    ds = _xy(6)
    order = _order(DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0]))
    assert order == [5, 4, 3, 2, 1, 0]
    loader = DataLoader(ds, batch_sampler=[[0, 5], [2]])
    assert _order(loader) == [0, 5, 2] and len(loader) == 2


def test_num_workers_runs_in_process():
    assert _order(DataLoader(_xy(7), batch_size=3, num_workers=2)) == list(range(7))
    assert get_worker_info() is None


def test_option_errors():
    ds = _xy(4)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        DataLoader(ds, batch_size=0)


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_iterable_dataset():
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2, drop_last=True)] == [
        [0, 1],
        [2, 3],
    ]
    with pytest.raises(TypeError):
        len(DataLoader(Stream(5), batch_size=2))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(5), shuffle=True)
    assert [b.tolist() for b in DataLoader(Stream(2) + Stream(2), batch_size=3)] == [
        [0, 1, 0],
        [1],
    ]


def test_loader_matches_torch_on_a_map_dataset():
    torch = pytest.importorskip("torch")
    ours = list(DataLoader(Squares(7), batch_size=3, drop_last=False))
    theirs = list(torch.utils.data.DataLoader(Squares(7), batch_size=3, drop_last=False))
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o["x"].numpy(), t["x"].numpy())
        np.testing.assert_array_equal(o["y"].numpy(), t["y"].numpy())
        assert o["name"] == t["name"]
    for n, bs, dl in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, True)]:
        assert len(DataLoader(range(n), batch_size=bs, drop_last=dl)) == len(
            torch.utils.data.DataLoader(range(n), batch_size=bs, drop_last=dl)
        )


# -------------------------------------------------------------------------------------- samplers
def test_random_sampler_options():
    tracegrad.manual_seed(0)
    twice = list(RandomSampler(range(5), num_samples=10))
    assert sorted(twice) == sorted(list(range(5)) * 2)
    draws = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(draws) == 50 and set(draws) <= {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)


def test_subset_and_weighted_samplers():
    assert sorted(SubsetRandomSampler([7, 3, 9])) == [3, 7, 9]
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], 200))
    assert len(draws) == 200 and 0 not in draws and draws.count(2) > draws.count(1)
    assert sorted(WeightedRandomSampler([1, 1, 1], 3, replacement=False)) == [0, 1, 2]


def test_batch_sampler():
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = BatchSampler(range(7), 3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, drop_last=None)
