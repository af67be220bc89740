"""einops on tracegrad tensors (docs/einops.md): the backend against ``jax.vjp`` of the same einops
pattern on JAX arrays, the layers of ``einops.layers.torch`` inside tracegrad models, and a ViT in
lucidrains' vit-pytorch style against PyTorch, float64 finite differences and ``tracegrad.compile``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow, slow_after

einops = pytest.importorskip("einops")

from einops import rearrange, repeat  # noqa: E402

from tracegrad.nn import einops_layers  # noqa: E402 - needs einops

SRC = Path(__file__).resolve().parents[1] / "src"

# (name, function of the input arrays, input shapes); each runs unchanged on JAX arrays and on
# tracegrad tensors, einops picking the backend.
CASES = [
    (
        "patches",
        lambda x: einops.rearrange(x, "b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=2, p2=2),
        [(2, 3, 4, 6)],
    ),
    ("mean", lambda x: einops.reduce(x, "b c h w -> b c", "mean"), [(2, 3, 4, 5)]),
    ("repeat", lambda x: einops.repeat(x, "1 1 d -> b 1 d", b=3), [(1, 1, 4)]),
    ("heads", lambda x: einops.rearrange(x, "b n (h d) -> b h n d", h=2), [(2, 3, 8)]),
    ("max", lambda x: einops.reduce(x, "b (h 2) (w 2) -> b h w", "max"), [(2, 4, 6)]),
    ("min", lambda x: einops.reduce(x, "... (c k) -> ... c", "min", k=3), [(2, 3, 6)]),
    ("sum", lambda x: einops.reduce(x, "a b c -> c a", "sum"), [(2, 3, 4)]),
    ("prod", lambda x: einops.reduce(x, "a b c -> b", "prod"), [(2, 3, 2)]),
    ("tile", lambda x: einops.repeat(x, "h w -> (r h) (w s)", r=2, s=3), [(2, 3)]),
    ("new_axis", lambda x: einops.repeat(x, "h w -> h k w", k=2), [(2, 3)]),
    (
        "einsum",
        lambda x, y: einops.einsum(x, y, "batch i j, j k -> batch k i"),
        [(2, 3, 4), (4, 5)],
    ),
    (
        "pack_unpack",
        lambda x, y: (
            lambda packed: (
                einops.unpack(packed[0] * 2.0, packed[1], "b *")[1]
                * einops.unpack(packed[0], packed[1], "b *")[0].sum()
            )
        )(einops.pack([x, y], "b *")),
        [(2, 3, 2), (2, 5)],
    ),
]


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    # distinct values, so min/max have unique argmins and finite differences are clean
    return [rng.permutation(int(np.prod(s))).reshape(s) / 7.0 - 1.0 for s in shapes]


@pytest.mark.parametrize(
    "name,fn,shapes", slow_after(CASES, keep=2, multi=True), ids=[c[0] for c in CASES]
)
def test_einops_matches_jax_vjp(name, fn, shapes):
    arrays = _arrays(shapes)
    inputs = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    want, vjp = jax.vjp(fn, *[jnp.asarray(a) for a in arrays])
    np.testing.assert_allclose(out.detach().numpy(), np.asarray(want), rtol=1e-12)
    assert out.grad_fn is not None
    cotangent = np.random.default_rng(1).standard_normal(want.shape)
    out.backward(tg.tensor(cotangent))
    for x, g in zip(inputs, vjp(jnp.asarray(cotangent))):
        np.testing.assert_allclose(x.grad.numpy(), np.asarray(g), rtol=1e-10, atol=1e-12)


@slow
@pytest.mark.parametrize("name,fn,shapes", CASES, ids=[c[0] for c in CASES])
def test_einops_matches_torch(name, fn, shapes):
    torch = pytest.importorskip("torch")
    arrays = _arrays(shapes)
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in arrays]
    fn(*ours).sum().backward()
    fn(*theirs).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_parse_shape_and_reductions_without_grad():
    x = tg.zeros(2, 3, 5, dtype=tg.int64)
    assert einops.parse_shape(x, "b _ w") == {"b": 2, "w": 5}
    flags = tg.tensor([[True, False], [True, True]])
    assert einops.reduce(flags, "a b -> a", "all").tolist() == [False, True]
    assert einops.reduce(flags, "a b -> b", "any").tolist() == [True, True]


@slow
def test_import_order_and_laziness():
    """``import tracegrad`` does not import einops; einops imported before or after tracegrad
    knows tracegrad tensors."""
    env = dict(os.environ, PYTHONPATH=str(SRC), JAX_PLATFORMS="cpu")
    use = "x = tracegrad.ones(2, 3)\nprint(tuple(einops.rearrange(x, 'a b -> b a').shape))\n"
    for imports in (
        "import sys, tracegrad\nassert 'einops' not in sys.modules\nimport einops\n",
        "import einops, tracegrad\n",
    ):
        run = subprocess.run(
            [sys.executable, "-c", imports + use], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "(3, 2)"


# --- layers --------------------------------------------------------------------------------------


def test_einops_layers_torch_convert_inside_tracegrad_models():
    torch = pytest.importorskip("torch")
    from einops.layers.torch import EinMix, Rearrange, Reduce

    torch.manual_seed(0)
    mix = EinMix("b t c -> b t d", weight_shape="c d", bias_shape="d", c=4, d=3)
    theirs = torch.nn.Sequential(
        Rearrange("b (t k) -> b t k", k=4), mix, Reduce("b t d -> b d", "max")
    )
    ours = tg.nn.Sequential(Rearrange("b (t k) -> b t k", k=4), mix, Reduce("b t d -> b d", "max"))
    assert [type(m) for m in ours] == [
        einops_layers.Rearrange, einops_layers.EinMix, einops_layers.Reduce,
    ]  # fmt: skip
    assert repr(ours[0]) == repr(theirs[0]) and repr(ours[2]) == repr(theirs[2])
    assert list(ours.state_dict()) == list(theirs.state_dict())

    class Net(tg.nn.Module):  # attribute assignment converts too
        def __init__(self):
            super().__init__()
            self.split = Rearrange("b (t k) -> b t k", k=4)

        def forward(self, x):
            return self.split(x)

    assert isinstance(Net().split, einops_layers.Rearrange)
    assert [n for n, _ in Net().named_modules()] == ["", "split"]

    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    xt, xo = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    yt, yo = theirs(xt), ours(xo)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    yt.square().sum().backward()
    yo.square().sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)

    with pytest.raises(TypeError, match="torch.nn.modules.linear.Linear is not a Module subclass"):
        tg.nn.Sequential(torch.nn.Linear(2, 2))


# --- a ViT as lucidrains' vit-pytorch writes it ------------------------------------------------


def make_vit(torch, Rearrange, Reduce):
    """vit-pytorch's ViT (vit_pytorch/vit.py), with mean pooling as a ``Reduce`` layer; ``torch``
    is PyTorch or tracegrad."""
    nn = torch.nn

    class FeedForward(nn.Module):
        def __init__(self, dim, hidden_dim, dropout=0.0):
            super().__init__()
            self.net = nn.Sequential(
                nn.LayerNorm(dim),
                nn.Linear(dim, hidden_dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_dim, dim),
                nn.Dropout(dropout),
            )

        def forward(self, x):
            return self.net(x)

    class Attention(nn.Module):
        def __init__(self, dim, heads=8, dim_head=64, dropout=0.0):
            super().__init__()
            inner_dim = dim_head * heads
            project_out = not (heads == 1 and dim_head == dim)
            self.heads = heads
            self.scale = dim_head**-0.5
            self.norm = nn.LayerNorm(dim)
            self.attend = nn.Softmax(dim=-1)
            self.dropout = nn.Dropout(dropout)
            self.to_qkv = nn.Linear(dim, inner_dim * 3, bias=False)
            self.to_out = (
                nn.Sequential(nn.Linear(inner_dim, dim), nn.Dropout(dropout))
                if project_out
                else nn.Identity()
            )

        def forward(self, x):
            x = self.norm(x)
            qkv = self.to_qkv(x).chunk(3, dim=-1)
            q, k, v = map(lambda t: rearrange(t, "b n (h d) -> b h n d", h=self.heads), qkv)
            dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
            attn = self.dropout(self.attend(dots))
            out = torch.matmul(attn, v)
            out = rearrange(out, "b h n d -> b n (h d)")
            return self.to_out(out)

    class Transformer(nn.Module):
        def __init__(self, dim, depth, heads, dim_head, mlp_dim, dropout=0.0):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.layers = nn.ModuleList([])
            for _ in range(depth):
                self.layers.append(
                    nn.ModuleList(
                        [
                            Attention(dim, heads=heads, dim_head=dim_head, dropout=dropout),
                            FeedForward(dim, mlp_dim, dropout=dropout),
                        ]
                    )
                )

        def forward(self, x):
            for attn, ff in self.layers:
                x = attn(x) + x
                x = ff(x) + x
            return self.norm(x)

    class ViT(nn.Module):
        def __init__(self, *, image_size, patch_size, num_classes, dim, depth, heads, mlp_dim,
                     channels=3, dim_head=64, dropout=0.0, emb_dropout=0.0):  # fmt: skip
            super().__init__()
            num_patches = (image_size // patch_size) ** 2
            patch_dim = channels * patch_size * patch_size
            self.to_patch_embedding = nn.Sequential(
                Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
                nn.LayerNorm(patch_dim),
                nn.Linear(patch_dim, dim),
                nn.LayerNorm(dim),
            )
            self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
            self.dropout = nn.Dropout(emb_dropout)
            self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout)
            self.to_latent = nn.Identity()
            self.mlp_head = nn.Sequential(
                Reduce("b n d -> b d", "mean"), nn.Linear(dim, num_classes)
            )

        def forward(self, img):
            x = self.to_patch_embedding(img)
            b, n, _ = x.shape
            cls_tokens = repeat(self.cls_token, "1 1 d -> b 1 d", b=b)
            x = torch.cat((cls_tokens, x), dim=1)
            x = x + self.pos_embedding[:, : (n + 1)]
            x = self.dropout(x)
            x = self.transformer(x)
            return self.mlp_head(self.to_latent(x))

    return ViT(image_size=8, patch_size=4, num_classes=5, dim=16, depth=2, heads=2, mlp_dim=32,
               dim_head=8)  # fmt: skip


def _batch(dtype=np.float32):
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 3, 8, 8)).astype(dtype), np.array([0, 3, 4])


@slow  # the whole model against PyTorch: the full suite (the patterns stay in the fast tier)
def test_vit_forward_and_training_step_match_pytorch():
    torch = pytest.importorskip("torch")
    from einops.layers.torch import Rearrange, Reduce

    torch.manual_seed(0)
    theirs = make_vit(torch, Rearrange, Reduce)
    ours = make_vit(tg, Rearrange, Reduce)  # einops.layers.torch, converted
    ours.load_state_dict({k: tg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    images, labels = _batch()

    def step(lib, model):
        opt = lib.optim.AdamW(model.parameters(), lr=1e-2)
        logits = model(lib.tensor(images))
        loss = lib.nn.functional.cross_entropy(logits, lib.tensor(labels))
        opt.zero_grad()
        loss.backward()
        grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
        opt.step()
        return logits.detach().numpy(), loss.item(), grads

    (lt, losst, gt), (lo, losso, go) = step(torch, theirs), step(tg, ours)
    np.testing.assert_allclose(lo, lt, rtol=1e-4, atol=1e-5)
    assert losso == pytest.approx(losst, rel=1e-5)
    assert gt.keys() == go.keys()
    for name in gt:
        np.testing.assert_allclose(go[name], gt[name], rtol=1e-3, atol=1e-5, err_msg=name)
    after = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value.numpy(), after[name].numpy(), rtol=1e-4, atol=1e-5)


@slow
def test_vit_gradients_match_finite_differences():
    """Without PyTorch: tracegrad's own einops layers, float64, central differences of the loss
    along random directions of all parameters against the gradient's inner product with them."""
    tg.manual_seed(0)
    model = make_vit(tg, einops_layers.Rearrange, einops_layers.Reduce).double()
    images, labels = _batch(np.float64)
    x, y = tg.tensor(images), tg.tensor(labels)
    params = list(model.parameters())

    def loss():
        return tg.nn.functional.cross_entropy(model(x), y)

    loss().backward()
    grads = [p.grad.numpy() for p in params]
    rng = np.random.default_rng(1)
    for _ in range(2):
        direction = [rng.standard_normal(p.shape) for p in params]
        eps = 1e-6
        values = []
        for sign in (1, -1):
            with tg.no_grad():
                for p, d in zip(params, direction):
                    p.add_(tg.tensor(sign * eps * d))
                values.append(loss().item())
                for p, d in zip(params, direction):
                    p.sub_(tg.tensor(sign * eps * d))
        numeric = (values[0] - values[1]) / (2 * eps)
        analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_vit_training_step_inside_compile():
    """A whole ViT training step as one XLA program: the same losses and weights as eager steps."""

    def train(compiled):
        tg.manual_seed(0)
        model = make_vit(tg, einops_layers.Rearrange, einops_layers.Reduce)
        opt = tg.optim.SGD(model.parameters(), lr=0.1)
        images, labels = _batch()
        x, y = tg.tensor(images), tg.tensor(labels)

        def step():
            loss = tg.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = tg.compile(step) if compiled else step
        losses = [float(run()) for _ in range(3)]
        return losses, {k: v.numpy() for k, v in model.state_dict().items()}

    (eager_losses, eager_state), (losses, state) = train(False), train(True)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5)
    assert losses[2] < losses[0]
    for name in eager_state:
        np.testing.assert_allclose(state[name], eager_state[name], rtol=1e-4, atol=1e-6)
