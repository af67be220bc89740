"""tracegrad dtypes: PyTorch's names and promotion rules over numpy/JAX dtypes."""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

__all__ = [
    "dtype",
    "get_default_dtype",
    "set_default_dtype",
    "promote_types",
    "result_type",
    "can_cast",
    "finfo",
    "iinfo",
]


class dtype:
    """A tensor element type, named and ordered as PyTorch's ``torch.dtype``.

    Wraps a numpy dtype (what JAX arrays carry). Instances are singletons, so ``is`` and ``==``
    agree; equality also accepts the numpy dtype, so ``x.dtype == np.float32`` holds.
    """

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_kind")

    def __init__(self, name: str, np_dtype, kind: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self._kind = kind  # 0 bool, 1 integer, 2 floating, 3 complex
        self.is_floating_point = kind == 2
        self.is_signed = kind != 0 and self.np.kind != "u"
        self.itemsize = self.np.itemsize

    @property
    def is_complex(self) -> bool:
        return self._kind == 3

    def to_real(self) -> dtype:
        """The real dtype of a complex one's parts (``complex64`` -> ``float32``); a real dtype
        itself."""
        return _TO_REAL.get(self, self)

    def to_complex(self) -> dtype:
        """The complex dtype whose parts are this floating dtype (``float64`` -> ``complex128``);
        a complex dtype itself. float16 would be PyTorch's ``complex32``, which JAX lacks."""
        if self._kind == 3:
            return self
        found = _TO_COMPLEX.get(self)
        if found is None:
            if self is float16:
                raise NotImplementedError(
                    "complex32 (chalf) is not supported: JAX has no complex dtype with float16 "
                    "parts; convert to float32 first for complex64"
                )
            raise RuntimeError(f"Unknown Complex ScalarType for {_SCALAR_NAMES[self.name]}")
        return found

    def __repr__(self) -> str:
        return f"tracegrad.{self.name}"

    def __eq__(self, other) -> bool:
        if isinstance(other, dtype):
            return self is other
        try:
            return self.np == np.dtype(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.np)

    def __reduce__(self):
        return (_by_name, (self.name,))


float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
float16 = dtype("float16", np.float16, 2)
bfloat16 = dtype("bfloat16", "bfloat16", 2)
int8 = dtype("int8", np.int8, 1)
uint8 = dtype("uint8", np.uint8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
bool_ = dtype("bool", np.bool_, 0)
complex64 = dtype("complex64", np.complex64, 3)
complex128 = dtype("complex128", np.complex128, 3)

ALL = (
    float32,
    float64,
    float16,
    bfloat16,
    int8,
    uint8,
    int16,
    int32,
    int64,
    bool_,
    complex64,
    complex128,
)
_TO_REAL = {complex64: float32, complex128: float64}
_TO_COMPLEX = {float32: complex64, float64: complex128}
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}
# PyTorch's aliases.
_NAMES.update(
    float=float32,
    double=float64,
    half=float16,
    long=int64,
    int=int32,
    short=int16,
    cfloat=complex64,
    cdouble=complex128,
)


# PyTorch's names of each dtype: its ScalarType name, as its error messages print it (``Long``) and
# its legacy tensor types are named (``LongTensor``), and the C++ type name its dtype-mismatch
# messages print (``long int``).
_PYTORCH_NAMES = {
    "float32": ("Float", "float"),
    "float64": ("Double", "double"),
    "float16": ("Half", "c10::Half"),
    "bfloat16": ("BFloat16", "c10::BFloat16"),
    "int64": ("Long", "long int"),
    "int32": ("Int", "int"),
    "int16": ("Short", "short int"),
    "int8": ("Char", "signed char"),
    "uint8": ("Byte", "unsigned char"),
    "bool": ("Bool", "bool"),
    "complex64": ("ComplexFloat", "c10::complex<float>"),
    "complex128": ("ComplexDouble", "c10::complex<double>"),
}
_SCALAR_NAMES = {name: scalar for name, (scalar, _) in _PYTORCH_NAMES.items()}
_CPP_NAMES = {name: cpp for name, (_, cpp) in _PYTORCH_NAMES.items()}


def scalar_type_name(d) -> str:
    """PyTorch's ScalarType name of a dtype (``Long`` for int64), as its messages print it."""
    return _SCALAR_NAMES[as_dtype(d).name]


def cpp_type_name(d) -> str:
    """The C++ type name of a dtype as PyTorch's dtype-mismatch messages print it (``double``)."""
    return _CPP_NAMES[as_dtype(d).name]


def _by_name(name: str) -> dtype:
    return _NAMES[name]


_default_float = float32


def get_default_dtype() -> dtype:
    """The floating dtype that factories and Python floats produce (``float32`` unless changed)."""
    return _default_float


def get_default_complex_dtype() -> dtype:
    """The complex dtype Python complex numbers produce: the default float's complex counterpart
    (``complex64`` for ``float32``, ``complex128`` for ``float64``), as in PyTorch."""
    return _default_float.to_complex()


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype, as ``torch.set_default_dtype`` does."""
    global _default_float
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d


def as_dtype(d) -> dtype:
    """Convert a tracegrad dtype, a numpy/JAX dtype, a Python type or a name to a tracegrad dtype."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, np.dtype):  # the hot path: an array's dtype
        found = _FROM_NP.get(d)
        if found is not None:
            return found
    if d is float:
        return _default_float
    if d is int:
        return int64
    if d is bool:
        return bool_
    if d is complex:
        return get_default_complex_dtype()
    if isinstance(d, str):
        short = d.removeprefix("torch.").removeprefix("tracegrad.")
        if short in ("chalf", "complex32"):
            float16.to_complex()  # raises: JAX has no complex32
        try:
            return _NAMES[short]
        except KeyError:
            raise TypeError(f"unknown dtype {d!r}") from None
    try:
        return _FROM_NP[np.dtype(d)]
    except (KeyError, TypeError):
        raise TypeError(f"tracegrad does not support dtype {d!r}") from None


# Promotion, as PyTorch does it. Within a kind the wider type wins; float16 with bfloat16 gives
# float32; across kinds the higher kind (bool < int < float < complex) wins, except that a complex
# type takes a wider float's precision (complex64 with float64 is complex128).
_INT_ORDER = {uint8: 0, int8: 1, int16: 2, int32: 3, int64: 4}


@functools.cache
def promote_types(a: dtype, b: dtype) -> dtype:
    """The smallest dtype both ``a`` and ``b`` can be converted to, as ``torch.promote_types``."""
    if a is b:
        return a
    if a._kind == 3 or b._kind == 3:
        c, other = (a, b) if a._kind == 3 else (b, a)
        if other._kind == 3:
            return a if a.itemsize >= b.itemsize else b
        if other._kind == 2 and other.itemsize > c.to_real().itemsize:
            return other.to_complex()
        return c
    if a._kind != b._kind:
        return a if a._kind > b._kind else b
    if a._kind == 2:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize >= b.itemsize else b
    if {a, b} == {uint8, int8}:
        return int16
    return a if _INT_ORDER[a] >= _INT_ORDER[b] else b


def scalar_kind(x) -> int:
    """The kind (0 bool, 1 int, 2 float, 3 complex) of a Python scalar."""
    if isinstance(x, bool):
        return 0
    if isinstance(x, int):
        return 1
    if isinstance(x, float):
        return 2
    if isinstance(x, complex):
        return 3
    raise TypeError(f"expected a number, got {type(x).__name__}")


def result_type(dims: tuple, zero_dims: tuple, scalar_kinds: tuple) -> dtype:
    """PyTorch's type promotion over three priority tiers.

    ``dims`` are dtypes of tensors with at least one dimension, ``zero_dims`` of 0-d tensors, and
    ``scalar_kinds`` the kinds of Python numbers. A lower tier only matters when it is of a higher
    kind than everything above it: ``int_tensor * 0.5`` is float32, ``f32_tensor * f64_scalar_tensor``
    stays float32, ``int_tensor * f64_scalar_tensor`` is float64.
    """
    result = None
    for tier in (dims, zero_dims):
        if not tier:
            continue
        best = functools.reduce(promote_types, tier)
        if result is None or best._kind > result._kind:
            result = _combine(result, best)
    if scalar_kinds:
        kind = max(scalar_kinds)
        if result is None or kind > result._kind:
            lower = (bool_, int64, _default_float, None)[kind] or get_default_complex_dtype()
            result = _combine(result, lower)
    return result


def _combine(higher: dtype | None, lower: dtype) -> dtype:
    """A lower tier of a higher kind decides the kind; a complex one keeps a floating higher
    tier's precision (PyTorch's ``combine_categories``: ``f64_tensor * 1j`` is complex128)."""
    if higher is not None and lower._kind == 3 and higher._kind == 2:
        return higher.to_complex()
    return lower


def can_cast(from_: dtype, to: dtype) -> bool:
    """Whether PyTorch's casting rules allow an operation to write a ``from_`` result into a ``to``
    tensor, as ``torch.can_cast``: only a cast to a lower kind (float to integer, integer or float
    to bool) is refused; any cast within a kind, narrowing included, is allowed."""
    if not isinstance(from_, dtype):
        raise TypeError(
            f"can_cast(): argument 'from_' (position 1) must be tracegrad.dtype, not "
            f"{type(from_).__name__}"
        )
    if not isinstance(to, dtype):
        raise TypeError(
            f"can_cast(): argument 'to' (position 2) must be tracegrad.dtype, not {type(to).__name__}"
        )
    return from_._kind <= to._kind


class finfo:
    """The numerical properties of a floating dtype, as ``torch.finfo``: ``bits``, ``eps``,
    ``max``, ``min``, ``tiny`` (= ``smallest_normal``), ``resolution`` and ``dtype`` (its name,
    a string). ``finfo()`` describes the default float dtype."""

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type: dtype | None = None):
        d = get_default_dtype() if type is None else as_dtype(type).to_real()
        if not d.is_floating_point:
            raise TypeError(
                "tracegrad.finfo() requires a floating point input type. Use tracegrad.iinfo to "
                "handle 'tracegrad.finfo'"
            )
        info = jnp.finfo(d.np)  # numpy's finfo knows no bfloat16; JAX's does
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = float(10.0 ** -int(info.precision))
        self.dtype = d.name

    def __eq__(self, other) -> bool:
        return isinstance(other, finfo) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, tiny={self.tiny:g}, "
            f"dtype={self.dtype})"
        )


class iinfo:
    """The range of an integer dtype, as ``torch.iinfo``: ``bits``, ``min``, ``max`` (Python ints)
    and ``dtype`` (its name, a string). ``bool`` is refused, as in PyTorch."""

    __slots__ = ("bits", "min", "max", "dtype")

    def __init__(self, type: dtype):
        d = as_dtype(type)
        if d is bool_:
            raise TypeError("tracegrad.bool is not supported by tracegrad.iinfo")
        if d.is_floating_point:
            raise TypeError(
                "tracegrad.iinfo() requires an integer input type. Use tracegrad.finfo to handle "
                "'tracegrad.iinfo'"
            )
        info = np.iinfo(d.np)
        self.bits = int(info.bits)
        self.min = int(info.min)
        self.max = int(info.max)
        self.dtype = d.name

    def __eq__(self, other) -> bool:
        return isinstance(other, iinfo) and self.dtype == other.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
