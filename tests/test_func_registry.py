"""Every registered op with a VJP rule, under ``tracegrad.func``'s transforms, against JAX's
transforms of the op's own lowering (the oracle), in float64. Generated from
``tracegrad.ops.REGISTRY`` and the samples in ``tests/samples/``.

For each op (its first sample with a float operand), with ``xs`` its float operands and the other
operands held fixed:

- ``vmap(grad(f))`` over a batch of 3 perturbed copies of ``xs``, where
  ``f(*xs) = sum(w * tanh(op(*xs)))`` with a fixed random ``w``, against
  ``jax.vmap(jax.grad(f_jax))``, ``f_jax`` the same program on the op's lowering (``op.forward``);
- ``jacrev(g)`` and ``jacfwd(g)`` of ``g(*xs) = op(*xs)`` against ``jax.jacrev(g_jax)`` and
  ``jax.jacfwd(g_jax)``. Both transforms take one reverse pass per output (or input) element, so
  an operand with more than ``_K_IN`` elements enters through ``_K_IN`` random directions
  (``x = x0 + V t``, differentiated at ``t = 0``) and a result with more than ``_K_OUT`` elements
  leaves through ``_K_OUT`` random projections (``P @ out.flatten()``): the Jacobian compared is
  ``P J V``, which checks the rule in random directions at a tenth of the cost;
- for a deterministic sample of ops (``SECOND_ORDER_OPS``): ``hessian(f)`` against
  ``jax.hessian(f_jax)``, and ``vmap(jacfwd(g))`` against ``jax.vmap(jax.jacfwd(g_jax))``.

A complex result is compared through its real and imaginary parts (``view_as_real``), which keeps
every program real-to-real, so PyTorch's and JAX's complex conventions do not enter.

Not here: ops without a VJP rule, and ops whose samples all have complex operands (c2c, c2r, conj,
imag, real, view_as_real: complex gradients are checked against PyTorch in test_complex.py). The
ops with a rule that are left out are in ``SKIP``; comparisons that fail for a real reason are
strict xfails in ``XFAIL``, each raising a clear error.

Tiers: one op in eight (sorted by name) is in the fast tier for each comparison; the rest is
``slow``.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad import func as F
from tracegrad.ops import REGISTRY

from .samples import load_all
from .tiers import slow

SAMPLES = load_all()
RTOL = 1e-10
_BATCH = 3
_K_IN, _K_OUT = 4, 6

# Ops with a VJP rule and a float operand that are not compared here, and why.
SKIP: dict[str, str] = {
    "standard_gamma": "random output: each call draws new samples (its reparameterized gradient "
    "is checked in test_op_registry.py against standard_gamma_grad)",
    "to_copy": "its sample casts float64 to float32: not a float64 comparison",
}

# Ops whose result is compared through a function of it, and why.
_PHASE_FREE = (
    "eigenvalues and |eigenvector entries|^2: eigenvectors are defined only up to a phase "
    "each, so a loss of their real and imaginary parts is ill-defined (tracegrad raises "
    "PyTorch's error)"
)
OUTPUTS: dict[str, str] = {"eig": _PHASE_FREE}

# Comparisons that cannot succeed, keyed (comparison, op): the reason and the error raised (a
# clear error, never a silent wrong value). jacfwd (and so hessian) is the double-VJP
# construction: it differentiates the VJP rule with respect to its cotangent, so it needs the
# rule's own rules.
_COMPLEX_RULES = (
    "jacfwd differentiates the VJP rule, whose complex intermediates ({}) have no complex "
    "gradient: NotImplementedError (jacrev is right; second order is not checked for this op in "
    "test_op_registry.py either)"
)
_CTC = (
    "ctc_loss's VJP rule calls ctc_loss_backward, which PyTorch cannot differentiate either: "
    "jacfwd raises PyTorch's 'derivative for aten::_ctc_loss_backward is not implemented' "
    "(jacrev is right)"
)
XFAIL: dict[tuple[str, str], tuple[str, type]] = {
    ("jacobians", "ctc_loss"): (_CTC, RuntimeError),
    ("jacobians", "eig"): (
        _COMPLEX_RULES.format("index_backward on complex values"),
        NotImplementedError,
    ),
    ("jacobians", "eigvals"): (
        _COMPLEX_RULES.format("solve on complex values"),
        NotImplementedError,
    ),
}

# The second-order comparisons: at most this many ops, with at most this many float-operand
# elements in all (the Hessian has that many squared entries, one double-VJP column each).
_SECOND_ORDER_COUNT = 20
_SECOND_ORDER_MAX_SIZE = 24


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _sample(name):
    """The op's first sample with a float operand and no complex operand, or None."""
    for s in SAMPLES[name]:
        if any(map(_is_float, s.args)) and not any(
            isinstance(a, np.ndarray) and a.dtype.kind == "c" for a in s.args
        ):
            return s
    return None


def _candidates() -> list[str]:
    names = []
    for name in sorted(SAMPLES):
        if REGISTRY[name].differentiable and _sample(name) is not None:
            names.append(name)
    return names


CANDIDATES = _candidates()
COVERED = [n for n in CANDIDATES if n not in SKIP]


def _second_order_ops() -> list[str]:
    small = [
        n
        for n in COVERED
        if _sample(n).second_order
        and sum(a.size for a in _sample(n).args if _is_float(a)) <= _SECOND_ORDER_MAX_SIZE
    ]
    rng = np.random.default_rng(11)
    idx = sorted(rng.choice(len(small), size=min(_SECOND_ORDER_COUNT, len(small)), replace=False))
    return [small[i] for i in idx]


SECOND_ORDER_OPS = _second_order_ops()


def _params(kind: str, names: list[str]) -> list:
    """One param per op: one in eight in the fast tier, the rest slow; xfails as listed."""
    out = []
    for i, name in enumerate(names):
        marks = [] if i % 8 == 0 else [slow]
        if (kind, name) in XFAIL:
            reason, raises = XFAIL[kind, name]
            marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=raises))
        out.append(pytest.param(name, id=name, marks=marks))
    return out


# ----------------------------------------------------------------------------------- programs
class Case:
    """An op and its sample as functions of the sample's float operands: ``g`` / ``g_jax`` (the op,
    a complex result as its real and imaginary parts) and ``f`` / ``f_jax`` (a scalar program
    ``sum(w * tanh(g))``)."""

    def __init__(self, name: str):
        self.name = name
        self.op = REGISTRY[name]
        self.sample = _sample(name)
        self.args = list(self.sample.args)
        self.diff = [i for i, a in enumerate(self.args) if _is_float(a)]
        self.xs = [self.args[i] for i in self.diff]
        self.argnums = tuple(range(len(self.diff)))
        out = self.g_jax(*[jnp.asarray(x) for x in self.xs])
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.w = rng.standard_normal(out.shape)

    def _full(self, xs, wrap):
        full = [wrap(a) if isinstance(a, np.ndarray) else a for a in self.args]
        for i, x in zip(self.diff, xs):
            full[i] = x
        return full

    def g(self, *xs):
        out = self.op(*self._full(xs, tg.tensor), **self.sample.params)
        if self.name == "eig":  # row 0: eigenvalues; rows 1: eigenvectors (see OUTPUTS)
            vecs = out[1:]
            return tg.cat(
                [tg.view_as_real(out[0]).reshape(-1), (vecs.real**2 + vecs.imag**2).reshape(-1)]
            )
        return tg.view_as_real(out) if out.is_complex() else out

    def g_jax(self, *xs):
        out = self.op.forward(*self._full(xs, jnp.asarray), **self.sample.params)
        if self.name == "eig":
            vecs = out[1:]
            return jnp.concatenate(
                [
                    jnp.stack([out[0].real, out[0].imag], -1).reshape(-1),
                    (jnp.abs(vecs) ** 2).reshape(-1),
                ]
            )
        if jnp.iscomplexobj(out):
            out = jnp.stack([jnp.real(out), jnp.imag(out)], -1)
        return out

    def f(self, *xs):
        return (tg.tensor(self.w) * self.g(*xs).tanh()).sum()

    def f_jax(self, *xs):
        return jnp.sum(self.w * jnp.tanh(self.g_jax(*xs)))

    def projected(self):
        """``(gp, gp_jax, ts)``: ``g`` through random input directions and output projections
        (see the module docstring), and the point ``t = 0`` to differentiate it at."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()) + 1)
        dirs = [rng.standard_normal((x.size, _K_IN)) if x.size > _K_IN else None for x in self.xs]
        size = int(np.prod(self.w.shape))
        proj = rng.standard_normal((_K_OUT, size)) if size > _K_OUT else None
        ts = [np.zeros(_K_IN) if v is not None else x for x, v in zip(self.xs, dirs)]

        def gp(*ts):
            xs = [
                t if v is None else _t(x) + (_t(v) @ t).reshape(x.shape)
                for x, v, t in zip(self.xs, dirs, ts)
            ]
            out = self.g(*xs)
            return out if proj is None else _t(proj) @ out.reshape(-1)

        def gp_jax(*ts):
            xs = [
                t if v is None else x + (v @ t).reshape(x.shape)
                for x, v, t in zip(self.xs, dirs, ts)
            ]
            out = self.g_jax(*xs)
            return out if proj is None else proj @ out.reshape(-1)

        return gp, gp_jax, ts

    def batch(self):
        """The float operands, each stacked from ``_BATCH`` perturbed copies (the same domain)."""
        return [np.stack([x * (1 + 0.05 * k) for k in range(_BATCH)]) for x in self.xs]


def _close(got, want, what):
    want = np.asarray(want)
    got = np.asarray(got.detach() if isinstance(got, tg.Tensor) else got)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _close_tree(got, want, what):
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            _close_tree(g, w, f"{what}[{k}]")
    else:
        _close(got, want, what)


def _t(a):
    return tg.tensor(np.asarray(a), dtype=tg.float64)


def test_tables_name_real_ops():
    assert set(SKIP) <= set(CANDIDATES), sorted(set(SKIP) - set(CANDIDATES))
    assert set(OUTPUTS) <= set(COVERED)
    assert {name for _, name in XFAIL} <= set(COVERED)


# -------------------------------------------------------------------------------- first order
@pytest.mark.parametrize("name", _params("vmap_grad", COVERED))
def test_vmap_grad_matches_jax(name):
    c = Case(name)
    batch = c.batch()
    got = F.vmap(F.grad(c.f, argnums=c.argnums))(*[_t(b) for b in batch])
    want = jax.vmap(jax.grad(c.f_jax, argnums=c.argnums))(*[jnp.asarray(b) for b in batch])
    _close_tree(got, want, f"vmap(grad) of {name}")


@pytest.mark.parametrize("name", _params("jacobians", COVERED))
def test_jacrev_and_jacfwd_match_jax(name):
    c = Case(name)
    g, g_jax, ts = c.projected()
    primals = [jnp.asarray(t) for t in ts]
    want_rev = jax.jacrev(g_jax, argnums=c.argnums)(*primals)
    want_fwd = jax.jacfwd(g_jax, argnums=c.argnums)(*primals)
    _close_tree(F.jacrev(g, argnums=c.argnums)(*map(_t, ts)), want_rev, f"jacrev of {name}")
    _close_tree(F.jacfwd(g, argnums=c.argnums)(*map(_t, ts)), want_fwd, f"jacfwd of {name}")


# ------------------------------------------------------------------------------- second order
@pytest.mark.parametrize("name", _params("hessian", SECOND_ORDER_OPS))
def test_hessian_matches_jax(name):
    c = Case(name)
    got = F.hessian(c.f, argnums=c.argnums)(*map(_t, c.xs))
    want = jax.hessian(c.f_jax, argnums=c.argnums)(*[jnp.asarray(x) for x in c.xs])
    _close_tree(got, want, f"hessian of {name}")


@pytest.mark.parametrize("name", _params("vmap_jacfwd", SECOND_ORDER_OPS))
def test_vmap_jacfwd_matches_jax(name):
    c = Case(name)
    batch = c.batch()
    got = F.vmap(F.jacfwd(c.g, argnums=c.argnums))(*[_t(b) for b in batch])
    want = jax.vmap(jax.jacfwd(c.g_jax, argnums=c.argnums))(*[jnp.asarray(b) for b in batch])
    _close_tree(got, want, f"vmap(jacfwd) of {name}")
