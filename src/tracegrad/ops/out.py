"""PyTorch's ``out=`` argument, implemented once for every public function that takes it.

``install`` wraps each function named in ``OUT_FUNCTIONS`` (the ones whose PyTorch counterpart
accepts ``out=``) in the public namespace. Without ``out`` the wrapper calls the function and
returns; with it, it follows PyTorch:

* the result is computed as usual, then written into ``out`` (JAX arrays are immutable, so ``out``
  is made to hold the new array, as an in-place op does), ``out``'s version is bumped, and ``out``
  is returned (a tuple of them for ``max(x, dim)``-style results);
* an ``out`` of another shape is resized, with PyTorch's deprecation ``UserWarning`` when it had
  elements;
* dtype: by the function's rule (``CAST``: cast when PyTorch's ``canCast`` allows it, else
  ``RuntimeError: result type Float can't be cast to the desired output type Long``; ``SAME``: the
  dtypes must match; ``DTYPE``: the reduction runs in ``out``'s dtype, as ``dtype=`` would;
  ``FACTORY``: ``out``'s dtype is the result dtype, an explicit different ``dtype`` is refused;
  ``ANY``: the values are written in ``out``'s dtype, whatever it is: ``bernoulli``'s 0/1);
* under grad mode, an ``out`` or an input that requires grad raises ``RuntimeError`` (PyTorch's
  ``out=`` functions do not record a graph), and the result never gets a ``grad_fn``.

Everything is checked before ``out`` is touched, so nothing is half-applied.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import jax

from .._dtype import as_dtype, scalar_type_name
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor

__all__ = ["OUT_FUNCTIONS", "NN_FUNCTIONAL_OUT_FUNCTIONS", "with_out", "install"]

CAST, SAME, DTYPE, CAT, FACTORY, ANY = "cast", "same", "dtype", "cat", "factory", "any"

_NO_RESIZE_WARNING = {"masked_select", "zeros", "ones", "full", "empty", "linspace", "eye"}
_NO_RESIZE_WARNING |= {"rand", "randn", "randint", "randperm", "normal", "bernoulli"}
_NO_RESIZE_WARNING |= {"multinomial", "logspace", "range", "narrow_copy", "addbmm"}

# Every public tracegrad function whose PyTorch counterpart takes ``out=`` (tests/test_out.py checks
# this list against PyTorch), with PyTorch's dtype rule for it.
OUT_FUNCTIONS: dict[str, str] = {
    **dict.fromkeys(
        "add sub subtract mul multiply div divide true_divide floor_divide fmod remainder "
        "maximum minimum fmax fmin eq ne lt le gt ge logical_and logical_or logical_xor "
        "logical_not cos erf erfc exp expm1 log log10 log1p log2 rsqrt sqrt reciprocal sigmoid "
        "sin square tan tanh pow addcdiv addcmul outer ger mean std var lerp logsumexp max "
        "min cholesky addr".split(),
        CAST,
    ),
    **dict.fromkeys(
        "abs absolute ceil fix floor frac neg negative round sign trunc clamp clamp_min "
        "clamp_max clip addmm baddbmm bmm mm matmul mv dot tensordot amax amin argmax argmin "
        "where softmax log_softmax diag tril triu gather take_along_dim take index_select "
        "index_add scatter scatter_add masked_select nonzero norm all any median "
        "multinomial inverse matrix_power addmv addbmm cross inner vdot renorm chain_matmul".split(),
        SAME,
    ),
    **dict.fromkeys(
        "asin acos atan sinh cosh asinh acosh atanh arcsin arccos arctan arcsinh arccosh "
        "arctanh atan2 arctan2 hypot logaddexp logaddexp2 xlogy copysign sinc deg2rad rad2deg "
        "exp2 ldexp lgamma digamma polygamma erfinv logit i0 igamma igammac mvlgamma".split(),
        CAST,
    ),
    **dict.fromkeys(
        "sort msort topk kthvalue float_power heaviside isposinf isneginf signbit nan_to_num "
        "sgn".split(),
        SAME,
    ),
    **dict.fromkeys(
        "bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift "
        "gcd lcm nextafter greater greater_equal less less_equal not_equal".split(),
        CAST,
    ),
    **dict.fromkeys("frexp bitwise_not index_copy index_reduce".split(), SAME),
    **dict.fromkeys(
        "mode quantile nanquantile searchsorted bucketize histc histogram cummax "
        "cummin logcumsumexp aminmax".split(),
        SAME,
    ),
    **dict.fromkeys("sum prod cumsum cumprod nanmean".split(), DTYPE),
    **dict.fromkeys("cat concat concatenate stack hstack vstack".split(), CAT),
    **dict.fromkeys("column_stack dstack row_stack".split(), CAT),
    "kron": CAST,
    "narrow_copy": SAME,
    **dict.fromkeys(
        "zeros ones full empty arange linspace eye rand randn randint randperm normal".split(),
        FACTORY,
    ),
    **dict.fromkeys("logspace range".split(), FACTORY),
    "bernoulli": ANY,
    "angle": CAST,
    **dict.fromkeys("complex conj_physical polar".split(), SAME),
    **dict.fromkeys("qr svd lu_solve lu_unpack triangular_solve".split(), SAME),
    **dict.fromkeys("cholesky_inverse cholesky_solve".split(), CAST),
}

NN_FUNCTIONAL_OUT_FUNCTIONS: dict[str, str] = {"normalize": CAST}

# PyTorch's names for dtypes in its cast errors.


def _can_cast(src, dst) -> bool:
    """PyTorch's ``canCast``: no floating -> integral, and nothing but bool -> bool."""
    if src.is_floating_point and not dst.is_floating_point:
        return False
    return not (dst.name == "bool" and src.name != "bool")


def _tensors_in(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, Tensor))


def _check_out(name: str, out, inputs) -> tuple:
    """``out`` as a tuple of tensors, after PyTorch's type and autograd checks."""
    outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(o).__name__}")
    if is_grad_enabled() and any(t._requires_grad for t in (*outs, *inputs)):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    return outs


def _converted(name: str, rule: str, result: Tensor, out: Tensor):
    """``result``'s array in ``out``'s dtype, or PyTorch's error for this rule."""
    array = result._storage.array
    src, dst = result.dtype, out.dtype
    if src is dst:
        return array
    if rule == ANY:
        return array.astype(dst.np)
    if rule == SAME:
        raise RuntimeError(
            f"{name}(): expected out tensor to have dtype {src.name}, but got {dst.name} instead"
        )
    if not _can_cast(src, dst):
        if rule == CAT:
            raise TypeError(
                f"{name}(): input types can't be cast to the desired output type "
                f"{scalar_type_name(dst)}"
            )
        raise RuntimeError(
            f"result type {scalar_type_name(src)} can't be cast to the desired output type "
            f"{scalar_type_name(dst)}"
        )
    return array.astype(dst.np)


def _resize_message(name: str, old: tuple, new: tuple) -> str:
    if name == "arange":
        n = 1
        for s in new:
            n *= s
        m = 1
        for s in old:
            m *= s
        return (
            f"The number of elements in the out tensor of shape {list(old)} is {m} which does not "
            f"match the computed number of elements {n}. Note that this may occur as a result of "
            f"rounding error. The out tensor will be resized to a tensor of shape ({n},)."
        )
    return (
        f"An output with one or more elements was resized since it had shape {list(old)}, which "
        f"does not match the required output shape {list(new)}. This behavior is deprecated, and "
        "in a future PyTorch release outputs will not be resized unless they have zero elements. "
        "You can explicitly reuse an out tensor t by resizing it, inplace, to zero elements with "
        "t.resize_(0)."
    )


def _write(name: str, out: Tensor, array) -> None:
    """Make ``out`` hold ``array`` (resizing it as PyTorch does) and bump its version."""
    old = out._storage.array
    if array.shape != old.shape and old.size != 0 and name not in _NO_RESIZE_WARNING:
        warnings.warn(_resize_message(name, old.shape, array.shape), UserWarning, stacklevel=4)
    sharding = getattr(old, "sharding", None)
    if (
        sharding is not None
        and isinstance(array, jax.Array)
        and not isinstance(array, jax.core.Tracer)
        and array.sharding.device_set != sharding.device_set
    ):
        array = jax.device_put(array, next(iter(sharding.device_set)))
    out._storage.array = array
    if out._version_tracked:
        out._storage.version += 1


def _run_out(fn, name: str, rule: str, args, kwargs, out):
    outs = _check_out(name, out, () if rule == FACTORY else tuple(_tensors_in(args, kwargs)))
    if rule == FACTORY:
        (o,) = outs
        dtype = kwargs.get("dtype")
        if dtype is None:
            kwargs["dtype"] = o.dtype
        elif as_dtype(dtype) is not o.dtype:
            raise RuntimeError(
                f"dtype {scalar_type_name(dtype)} does not match dtype of out "
                f"parameter ({scalar_type_name(o.dtype)})"
            )
        if kwargs.get("device") is None:
            kwargs["device"] = o.device
        requires_grad = kwargs.pop("requires_grad", False)
        _write(name, o, fn(*args, **kwargs)._storage.array)
        if requires_grad:
            o.requires_grad_(True)
        return o
    if name in ("sum", "prod") and len(args) < 2 and kwargs.get("dim") is None:
        # PyTorch's full reductions sum(input) and prod(input) have no out= overload.
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got (Tensor, out=Tensor), "
            f"but expected (Tensor input, int dim, bool keepdim=False, *, dtype=None, Tensor out)"
        )
    if rule == DTYPE and kwargs.get("dtype") is None and len(outs) == 1:
        if name in ("cumsum", "cumprod") and outs[0].dtype.name == "bool":
            raise NotImplementedError(f"\"{name}_out\" not implemented for 'Bool'")
        if name == "nanmean" and not outs[0].dtype.is_floating_point:
            # PyTorch's nanmean_out runs nansum in out's dtype, which has no integer kernel.
            dtype_name = scalar_type_name(outs[0].dtype)
            raise NotImplementedError(f"\"nansum_cpu\" not implemented for '{dtype_name}'")
        kwargs["dtype"] = outs[0].dtype  # PyTorch reduces in out's dtype
    result = fn(*args, **kwargs)
    results = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(results) != len(outs) or isinstance(out, Tensor) != isinstance(result, Tensor):
        raise TypeError(
            f"{name}(): out= must be {'a tuple of ' if len(results) > 1 else 'a '}"
            f"{len(results)} tensor{'s' if len(results) > 1 else ''} for this call, got "
            f"{type(out).__name__}"
        )
    # Tuple results (max/min/median over a dim) never cast, as in PyTorch.
    each = SAME if len(results) > 1 else rule
    arrays = [_converted(name, each, r, o) for r, o in zip(results, outs)]
    for o, a in zip(outs, arrays):
        _write(name, o, a)
    if isinstance(out, Tensor):
        return out
    # A named pair (return_types.max) keeps its type, so ``.values``/``.indices`` work.
    return tuple(outs) if type(result) in (tuple, list) else type(result)(*outs)


def _signature_with_out(fn) -> inspect.Signature | None:
    target = fn.forward if hasattr(fn, "forward") and hasattr(fn, "rule") else fn
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = [p for p in sig.parameters.values() if p.name != "out"]
    out = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)
    var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    params = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return sig.replace(parameters=[*params, out, *var_kw])


def with_out(fn, name: str | None = None, rule: str = CAST):
    """``fn`` with PyTorch's ``out=`` keyword (see the module docstring); costs one call when
    ``out`` is None."""
    name = name or fn.__name__

    def wrapper(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        return _run_out(fn, name, rule, args, kwargs, out)

    functools.update_wrapper(wrapper, fn, updated=())
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__wrapped__ = fn
    wrapper.out_rule = rule
    sig = _signature_with_out(fn)
    if sig is not None:
        wrapper.__signature__ = sig
    return wrapper


def install(namespace: dict, table: dict[str, str] = OUT_FUNCTIONS) -> None:
    """Replace each function of ``table`` in ``namespace`` by its ``out=`` form (idempotent).
    Aliases of one function (``clip``/``clamp``, ``concat``/``cat``) share one wrapper, so they
    stay the same object."""
    wrapped: dict[int, object] = {}
    for name, rule in table.items():
        fn = namespace[name]
        if getattr(fn, "out_rule", None) is not None:
            continue
        if id(fn) not in wrapped:
            wrapped[id(fn)] = with_out(fn, fn.__name__.lstrip("_") or name, rule)
        namespace[name] = wrapped[id(fn)]
