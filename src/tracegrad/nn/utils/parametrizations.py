"""``tracegrad.nn.utils.parametrizations``: ``weight_norm``, ``spectral_norm`` and
``orthogonal`` built on ``parametrize.register_parametrization``, as
``torch.nn.utils.parametrizations``.

Each computes what PyTorch's computes, from recorded tracegrad ops, so gradients reach the
original parameters through the ops' own VJP rules and a parametrized module runs inside
``tracegrad.compile``.
"""

from __future__ import annotations

from enum import Enum, auto

import jax.numpy as jnp

from ... import _dtype, creation, linalg
from ...autograd.grad_mode import no_grad
from ...ops.shape import cat
from ...tensor import Tensor
from .. import functional as F
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from . import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


# ------------------------------------------------------------------------------ weight norm
def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """The ``pow``-norm of ``v`` over every dimension but ``dim``, shaped to broadcast against
    ``v`` (``torch.norm_except_dim``); ``dim=-1`` means the norm of the whole tensor (a 0-d
    tensor), as in PyTorch."""
    if dim == -1:
        return v.norm(pow)
    d = dim % v.ndim
    dims = tuple(i for i in range(v.ndim) if i != d)
    if not dims:
        return v.abs() if pow != 0 else (v != 0).to(v.dtype)
    return v.norm(pow, dim=dims, keepdim=True)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """``v * (g / ||v||)`` with the norm over every dimension but ``dim``
    (``torch._weight_norm``)."""
    return v * (g / norm_except_dim(v, 2, dim))


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        weight_g = norm_except_dim(weight, 2, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalization, ``w = g * v / ||v||``, registered as a parametrization on
    ``module.<name>``, as ``torch.nn.utils.parametrizations.weight_norm``.

    The magnitude ``g`` is ``parametrizations.<name>.original0`` and the direction ``v`` is
    ``original1``. The norm is taken over every dimension but ``dim`` (per output channel for
    the default ``0``); ``dim=None`` normalises the whole tensor. Returns ``module``.
    """
    _weight_norm_module = _WeightNorm(dim)
    parametrize.register_parametrization(module, name, _weight_norm_module, unsafe=True)

    def _weight_norm_compat_hook(state_dict: dict, prefix: str) -> None:
        # checkpoints of the hook-based nn.utils.weight_norm store <name>_g and <name>_v
        g_key = f"{prefix}{name}_g"
        v_key = f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            original0 = state_dict.pop(g_key)
            original1 = state_dict.pop(v_key)
            state_dict[f"{prefix}parametrizations.{name}.original0"] = original0
            state_dict[f"{prefix}parametrizations.{name}.original1"] = original1

    parametrize._register_load_pre_hook(module, _weight_norm_compat_hook)
    return module


# ---------------------------------------------------------------------------- spectral norm
class _SpectralNorm(Module):
    def __init__(
        self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            # u and v start as normalised Gaussian vectors, then 15 power iterations
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            u = creation.empty(h, dtype=weight.dtype, device=weight.device).normal_(0, 1)
            v = creation.empty(w, dtype=weight.dtype, device=weight.device).normal_(0, 1)
            self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        # the dimension the spectral norm is taken over comes first
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        # Power iteration on W^H W, updating the buffers in place (PyTorch's out=): without
        # recording, so u and v act as constants in the backward pass, as in PyTorch.
        with no_grad():
            weight_mat = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(weight_mat.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(weight_mat.mH.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u = self._u.clone()
        v = self._v.clone()
        sigma = u.vdot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        # the spectral norm is not invertible; assigning sets the original to the value given
        return value


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Spectral normalization, ``W / sigma(W)``, registered as a parametrization on
    ``module.<name>``, as ``torch.nn.utils.parametrizations.spectral_norm``.

    ``sigma`` is estimated by power iteration with the vectors ``parametrizations.<name>[0]._u``
    and ``._v`` (buffers, in ``state_dict``); in training mode each access runs
    ``n_power_iterations`` more iterations and updates them, in eval mode they are used as they
    are. ``dim`` (default ``1`` for transposed convolutions, ``0`` otherwise) is the output
    dimension. Returns ``module``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)):
            dim = 1
        else:
            dim = 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


# ------------------------------------------------------------------------------- orthogonal
def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.shape[-2], Q.shape[-1]
    Id = creation.eye(k, dtype=Q.dtype, device=Q.device)
    eps = 10.0 * n * _dtype.finfo(Q.dtype).eps
    return bool((Q.mH @ Q).allclose(Id, atol=eps))


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q factor of ``A = QR`` (``A`` tall) with ``diag(R)`` non-negative, which makes it
    unique; PyTorch gets it from ``geqrf`` + ``householder_product``, here from ``linalg.qr``
    with the signs fixed."""
    Q, R = linalg.qr(A)
    return Q * R.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _geqrf(a):
    """LAPACK's ``geqrf`` (the Householder form of QR), which JAX has only in its private
    ``jax._src.lax.linalg`` module; used without recording (it needs no gradient here)."""
    from jax._src.lax import linalg as _lax_linalg

    return _lax_linalg.geqrf(a)


class _OrthMaps(Enum):
    matrix_exp = auto()
    cayley = auto()
    householder = auto()


class _Orthogonal(Module):
    base: Tensor

    def __init__(
        self, weight: Tensor, orthogonal_map: _OrthMaps, *, use_trivialization: bool = True
    ) -> None:
        super().__init__()
        if weight.is_complex() and orthogonal_map == _OrthMaps.householder:
            raise ValueError("The householder parametrization does not support complex tensors.")
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            # a skew-symmetric (skew-Hermitian) A from the lower triangle, then exp(A) or the
            # Cayley transform (I - A/2)^{-1} (I + A/2); both are orthogonal (unitary)
            X = X.tril()
            if n != k:
                zeros = creation.zeros(n, n - k, dtype=X.dtype, device=X.device)
                X = cat([X, zeros.expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mH
            if self.orthogonal_map == _OrthMaps.matrix_exp:
                Q = linalg.matrix_exp(A)
            else:
                Id = creation.eye(n, dtype=A.dtype, device=A.device)
                Q = linalg.solve(Id - 0.5 * A, Id + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            # Householder reflectors from the strict lower triangle, with the diagonal's signs
            A = X.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = linalg.householder_product(A, tau)
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)

        if hasattr(self, "base"):
            Q = self.base @ Q
        if transposed:
            Q = Q.mT
        return Q

    def right_inverse(self, Q: Tensor) -> Tensor:
        with no_grad():
            if Q.shape != self.shape:
                raise ValueError(
                    f"Expected a matrix or batch of matrices of shape {self.shape}. "
                    f"Got a tensor of shape {Q.shape}."
                )
            Q_init = Q
            n, k = Q.shape[-2], Q.shape[-1]
            transpose = n < k
            if transpose:
                Q = Q.mT
                n, k = k, n

            if not hasattr(self, "base"):
                if self.orthogonal_map in (_OrthMaps.cayley, _OrthMaps.matrix_exp):
                    raise NotImplementedError(
                        "It is not possible to assign to the matrix exponential "
                        "or the Cayley parametrizations when use_trivialization=False."
                    )
                # the Householder reflectors of Q's QR (PyTorch's geqrf), with the diagonal
                # holding the signs; computed on the array, as nothing here is recorded
                A, tau = _geqrf(Q.detach()._handout())
                diag = jnp.sign(jnp.diagonal(A, axis1=-2, axis2=-1))
                diag = jnp.where(tau == 0.0, -diag, diag)
                idx = jnp.arange(diag.shape[-1])
                A = A.at[..., idx, idx].set(diag)
                A = Tensor._wrap(A)
                return A.mT if transpose else A
            if n == k:
                Q = Q.clone() if _is_orthogonal(Q) else _make_orthogonal(Q)
            else:
                # complete the columns with random ones before orthogonalising
                N = creation.randn(*(tuple(Q.shape[:-2]) + (n, n - k)), dtype=Q.dtype)
                Q = _make_orthogonal(cat([Q, N.to(Q.device)], dim=-1))
            self.base = Q
            # with base = Q, the parametrization of -I is Q: the map of -I's tril part is
            # exp(0) = I for matrix_exp/cayley; householder reflectors of 0 give I with -1 signs
            rows, cols = Q_init.shape[-2], Q_init.shape[-1]
            eye = creation.eye(rows, cols, dtype=Q_init.dtype, device=Q_init.device)
            neg_Id = (-eye).expand(*Q_init.shape).clone()
            return neg_Id


def orthogonal(
    module: Module,
    name: str = "weight",
    orthogonal_map: str | None = None,
    *,
    use_trivialization: bool = True,
) -> Module:
    """An orthogonal (unitary) parametrization of the matrix, or batch of matrices,
    ``module.<name>``, as ``torch.nn.utils.parametrizations.orthogonal``.

    ``orthogonal_map`` is ``"matrix_exp"``, ``"cayley"`` or ``"householder"`` (default:
    ``"matrix_exp"`` for square or complex matrices, ``"householder"`` otherwise). With
    ``use_trivialization`` (default) an extra matrix ``parametrizations.<name>[0].base`` holds
    the current orthogonal point and the initial value is the weight itself if orthogonal, its
    QR orthogonalisation otherwise. Returns ``module``.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions."
        )
    if orthogonal_map is None:
        orthogonal_map = (
            "matrix_exp"
            if weight.shape[-2] == weight.shape[-1] or weight.is_complex()
            else "householder"
        )
    orth_enum = getattr(_OrthMaps, orthogonal_map, None)
    if orth_enum is None:
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orth_enum, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
