"""``tracegrad.distributed`` (``torch.distributed`` on JAX's mesh): the process group on one
process, collectives, ``DistributedSampler`` against PyTorch's, ``DistributedDataParallel`` and
``fully_shard`` on 8 simulated CPU devices against the same training on one device, and two
processes on localhost joined by ``jax.distributed`` (4 simulated devices each)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

import tracegrad as tg
import tracegrad.distributed as dist
from tracegrad import nn
from tracegrad.nn.parallel import DistributedDataParallel

torch = pytest.importorskip("torch")


@pytest.fixture
def group():
    dist.init_process_group("gloo")
    yield
    dist.destroy_process_group()


def test_single_host_process_group_is_recorded(group):
    assert dist.is_available() and dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "gloo")
    assert dist.new_group() is dist.group.WORLD
    with pytest.raises(ValueError, match="twice"):
        dist.init_process_group()


def test_not_initialized_raises_pytorchs_error():
    assert not dist.is_initialized()
    for f in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError) as mine:
            f()
        with pytest.raises(ValueError) as theirs:
            getattr(torch.distributed, f.__name__)()
        assert str(mine.value) == str(theirs.value)


def test_errors(group):
    with pytest.raises(NotImplementedError, match="Mesh"):
        dist.new_group([0, 1])
    with pytest.raises(ValueError, match="src=1"):
        dist.broadcast(tg.zeros(2), src=1)
    with pytest.raises(ValueError, match="world size"):
        dist.all_gather([tg.zeros(2), tg.zeros(2)], tg.zeros(2))
    with pytest.raises(NotImplementedError, match="dimension 0"):
        DistributedDataParallel(nn.Linear(2, 2), dim=1)
    x = tg.ones(4, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="autograd graph"):
        dist.shard(x, dist.mesh(), dist.PartitionSpec())


def test_several_processes_need_a_coordinator(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        dist.init_process_group(world_size=2, rank=0)
    assert not dist.is_initialized()


def test_collectives_on_one_process_are_the_identity(group):
    t = tg.tensor([1.0, 2.0, 3.0])
    assert dist.all_reduce(t) is None and t.tolist() == [1.0, 2.0, 3.0]
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    assert dist.all_reduce(t, async_op=True).wait()
    out = [tg.zeros(3)]
    dist.all_gather(out, t)
    assert out[0].tolist() == t.tolist()
    whole = tg.zeros(3)
    dist.all_gather_into_tensor(whole, t)
    assert whole.tolist() == t.tolist()
    dist.broadcast(t, src=0)
    part = tg.zeros(3)
    dist.reduce_scatter_tensor(part, t)
    assert part.tolist() == t.tolist()
    objs = [None]
    dist.all_gather_object(objs, {"a": 1})
    assert objs == [{"a": 1}]
    dist.barrier()


def test_ddp_module_and_state_dict(group):
    inner = nn.Linear(3, 2)
    ddp = DistributedDataParallel(inner)
    assert ddp.module is inner
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]
    assert list(ddp.module.state_dict()) == ["weight", "bias"]
    tm = torch.nn.parallel.DistributedDataParallel  # the same prefix in PyTorch's
    assert "module" in tm.__init__.__code__.co_varnames
    with ddp.no_sync():
        ddp(tg.ones(4, 3)).sum().backward()
    assert inner.weight.grad.shape == (2, 3)


CASES = [(10, 3, r, d) for r in range(3) for d in (False, True)] + [
    (7, 4, 3, False), (7, 4, 3, True), (2, 5, 4, False), (8, 2, 1, True), (1, 3, 2, False),
]  # fmt: skip


@pytest.mark.parametrize("n,replicas,rank,drop_last", CASES)
def test_distributed_sampler_matches_pytorch(n, replicas, rank, drop_last):
    kw = dict(num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
    mine = tg.utils.data.DistributedSampler(range(n), **kw)
    theirs = torch.utils.data.DistributedSampler(range(n), **kw)
    assert list(mine) == list(theirs)
    assert len(mine) == len(theirs) and mine.total_size == theirs.total_size


def test_distributed_sampler_shuffle_partitions_and_follows_epoch():
    parts = [
        list(tg.utils.data.distributed.DistributedSampler(range(12), 3, r, seed=5))
        for r in range(3)
    ]
    assert sorted(sum(parts, [])) == list(range(12))  # the ranks share one permutation
    s = tg.utils.data.DistributedSampler(range(12), 3, 0, seed=5)
    first = list(s)
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first


def test_distributed_sampler_defaults_to_the_process_group(group):
    s = tg.utils.data.DistributedSampler(range(5), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (1, 0, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="Invalid rank 2"):
        tg.utils.data.DistributedSampler(range(5), num_replicas=2, rank=2)


def _run(script: str, devices: int, timeout: int = 240, **env) -> str:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", **env)
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


EIGHT = textwrap.dedent(
    """
    import jax, numpy as np
    import tracegrad as tg
    import tracegrad.distributed as dist
    import tracegrad.nn.functional as F
    from tracegrad import nn, optim
    from tracegrad.nn.parallel import DistributedDataParallel as DDP
    from jax.sharding import PartitionSpec as P

    assert len(jax.devices()) == 8
    dist.init_process_group("gloo")
    assert dist.get_world_size() == 1 and dist.get_rank() == 0

    def make():
        tg.manual_seed(0)
        return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))

    def data():
        rng = np.random.default_rng(0)
        return [(rng.standard_normal((32, 10)).astype(np.float32), rng.integers(0, 3, 32)) for _ in range(3)]

    def train(wrap, compiled, opt_cls=optim.SGD, check=None):
        model = make()
        net = wrap(model)
        kw = dict(lr=0.1, momentum=0.9) if opt_cls is optim.SGD else dict(lr=0.01)
        opt = opt_cls(net.parameters(), **kw)
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss
        if compiled:
            step = tg.compile(step)
        losses = []
        for x, y in data():
            losses.append(step(tg.tensor(x), tg.tensor(y)).item())
            if check: check(model, opt)
        return losses, [np.asarray(p._storage.array) for p in model.parameters()], model, opt

    def compare(a, b, tag):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
        for p, q in zip(a[1], b[1]):
            np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
        print(tag, "max loss diff", max(abs(u - v) for u, v in zip(a[0], b[0])))

    def replicated(model, opt):
        for p in model.parameters():
            assert p._storage.array.sharding.is_fully_replicated and len(p._storage.array.sharding.device_set) == 8
            if p.grad is not None:
                g = p.grad._storage.array
                assert len(g.sharding.device_set) == 8 and g.sharding.is_fully_replicated, g.sharding

    for compiled in (False, True):
        ref = train(lambda m: m, compiled)
        got = train(DDP, compiled, check=replicated)
        compare(got, ref, f"ddp compiled={compiled}")

    def sharded(model, opt):
        w = model[0].weight._storage.array
        assert w.sharding.shard_shape(w.shape) == (2, 10), w.sharding
        assert {s.data.shape for s in w.addressable_shards} == {(2, 10)}
        b = model[2].bias._storage.array  # 3 does not divide by 8: replicated
        assert b.sharding.is_fully_replicated
        for p in model.parameters():
            st = opt.state.get(p)
            if st:
                assert st["exp_avg"]._storage.array.sharding == p._storage.array.sharding, (st["exp_avg"]._storage.array.sharding, p._storage.array.sharding)

    for compiled in (False, True):
        ref = train(lambda m: m, compiled, optim.Adam)
        got = train(dist.fully_shard, compiled, optim.Adam, check=sharded)
        compare(got, ref, f"fsdp compiled={compiled}")
        w = got[2][0].weight._storage.array
        print("shard", w.shape, "->", w.sharding.shard_shape(w.shape))

    m2 = dist.mesh((4, 2), ("data", "model"))
    x = dist.shard(tg.ones(8, 6), m2, P("data", "model"))
    a = x._storage.array
    assert a.sharding.shard_shape(a.shape) == (2, 3)
    assert {s.data.shape for s in a.addressable_shards} == {(2, 3)}
    assert (x * 2).sum().item() == 96
    print("ok")
    """
)


def test_ddp_and_fully_shard_on_8_devices_match_one_device():
    out = _run(EIGHT, 8)
    assert out.strip().endswith("ok"), out


MULTIHOST = textwrap.dedent(
    """
    import os, sys
    import tracegrad as tg
    import tracegrad.distributed as dist
    dist.init_process_group("gloo")
    import jax, numpy as np
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == 2 and len(jax.devices()) == 8 and len(jax.local_devices()) == 4, (world, jax.devices())
    t = tg.tensor([float(rank + 1)] * 3)
    dist.all_reduce(t)
    assert t.tolist() == [3.0] * 3, t
    out = [tg.zeros(3) for _ in range(2)]
    dist.all_gather(out, tg.tensor([float(rank)] * 3))
    assert [o.tolist()[0] for o in out] == [0.0, 1.0]
    b = tg.tensor([float(rank + 5)])
    dist.broadcast(b, src=1)
    assert b.tolist() == [6.0]
    s = tg.zeros(2)
    dist.reduce_scatter_tensor(s, tg.arange(4.0))
    assert s.tolist() == [2.0 * (2 * rank), 2.0 * (2 * rank + 1)], s
    dist.barrier()
    print("collectives ok", rank, flush=True)
    import tracegrad.nn.functional as F
    from tracegrad import nn, optim
    from tracegrad.nn.parallel import DistributedDataParallel as DDP

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((32, 10)).astype(np.float32), rng.integers(0, 3, 32)) for _ in range(3)]

    def train(ddp):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
        net = DDP(model) if ddp else model
        opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for x, y in batches:
            if ddp:  # this process's half of the global batch, as a PyTorch rank gets
                x, y = x[rank * 16 : (rank + 1) * 16], y[rank * 16 : (rank + 1) * 16]
            opt.zero_grad()
            out = net(tg.tensor(x))
            if ddp:
                y = dist.shard_batch(tg.tensor(y))
            else:
                y = tg.tensor(y)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, [np.asarray(p._storage.array) for p in model.parameters()]

    ref = train(False)
    got = train(True)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    for a, b in zip(got[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("ddp ok", rank, got[0], flush=True)
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_on_localhost():
    """Two processes of 4 simulated CPU devices each, joined by ``init_process_group`` (which
    calls ``jax.distributed.initialize``): collectives across them, and DDP with each feeding
    half of the batch gives the one-process losses and parameters."""
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, MASTER_ADDR="localhost", MASTER_PORT=str(port), WORLD_SIZE="2")
        env.update(RANK=str(rank), JAX_PLATFORMS="cpu")
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", MULTIHOST],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=180))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for rank, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, err[-3000:]
        assert f"collectives ok {rank}" in out and f"ddp ok {rank}" in out, out
