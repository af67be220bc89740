"""No keyword is swallowed: every public function, method and constructor either names its
parameters or forwards/refuses its ``**kwargs``; unknown keywords raise ``TypeError``; and the
keywords PyTorch code passes (``size=``, ``dtype=``, ``out=``, ...) are accepted."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

# PyTorch's own signature is ``Identity(*args, **kwargs)`` ("any argument (unused)").
_PYTORCH_SWALLOWS = {"tracegrad.nn.modules.linear.Identity.__init__"}


def _public_callables():
    """(qualified name, function) for the public surface: top-level functions, nn.functional,
    Tensor methods, nn module and optim constructors."""
    seen = set()

    def add(label, obj):
        fn = inspect.unwrap(obj) if callable(obj) else obj
        for f in {obj, fn}:
            f = getattr(f, "__func__", f)
            if inspect.isfunction(f) and id(f) not in seen:
                seen.add(id(f))
                yield label, f

    for ns, prefix in ((tg, "tracegrad"), (F, "tracegrad.nn.functional")):
        for name in dir(ns):
            if name.startswith("_"):
                continue
            obj = getattr(ns, name)
            if inspect.isfunction(obj) or callable(getattr(obj, "__wrapped__", None)):
                yield from add(f"{prefix}.{name}", obj)
    for name, obj in vars(tg.Tensor).items():
        if isinstance(obj, property):
            obj = obj.fget
        if (not name.startswith("_") or name in ("__init__",)) and callable(obj):
            yield from add(f"Tensor.{name}", obj)
    for ns in (tg.nn, tg.optim, tg.optim.lr_scheduler):
        for name in dir(ns):
            cls = getattr(ns, name)
            if isinstance(cls, type) and not name.startswith("_"):
                init = cls.__dict__.get("__init__")
                if init is not None:
                    yield from add(f"{cls.__module__}.{cls.__qualname__}.__init__", init)


def _names_in(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _kwargs_handled(fn, kw: str) -> bool:
    """``**kw`` is passed on as ``**kw`` in a call, or a ``raise`` guards it being non-empty (or
    the function always raises), or a ``for`` loop over ``kw.items()`` consumes every entry (as
    ``nn.Container(**modules)`` registers each as a child)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = tree.body[0]
    body = [
        s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    if body and all(isinstance(s, ast.Raise) for s in body[:1]):
        return True
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and any(
            k.arg is None and kw in _names_in(k.value) for k in node.keywords
        ):
            return True
    for node in ast.walk(func):
        if (
            isinstance(node, ast.For)
            and isinstance(node.iter, ast.Call)
            and isinstance(node.iter.func, ast.Attribute)
            and node.iter.func.attr == "items"
            and kw in _names_in(node.iter.func.value)
        ):
            return True
    derived = {kw}
    for node in ast.walk(func):  # variables computed from kw (``unknown = set(kw) - {...}``)
        if isinstance(node, ast.Assign) and _names_in(node.value) & derived:
            derived |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(func):
        if (
            isinstance(node, ast.If)
            and _names_in(node.test) & derived
            and any(isinstance(n, ast.Raise) for s in node.body for n in ast.walk(s))
        ):
            return True
    return False


def test_no_public_callable_swallows_keywords():
    bad = []
    for label, fn in _public_callables():
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                qual = f"{fn.__module__}.{fn.__qualname__}"
                if qual not in _PYTORCH_SWALLOWS and not _kwargs_handled(fn, p.name):
                    bad.append(f"{label} ({qual}: **{p.name})")
    assert not bad, "keyword catch-alls that neither forward nor refuse: " + ", ".join(sorted(bad))


# Named parameters whose value cannot change what tracegrad computes, each with the reason.
_NO_EFFECT = {
    "tracegrad.load: weights_only": "safetensors files hold only tensors; nothing is unpickled",
    "tracegrad.load: mmap": "a loading strategy; the values are the same",
    "tracegrad.save: pickle_module": "tracegrad writes safetensors, not pickles",
    "tracegrad.save: pickle_protocol": "tracegrad writes safetensors, not pickles",
    "Tensor.to: non_blocking": "JAX transfers are asynchronous already; the values are the same",
    "Tensor.copy_: non_blocking": "JAX transfers are asynchronous already; the values are the same",
    "tracegrad.sort: stable": "every sort is stable, one of the orders an unstable sort may give",
    "tracegrad.argsort: stable": "every sort is stable, one of the orders an unstable sort may give",
    "tracegrad.topk: sorted": "always sorted, one of the orders PyTorch allows for sorted=False",
    "Tensor.pin_memory: device": "no pinned memory in JAX; pinning changes speed, never values",
    "Tensor.is_pinned: device": "nothing is pinned on any device",
    "Tensor.to_dense: masked_grad": "only sparse tensors' gradients depend on it",
    "Tensor.dim_order: ambiguity_check": "contiguous tensors have one dim order",
    "tracegrad.is_storage: obj": "tracegrad has no storage objects: nothing is one",
    "tracegrad.unique: sorted": "always sorted, as PyTorch's CPU kernel is for sorted=False",
    "tracegrad.nn.modules.container.DataParallel.__init__: device_ids": (
        "PyTorch without CUDA ignores it too; one device computes the same values"
    ),
    "tracegrad.nn.modules.container.DataParallel.__init__: output_device": (
        "PyTorch without CUDA ignores it too; the output is where the module puts it"
    ),
    "tracegrad.nn.modules.container.DataParallel.__init__: dim": (
        "the batch is not scattered (PyTorch without CUDA ignores it too); the values are the same"
    ),
}


def test_no_named_parameter_is_ignored():
    """A parameter the body never reads is an argument accepted and silently ignored (as
    ``generator=`` was); each must be used, refused, or listed in ``_NO_EFFECT`` with a reason."""
    bad = []
    for label, fn in _public_callables():
        try:
            func = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
        except (OSError, TypeError, SyntaxError):
            continue
        if not isinstance(func, ast.FunctionDef):
            continue
        body = [
            s
            for s in func.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        if body and isinstance(body[0], ast.Raise):  # always refuses
            continue
        read = {n.id for s in func.body for n in ast.walk(s) if isinstance(n, ast.Name)}
        a = func.args
        for p in (*a.posonlyargs, *a.args, *a.kwonlyargs):
            name = p.arg
            if name in ("self", "cls") or name.startswith("_") or name in read:
                continue
            if f"{label}: {name}" not in _NO_EFFECT:
                bad.append(f"{label}: {name}")
    assert not bad, "parameters accepted and never read: " + ", ".join(sorted(set(bad)))


# -------------------------------------------------------------------------- unknown keywords
# The functions that had a ``**_`` catch-all: an unknown keyword used to vanish.
@pytest.mark.parametrize(
    "call",
    [
        "tg.empty(2, foo=1)",
        "tg.zeros_like(x, foo=1)",
        "tg.ones_like(x, foo=1)",
        "tg.empty_like(x, foo=1)",
        "tg.full_like(x, 2.0, foo=1)",
        "tg.rand_like(x, foo=1)",
        "tg.randn_like(x, foo=1)",
        "tg.randint_like(x, 5, foo=1)",
    ],
)
def test_unknown_keyword_raises_type_error(call):
    x = tg.ones(2)  # noqa: F841 - used by eval
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        eval(call)


# ---------------------------------------------------------------------- factory keywords
@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_keyword(name):
    t = getattr(tg, name)(size=(2, 3))
    assert t.shape == (2, 3)
    assert getattr(tg, name)(size=[4]).shape == (4,)
    with pytest.raises(TypeError, match="multiple values for argument 'size'"):
        getattr(tg, name)((2, 3), size=(2, 3))


def test_new_factories_take_size_keyword():
    x = tg.ones(1, dtype=tg.float64)
    assert x.new_zeros(size=(2, 3)).shape == (2, 3)
    assert x.new_ones(size=(2,)).dtype == tg.float64
    assert x.new_empty(size=(1, 2)).shape == (1, 2)


@pytest.mark.parametrize(
    "call",
    [
        "tg.zeros(2, layout=tg.strided)",
        "tg.empty(2, memory_format=tg.contiguous_format, pin_memory=False)",
        "tg.zeros_like(x, memory_format=tg.preserve_format, layout=tg.strided)",
        "tg.rand(2, pin_memory=False)",
        "tg.full((2,), 1.0, layout=tg.strided)",
        "x.to(memory_format=tg.preserve_format, non_blocking=True)",
        "x.new_zeros(2, layout=tg.strided, pin_memory=False)",
        "tg.tensor([1.0], pin_memory=False)",
    ],
)
def test_layout_and_memory_format_that_tracegrad_honours(call):
    x = tg.ones(2)  # noqa: F841 - used by eval
    assert isinstance(eval(call), tg.Tensor)


@pytest.mark.parametrize(
    "call",
    [
        "tg.zeros(2, 3, layout=tg.sparse_coo)",
        "tg.empty(1, 2, 3, 4, memory_format=tg.channels_last)",
        "tg.zeros_like(x4, memory_format=tg.channels_last)",
        "tg.randn(2, pin_memory=True)",
        "tg.tensor([1.0], pin_memory=True)",
        "x4.to(memory_format=tg.channels_last)",
        "x4.contiguous(memory_format=tg.channels_last)",
        "x4.clone(memory_format=tg.channels_last)",
        "tg.nn.Conv2d(1, 1, 1).to(memory_format=tg.channels_last)",
        "tg.load('x.safetensors', encoding='latin1')",
    ],
)
def test_layout_and_memory_format_that_tracegrad_cannot_honour(call):
    x4 = tg.ones(1, 2, 3, 4)  # noqa: F841 - used by eval
    with pytest.raises(NotImplementedError):
        eval(call)


# ------------------------------------------------------------ keyword names against PyTorch
FACTORIES = (
    "zeros ones empty full rand randn randint randperm arange linspace eye normal zeros_like "
    "ones_like empty_like full_like rand_like randn_like randint_like tensor".split()
)
# The keywords PyTorch code passes by name to factories, and to every function.
_FACTORY_KEYWORDS = {
    "size",
    "dtype",
    "device",
    "requires_grad",
    "out",
    "layout",
    "pin_memory",
    "memory_format",
    "generator",
}
_COMMON_KEYWORDS = {"out", "dtype", "keepdim"}


def _torch_keywords(fn, name: str) -> set:
    """Keyword names of a torch function, from its signature or its docstring's signatures."""
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        pass
    names = set()
    for line in (fn.__doc__ or "").split("\n"):
        m = re.match(rf"\s*{name}\((.*)\)\s*(->|$)", line)
        if m:
            for part in m.group(1).replace("\\*", "*").split(","):
                ident = re.match(r"\s*\**\s*(\w+)", part)
                if ident:
                    names.add(ident.group(1))
    return names


def _our_keywords(fn) -> set:
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}


@pytest.mark.parametrize("name", FACTORIES)
def test_factory_keywords_match_pytorch(name):
    torch = pytest.importorskip("torch")
    theirs = _torch_keywords(getattr(torch, name), name) & _FACTORY_KEYWORDS
    missing = theirs - _our_keywords(getattr(tg, name))
    assert not missing, f"{name}() lacks PyTorch's keywords {sorted(missing)}"


def test_common_keywords_match_pytorch():
    torch = pytest.importorskip("torch")
    missing = {}
    for name in dir(tg):
        ours = getattr(tg, name)
        theirs = getattr(torch, name, None)
        if name.startswith("_") or isinstance(ours, type) or not callable(theirs):
            continue
        if name in ("std_mean", "var_mean", "histogramdd"):  # PyTorch refuses the documented out=
            continue
        try:
            our_names = _our_keywords(ours)
        except (TypeError, ValueError):
            continue
        lacking = (_torch_keywords(theirs, name) & _COMMON_KEYWORDS) - our_names
        if lacking:
            missing[name] = sorted(lacking)
    assert not missing, f"missing PyTorch keywords: {missing}"


# ------------------------------------------------------------------ sparse and memory formats
def test_sparse_gradients_are_refused_when_they_would_be_made():
    x = tg.randn(3, 4, requires_grad=True)
    idx = tg.zeros(3, 1, dtype=tg.int64)
    with pytest.raises(NotImplementedError, match="sparse_grad=True"):
        tg.gather(x, 1, idx, sparse_grad=True)
    w = tg.randn(5, 2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding(tg.tensor([1, 2]), w, sparse=True)
    # No gradient to make sparse: the values are all there is, and they are the same.
    with tg.no_grad():
        assert tg.gather(x, 1, idx, sparse_grad=True).shape == (3, 1)
    frozen = tg.nn.Embedding.from_pretrained(w.detach(), sparse=True)
    assert frozen(tg.tensor([1])).shape == (1, 2)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (3, 4), (1, 1, 1, 1)])
@pytest.mark.parametrize("fmt", ["channels_last", "channels_last_3d", "contiguous_format"])
def test_is_contiguous_memory_format_matches_pytorch(shape, fmt):
    torch = pytest.importorskip("torch")
    if fmt == "channels_last_3d":
        shape = (*shape, 1) if len(shape) == 4 else shape
    expected = torch.zeros(shape).is_contiguous(memory_format=getattr(torch, fmt))
    assert tg.zeros(shape).is_contiguous(memory_format=getattr(tg, fmt)) is expected
