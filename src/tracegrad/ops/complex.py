"""Complex tensors: ``complex``, ``polar``, ``view_as_real``, ``view_as_complex``, ``real``,
``imag``, ``angle``, ``conj`` (``conj_physical``, ``resolve_conj``, ``resolve_neg``, ``is_conj``,
``is_neg``), ``isreal``, ``adjoint`` and the ``H``/``mH``/``mT`` family, ``cfloat``/``cdouble``.

The gradient convention is PyTorch's. For a real loss ``L`` of a complex tensor ``z = x + iy``,
``z.grad`` is ``dL/dx + i dL/dy`` (twice the conjugate Wirtinger derivative ``dL/dz*``), and a rule
receiving ``g`` (the output's gradient in that convention) returns the adjoint of the op's real
Jacobian under the real inner product ``<a, b> = Re(sum(conj(a) * b))``. So:

- a complex-linear map ``A`` (a DFT, a sum, a reshape) sends ``g`` to ``A^H g``, its conjugate
  transpose; a map with real coefficients (add, reshape, indexing) sends ``g`` back unchanged in
  form, which is why those real rules are right for complex values too;
- a holomorphic ``f`` sends ``g`` to ``g * conj(f'(z))`` (``mul``: ``g * conj(b)``);
- ``conj`` sends ``g`` to ``conj(g)``; ``real`` sends a real ``g`` to ``g``, ``imag`` to ``i g``;
- where a real input meets a complex output (``real -> complex`` casts, ``rfft``) the input's
  gradient is the real part of what the complex formula gives.

JAX's ``vjp`` uses the other convention: it transposes the Jacobian without conjugating, so for a
real loss JAX's gradient is ``dL/dx - i dL/dy``. The two are related by
``torch_vjp(g) = conj(jax_vjp(conj(g)))``; the tests convert with that identity.

A rule here is written in real arithmetic on ``real``/``imag`` parts (or in ops whose rules are
right for complex values), so ``create_graph`` works through it. Ops whose rules were written for
real values only raise ``NotImplementedError`` when they would record a complex gradient (see
``Op.complex_grad``); ``COMPLEX_GRAD_OPS`` lists the existing ops checked to be right.

tracegrad materialises conjugation and negation: ``conj`` of a complex tensor is a new tensor
holding the conjugated values, so ``is_conj``/``is_neg`` are always False and ``resolve_conj``/
``resolve_neg`` return their input. ``real``/``imag`` are copies, not views (JAX arrays cannot
alias; see docs/semantics.md).
"""

from __future__ import annotations

import builtins

import jax.numpy as jnp

from .._dtype import complex64, complex128, scalar_type_name
from .._surface import expose
from ..tensor import Tensor
from . import arith, conversion, indexing, reduction, resample  # noqa: F401 - register the ops below
from .registry import REGISTRY, defop, needs_grad
from .shape import transpose

__all__ = [
    "complex",
    "polar",
    "view_as_real",
    "view_as_complex",
    "real",
    "imag",
    "angle",
    "conj",
    "conj_physical",
    "resolve_conj",
    "resolve_neg",
    "is_conj",
    "is_neg",
    "isreal",
    "adjoint",
]

# Existing ops whose real rules are also right for complex operands: each is linear with real
# coefficients in every operand (so its adjoint is its transpose), or conjugates explicitly
# (``mul``). tests/test_complex.py checks each against PyTorch's gradients.
COMPLEX_GRAD_OPS = (
    "add",
    "sub",
    "rsub",
    "neg",
    "mul",
    "sum",
    "mean",
    "reshape",
    "permute",
    "expand",
    "flip",
    "roll",
    "cat",
    "stack",
    "clone",
    "to_copy",
    "constant_pad",
    "index",
    "sum_to_size",
    "abs",
)
for _name in COMPLEX_GRAD_OPS:
    REGISTRY[_name].complex_grad = True


def _complex_op(grad_fn_name: str, **kwargs):
    """``defop`` for an op whose rule follows the complex convention above."""

    def register(forward):
        op = defop(grad_fn_name, **kwargs)(forward)
        op.complex_grad = True
        return op

    return register


def _require_tensor(op: str, name: str, position: int, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(x).__name__}"
        )


# ------------------------------------------------------------------------------------ real, imag
@_complex_op("RealBackward0", saves=())
def _real(a):
    return jnp.real(a)


@_real.vjp
def _(g, out, a):
    return (g,)  # a real g is dL/dx; the engine casts it to the input's complex dtype


@_complex_op("ImagBackward0", saves=())
def _imag(a):
    return jnp.imag(a)


@_imag.vjp
def _(g, out, a):
    return (_complex(g.new_zeros(tuple(g.shape)), g),)  # dL/dy is the imaginary part: i g


@expose(methods=(), properties=("real",))
def real(input: Tensor) -> Tensor:
    """The real part of a complex tensor, a real tensor of the matching precision; a real tensor
    itself. A copy, not a view as in PyTorch: writing to it does not change ``input``."""
    _require_tensor("real", "input", 1, input)
    return _real(input) if input.is_complex() else input


@expose(methods=(), properties=("imag",))
def imag(input: Tensor) -> Tensor:
    """The imaginary part of a complex tensor, as a real tensor (a copy, not PyTorch's view);
    ``RuntimeError`` for a real tensor, as PyTorch."""
    _require_tensor("imag", "input", 1, input)
    if not input.is_complex():
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return _imag(input)


# --------------------------------------------------------------------------------- complex, polar
@_complex_op("ComplexBackward0", name="complex", saves=())
def _complex(re, im):
    return jax_complex(re, im)


def jax_complex(re, im):
    """``re + i im`` on JAX arrays, in the complex dtype of their (common) real dtype."""
    dtype = jnp.result_type(re, im)
    ctype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    return jnp.asarray(re, ctype) + 1j * jnp.asarray(im, ctype)


@_complex.vjp
def _(g, out, re, im):
    return (_real(g) if needs_grad(re) else None), (_imag(g) if needs_grad(im) else None)


def _check_pair(op: str, a: Tensor, b: Tensor) -> None:
    if a.dtype.name not in ("float16", "float32", "float64") or b.dtype != a.dtype:
        if a.dtype != b.dtype and a.dtype.is_floating_point:
            raise RuntimeError(
                f"Expected object of scalar type {scalar_type_name(a.dtype)} but got scalar type "
                f"{scalar_type_name(b.dtype)} for second argument"
            )
        raise RuntimeError(
            f"Expected both inputs to be Half, Float or Double tensors but got "
            f"{scalar_type_name(a.dtype)} and {scalar_type_name(b.dtype)}"
        )
    a.dtype.to_complex()  # float16: complex32, which JAX lacks


@expose(methods=())
def complex(real: Tensor, imag: Tensor) -> Tensor:  # noqa: A001
    """The complex tensor ``real + i imag`` (broadcast); both must have the same floating dtype,
    float32 giving complex64 and float64 complex128. Gradients: ``real.grad = g.real``,
    ``imag.grad = g.imag``."""
    _require_tensor("complex", "real", 1, real)
    _require_tensor("complex", "imag", 2, imag)
    _check_pair("complex", real, imag)
    return _complex(real, imag)


@_complex_op("PolarBackward0", name="polar")
def _polar(r, theta):
    return jax_complex(r * jnp.cos(theta), r * jnp.sin(theta))


# y = r e^{i theta}: dy/dr = e^{i theta}, dy/dtheta = i y. With g = gr + i gi, the real gradients
# are Re(conj(g) e^{i theta}) = gr cos + gi sin and Re(conj(g) i y) = r (gi cos - gr sin).
@_polar.vjp
def _(g, out, r, theta):
    gr, gi = _real(g), _imag(g)
    c, s = theta.cos(), theta.sin()
    d_r = gr * c + gi * s if needs_grad(r) else None
    d_theta = r * (gi * c - gr * s) if needs_grad(theta) else None
    return d_r, d_theta


@expose(methods=())
def polar(abs: Tensor, angle: Tensor) -> Tensor:  # noqa: A002
    """The complex tensor with magnitude ``abs`` and phase ``angle``: ``abs * (cos(angle) +
    i sin(angle))``; both must have the same floating dtype."""
    _require_tensor("polar", "abs", 1, abs)
    _require_tensor("polar", "angle", 2, angle)
    _check_pair("polar", abs, angle)
    return _polar(abs, angle)


# ------------------------------------------------------------------- view_as_real, view_as_complex
@_complex_op("ViewAsRealBackward0", saves=())
def _view_as_real(a):
    return jnp.stack([jnp.real(a), jnp.imag(a)], axis=-1)


@_view_as_real.vjp
def _(g, out, a):
    return (_view_as_complex(g),)


@_complex_op("ViewAsComplexBackward0", saves=())
def _view_as_complex(a):
    return jax_complex(a[..., 0], a[..., 1])


@_view_as_complex.vjp
def _(g, out, a):
    return (_view_as_real(g),)


@expose(methods=())
def view_as_real(input: Tensor) -> Tensor:
    """A complex tensor as a real one with a last dimension of 2 (real, imaginary). A copy, not a
    view as in PyTorch; gradients flow as through the view."""
    _require_tensor("view_as_real", "input", 1, input)
    if not input.is_complex():
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return _view_as_real(input)


@expose(methods=())
def view_as_complex(input: Tensor) -> Tensor:
    """A real tensor whose last dimension is 2 (real, imaginary) as a complex tensor (a copy, not
    PyTorch's view); float32 gives complex64, float64 complex128."""
    _require_tensor("view_as_complex", "input", 1, input)
    if input.dtype.name not in ("float16", "float32", "float64"):
        raise RuntimeError(
            "view_as_complex is only supported for half, float and double tensors, but got a "
            f"tensor of scalar type: {scalar_type_name(input.dtype)}"
        )
    if input.ndim == 0 or input.shape[-1] != 2:
        raise RuntimeError("Tensor must have a last dimension of size 2")
    input.dtype.to_complex()
    return _view_as_complex(input)


# ------------------------------------------------------------------------------------------ angle
@_complex_op("AngleBackward0", promote="float")
def _angle(a):
    if jnp.iscomplexobj(a):
        return jnp.angle(a)
    # Real values: pi for negatives, 0 otherwise, NaN kept (PyTorch's angle of a real tensor).
    return jnp.where(a < 0, jnp.pi, jnp.where(jnp.isnan(a), a, 0)).astype(a.dtype)


# theta = atan2(y, x): dtheta/dx = -y / |z|^2, dtheta/dy = x / |z|^2, so the gradient is
# g (-y + i x) / |z|^2; 0 at z = 0, as PyTorch. A real input's angle is piecewise constant.
@_angle.vjp
def _(g, out, a):
    if not a.is_complex():
        return (g * 0,)
    x, y = _real(a), _imag(a)
    mag2 = x * x + y * y
    zero = mag2 == 0
    scale = g / mag2.masked_fill(zero, 1.0)
    return (_complex((-y * scale).masked_fill(zero, 0.0), (x * scale).masked_fill(zero, 0.0)),)


@expose
def angle(input: Tensor) -> Tensor:
    """The phase of each element in radians, in [-pi, pi]: ``atan2(imag, real)`` for complex
    tensors (a real tensor of their precision), pi for negative real values and 0 otherwise
    (integers give the default float dtype)."""
    _require_tensor("angle", "input", 1, input)
    return _angle(input)


# ------------------------------------------------------------------------------------------- conj
@_complex_op("ConjPhysicalBackward0", saves=())
def _conj(a):
    return jnp.conj(a)


@_conj.vjp
def _(g, out, a):
    return (_conj(g),)


@expose
def conj(input: Tensor) -> Tensor:
    """The complex conjugate (materialised: tracegrad has no lazy conjugate bit, so the result's
    ``is_conj()`` is False); a real tensor itself."""
    _require_tensor("conj", "input", 1, input)
    return _conj(input) if input.is_complex() else input


@expose(inplace=True)
def conj_physical(input: Tensor) -> Tensor:
    """The complex conjugate, computed (the same as ``conj`` here, which always computes); a real
    tensor itself."""
    _require_tensor("conj_physical", "input", 1, input)
    return _conj(input) if input.is_complex() else input


@expose
def resolve_conj(input: Tensor) -> Tensor:
    """``input`` itself: conjugation is always materialised, so nothing is pending."""
    _require_tensor("resolve_conj", "input", 1, input)
    return input


@expose
def resolve_neg(input: Tensor) -> Tensor:
    """``input`` itself: negation is always materialised, so nothing is pending."""
    _require_tensor("resolve_neg", "input", 1, input)
    return input


@expose
def is_conj(input: Tensor) -> bool:
    """Always False: tracegrad materialises conjugation (PyTorch's lazy conjugate bit does not
    exist here)."""
    _require_tensor("is_conj", "input", 1, input)
    return False


@expose
def is_neg(input: Tensor) -> bool:
    """Always False: tracegrad materialises negation (no lazy negative bit)."""
    _require_tensor("is_neg", "input", 1, input)
    return False


@expose
def isreal(input: Tensor) -> Tensor:
    """Elementwise whether each value is real: imaginary part 0 for complex tensors, True for every
    element of a real tensor (a bool tensor, no gradient)."""
    _require_tensor("isreal", "input", 1, input)
    if not input.is_complex():
        return Tensor._wrap(jnp.ones(tuple(input.shape), jnp.bool_))
    return Tensor._wrap(jnp.imag(input.detach()._storage.array) == 0)


# ----------------------------------------------------------------------------- adjoint, H and mH
@expose
def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dimensions (``transpose(-2, -1).conj()``)."""
    _require_tensor("adjoint", "input", 1, input)
    if input.ndim < 2:
        raise RuntimeError(
            f"tensor.adjoint() is only supported on matrices or batches of matrices. Got "
            f"{input.ndim}-D tensor."
        )
    return conj(transpose(input, -2, -1))


def _H(self: Tensor) -> Tensor:
    """The conjugate transpose of a matrix (a 2-D tensor); a 0-D tensor itself."""
    if self.ndim == 0:
        return self
    if self.ndim != 2:
        hint = " For batches of matrices, consider using tensor.mH" if self.ndim > 2 else ""
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.{hint}"
        )
    return conj(transpose(self, 0, 1))


def _mH(self: Tensor) -> Tensor:
    """The conjugate transpose of the last two dimensions (batches of matrices)."""
    if self.ndim < 2:
        raise RuntimeError(
            f"tensor.mH is only supported on matrices or batches of matrices. Got {self.ndim}-D "
            "tensor."
        )
    return conj(transpose(self, -2, -1))


expose(_H, methods=(), properties=("H",))
expose(_mH, methods=(), properties=("mH",))


# ------------------------------------------------------------------- cfloat, cdouble, __complex__
def _cfloat(self: Tensor, memory_format=None) -> Tensor:
    """``self.to(tracegrad.complex64)``."""
    return self.to(complex64, memory_format=memory_format)


def _cdouble(self: Tensor, memory_format=None) -> Tensor:
    """``self.to(tracegrad.complex128)``."""
    return self.to(complex128, memory_format=memory_format)


def _chalf(self: Tensor, memory_format=None) -> Tensor:
    """Refused: complex32 (float16 parts) has no JAX dtype; use ``cfloat()``."""
    raise NotImplementedError(
        "Tensor.chalf(): complex32 is not supported (JAX has no complex dtype with float16 "
        "parts); use .cfloat() (complex64)"
    )


def _complex_dunder(self: Tensor) -> builtins.complex:
    """The value of a one-element tensor as a Python complex number."""
    self._check_concrete("__complex__")
    if self.numel() != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    return builtins.complex(self.item())


expose(_cfloat, methods=("cfloat",))
expose(_cdouble, methods=("cdouble",))
expose(_chalf, methods=("chalf",))
expose(_complex_dunder, methods=(), operators=("__complex__",))
