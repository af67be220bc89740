"""The Tensor's generated surface: methods, operators and in-place forms declared by the ops.

``tensor.py`` defines the Tensor's own state (storage, autograd fields, conversions). Everything a
Tensor can *compute* — ``x.sum()``, ``x + y``, ``x.add_(y)``, ``x[i]`` — is implemented by a
public function in a higher layer (``ops``, ``autograd``, ``creation``) and declared there, at the
implementation, with ``expose``::

    @expose(methods=("mul", "multiply"), operators=("__mul__", "__rmul__"),
            inplace=("mul_", "__imul__", "multiply_"))
    @defop("MulBackward0", promote="same")
    def mul(a, b): ...

``expose`` is the one way names get onto ``Tensor``. It records an ``Entry`` per name in
``SURFACE`` (from which ``tensor.pyi`` and the method columns of ``docs/ops.md`` are generated) and
attaches the name, refusing a name that is already taken, so no layer silently replaces another's
method. The Tensor module imports none of these layers: they import it and extend it, which is the
only direction of import between ``tensor.py`` and the rest of the package.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .tensor import Tensor

__all__ = ["Entry", "SURFACE", "expose", "numpy_keepdims"]

# How a name runs its function ``fn``:
#   "method"    x.name(*args) is fn(x, *args)             (also operators such as __add__, __getitem__)
#   "reflected" x.__rsub__(y) is fn(y, x)                 (the operand order reversed)
#   "inplace"   x.name_(*args) computes fn(x, *args) and makes x hold the result
#   "property"  x.name is fn(x)
KINDS = ("method", "reflected", "inplace", "property")


@dataclass(frozen=True)
class Entry:
    """One name on ``Tensor``: what it runs, how, and where it was declared."""

    name: str
    kind: str
    fn: Callable
    module: str

    @property
    def operator(self) -> bool:
        return self.name.startswith("__")


SURFACE: dict[str, Entry] = {}


def expose(
    fn: Callable | None = None,
    *,
    methods: tuple[str, ...] | None = None,
    operators: tuple[str, ...] = (),
    reflected: tuple[str, ...] = (),
    inplace: tuple[str, ...] | bool = (),
    properties: tuple[str, ...] = (),
    keepdims: bool = True,
):
    """Declare the Tensor names that run ``fn``; usable as a decorator (``@expose(...)``) or a call.

    - ``methods``: names of methods ``x.name(...)`` running ``fn(x, ...)``; default ``fn``'s own
      name, ``()`` for none.
    - ``operators``: dunders running ``fn(x, other)`` (or ``fn(x)``): ``"__add__"``, ``"__getitem__"``.
    - ``reflected``: dunders running ``fn(other, x)``: ``"__rtruediv__"``.
    - ``inplace``: in-place method names (``"add_"``, ``"__iadd__"``); ``True`` for each method
      name followed by ``_``.
    - ``properties``: read-only properties ``x.name`` computing ``fn(x)``: ``"T"``.
    - ``keepdims``: a function with a ``keepdim`` parameter also takes NumPy's ``keepdims=``
      (see ``numpy_keepdims``), as PyTorch's native functions do; False for those PyTorch writes in
      Python, which refuse it (``torch.norm``).

    Returns ``fn``, so ``multiply = expose(mul, methods=("multiply",))`` also names the function
    (``fn`` wrapped by ``numpy_keepdims`` where that applies).
    """

    def declare(f: Callable) -> Callable:
        if keepdims and inspect.isfunction(f) and "keepdim" in inspect.signature(f).parameters:
            f = numpy_keepdims(f)
        module = getattr(f, "__module__", None) or "tracegrad"
        names = (_name(f),) if methods is None else tuple(methods)
        inplace_names = tuple(n + "_" for n in names) if inplace is True else inplace or ()
        attach = [
            *((Entry(n, "method", f, module), f) for n in (*names, *operators)),
            *((Entry(n, "reflected", f, module), _reflect(f, n)) for n in reflected),
            *((Entry(n, "inplace", f, module), _inplace_method(f, n)) for n in inplace_names),
            *((Entry(n, "property", f, module), property(f, doc=f.__doc__)) for n in properties),
        ]
        for entry, _ in attach:  # all or nothing: check every name before attaching any
            _check_free(entry)
        for entry, attribute in attach:
            SURFACE[entry.name] = entry
            setattr(Tensor, entry.name, attribute)
        return f

    return declare(fn) if fn is not None else declare


def numpy_keepdims(fn: Callable) -> Callable:
    """``fn`` also accepting ``keepdims=`` as an alias of its ``keepdim`` parameter.

    PyTorch's argument parser gives every native function NumPy's spelling of ``keepdim``
    (``x.sum(0, keepdims=True)``, ``torch.amax(x, 1, keepdims=True)``); giving both raises its
    ``TypeError``. Functions PyTorch writes in Python (``torch.norm``, ``F.*`` but
    ``pairwise_distance``) do not take it. Applied by ``expose`` to each declared function with a
    ``keepdim`` parameter, and directly to the native ones that are not Tensor methods. Idempotent.
    """
    if getattr(fn, "numpy_keepdims", False):
        return fn
    signature = inspect.signature(fn)
    param = signature.parameters["keepdim"]
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    # Where ``keepdim`` sits among the positional arguments (None: it can only be a keyword).
    at = positional.index(param) if param in positional else None
    name = _name(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "keepdims" in kwargs:
            if "keepdim" in kwargs or (at is not None and len(args) > at):
                raise TypeError(f"{name}() got an unexpected keyword argument 'keepdims'")
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)

    wrapper.numpy_keepdims = True
    return wrapper


def _name(fn: Callable) -> str:
    return getattr(fn, "name", None) or fn.__name__  # an Op's registered name, else the function's


def _check_free(entry: Entry) -> None:
    taken = SURFACE.get(entry.name)
    if taken is not None or entry.name in vars(Tensor):
        where = taken.module if taken is not None else "tracegrad.tensor"
        raise RuntimeError(
            f"Tensor.{entry.name} is declared twice: by {where} and by {entry.module}"
        )


def _reflect(fn: Callable, name: str) -> Callable:
    def method(self, other):
        return fn(other, self)

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    method.__doc__ = f"``other {_SYMBOLS.get(name, name)} self``: :func:`{_name(fn)}` reversed."
    return method


def _inplace_method(fn: Callable, name: str) -> Callable:
    """The in-place method form of ``fn`` (``x.add_(y)`` from ``add``): computes out of place, then
    makes ``x`` hold the result, bumping its version and moving its ``grad_fn``.

    PyTorch's guard applies: a leaf that requires grad can only be modified under ``no_grad``.
    """

    def method(self, *args, **kwargs):
        self._check_inplace(name)
        return self._rebase(fn(self._snapshot(), *args, **kwargs))

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    method.__code__ = method.__code__.replace(co_qualname=method.__qualname__)  # tracebacks, logs
    method.__doc__ = f"In-place version of :func:`{_name(fn)}`."
    try:
        method.__signature__ = inspect.signature(fn)
    except (TypeError, ValueError):
        pass
    return method


_SYMBOLS = {
    "__radd__": "+", "__rsub__": "-", "__rmul__": "*", "__rtruediv__": "/",
    "__rfloordiv__": "//", "__rmod__": "%", "__rpow__": "**", "__rmatmul__": "@",
    "__rand__": "&", "__ror__": "|", "__rxor__": "^",
}  # fmt: skip
