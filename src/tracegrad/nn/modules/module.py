"""``Module``: the base class of every layer, with PyTorch's registration, traversal, state-dict,
mode, conversion and hook semantics (``torch.nn.Module``)."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ... import _dtype, _scope, creation
from ..._layout import check_memory_format
from ...autograd.grad_mode import no_grad
from ...ops.conversion import to_args
from ...tensor import Tensor
from ...tensor import tensor as _tensor
from ..parameter import Buffer, Parameter, is_lazy
from . import _legacy_backward_hooks
from ._backward_hooks import BackwardHook

__all__ = ["Module"]

_EXTRA_STATE_KEY_SUFFIX = "_extra_state"
_global_backward_hooks: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_is_full_backward_hook: bool | None = None


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it did not find and the keys it did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class _HookHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, *dicts: dict):
        self._dicts = dicts
        self.id = _HookHandle._next_id
        _HookHandle._next_id += 1

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _restore_storage(storage, array) -> None:
    storage.array = array
    storage.version += 1


def _undo_copies(undo: list) -> None:
    for fn, args in reversed(undo):
        fn(*args)


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


# Functions that turn a foreign module (another framework's) into a tracegrad Module, or return
# None. tracegrad's einops integration registers one, so the layers of einops.layers.torch can be
# added to tracegrad models (nn/einops_layers.py); every other foreign module stays a TypeError.
_module_converters: list[Callable[[Any], Module | None]] = []


def register_module_converter(convert: Callable[[Any], Module | None]) -> None:
    """Let tracegrad Modules accept foreign modules: ``convert(obj)`` returns the tracegrad Module
    that stands for ``obj``, or ``None`` if it does not know ``obj``. ``add_module`` and attribute
    assignment try each registered converter on anything that is not a tracegrad Module."""
    if convert not in _module_converters:
        _module_converters.append(convert)


def _converted(value: Any) -> Any:
    """``value`` itself, or the tracegrad Module a registered converter makes of it."""
    for convert in _module_converters:
        module = convert(value)
        if module is not None:
            return module
    return value


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return "tracegrad." + type(value).__name__
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _check_name(kind: str, name, owner: Module) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


class Module:
    """Base class for all neural-network modules, as ``torch.nn.Module``.

    Subclasses call ``super().__init__()`` and then assign ``Parameter``s, ``Module``s and buffers
    (``register_buffer``) as attributes; they are registered in assignment order, which fixes the
    order of ``parameters()`` and the keys of ``state_dict()``. Calling a module runs its forward
    pre-hooks, ``forward`` and its forward hooks.
    """

    training: bool
    _version: int = 1

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got an unexpected argument; Module.__init__ "
                "takes no arguments"
            )
        set_ = object.__setattr__
        set_(self, "training", True)
        set_(self, "_parameters", OrderedDict())
        set_(self, "_buffers", OrderedDict())
        set_(self, "_non_persistent_buffers_set", set())
        set_(self, "_modules", OrderedDict())
        set_(self, "_forward_hooks", OrderedDict())
        set_(self, "_forward_hooks_with_kwargs", {})
        set_(self, "_forward_hooks_always_called", {})
        set_(self, "_forward_pre_hooks", OrderedDict())
        set_(self, "_forward_pre_hooks_with_kwargs", {})
        set_(self, "_backward_hooks", OrderedDict())
        set_(self, "_backward_pre_hooks", OrderedDict())
        set_(self, "_is_full_backward_hook", None)
        set_(self, "_state_dict_hooks", OrderedDict())
        set_(self, "_state_dict_pre_hooks", OrderedDict())
        set_(self, "_load_state_dict_pre_hooks", OrderedDict())
        set_(self, "_load_state_dict_post_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        """The computation; every subclass overrides it. Call the module, not ``forward``, so that
        hooks run."""
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # ----------------------------------------------------------------------------- registration
    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as a buffer: state that is not a parameter (running statistics).

        Persistent buffers are part of ``state_dict()``; ``None`` is allowed (and skipped by
        ``state_dict``). Buffers follow the module through ``to()`` / ``float()`` etc.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                "(tracegrad Tensor or None required)"
            )
        if isinstance(tensor, (Buffer, Parameter)):
            tensor = Tensor._share(tensor, tracked=True)
            tensor._requires_grad = False
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a ``Parameter`` or ``None``) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(tracegrad.nn.Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, compute "
                "the value in the forward() method."
            )
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` (or ``None``) as a child under ``name``."""
        if module is not None and not isinstance(module, Module):
            module = _converted(module)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        _check_name("module", name, self)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        def remove_from(*stores):
            for d in stores:
                if name in d:
                    if isinstance(d, dict):
                        del d[name]
                    else:
                        d.discard(name)

        params = self.__dict__.get("_parameters")
        if _module_converters and not isinstance(value, (Module, Tensor)):
            value = _converted(value)
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(
                self.__dict__, self._buffers, self._modules, self._non_persistent_buffers_set
            )
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(tracegrad.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = self.__dict__.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                remove_from(
                    self.__dict__, self._parameters, self._buffers, self._non_persistent_buffers_set
                )
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{_typename(value)}' as child module '{name}' "
                        "(tracegrad.nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = self.__dict__.get("_buffers")
                if isinstance(value, Buffer) or (buffers is not None and name in buffers):
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(
                            f"cannot assign '{_typename(value)}' as buffer '{name}' "
                            "(tracegrad.nn.Buffer, tracegrad.Tensor or None expected)"
                        )
                    persistent = (
                        value.persistent
                        if isinstance(value, Buffer)
                        else name not in self._non_persistent_buffers_set
                    )
                    if isinstance(value, Buffer):
                        remove_from(self.__dict__, self._parameters, self._modules)
                    self.register_buffer(name, value, persistent)
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for k in ("_forward_hooks_with_kwargs", "_forward_hooks_always_called"):
            self.__dict__.setdefault(k, {})
        self.__dict__.setdefault("_forward_pre_hooks_with_kwargs", {})
        self.__dict__.setdefault("_non_persistent_buffers_set", set())
        for k in (
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_state_dict_pre_hooks",
            "_load_state_dict_pre_hooks",
            "_load_state_dict_post_hooks",
        ):
            self.__dict__.setdefault(k, OrderedDict())
        self.__dict__.setdefault("_is_full_backward_hook", None)

    def __dir__(self):
        keys = list(object.__dir__(self))
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())

    # -------------------------------------------------------------------------------- traversal
    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or v in memo:
                    continue
                if remove_duplicate:
                    memo.add(v)
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module (and, with ``recurse``, of all submodules), each once,
        in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, as ``parameters()`` orders them."""
        yield from self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers (persistent or not) of this module and, with ``recurse``, its submodules."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs."""
        yield from self._named_members(
            lambda m: m._buffers.items(), prefix, recurse, remove_duplicate
        )

    def children(self) -> Iterator[Module]:
        """The immediate submodules, each once."""
        for _, m in self.named_children():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the immediate submodules, each once."""
        memo = set()
        for name, m in self._modules.items():
            if m is not None and m not in memo:
                memo.add(m)
                yield name, m

    def modules(self) -> Iterator[Module]:
        """This module and all its submodules, depth first, each once."""
        for _, m in self.named_modules():
            yield m

    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ):
        """``(dotted name, module)`` for this module (name ``prefix``) and all submodules."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""`` is ``self``)."""
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Set the submodule at the dotted path ``target`` to ``module`` (the parent must exist).

        With ``strict=True`` the attribute must already exist; an existing attribute that is not
        a module is never replaced.
        """
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        atoms = target.split(".")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent = self if len(atoms) == 1 else self.get_submodule(".".join(atoms[:-1]))
        if strict and not hasattr(parent, atoms[-1]):
            raise AttributeError(f"{parent._get_name()} has no attribute `{atoms[-1]}`")
        if hasattr(parent, atoms[-1]):
            if not isinstance(getattr(parent, atoms[-1]), Module):
                raise AttributeError(f"`{atoms[-1]}` is not an nn.Module")
        setattr(parent, atoms[-1], module)

    def _attribute_at(self, target: str) -> tuple[Module, str]:
        """The module holding the dotted path ``target``'s last name, and that name."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        return mod, name

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target``."""
        mod, name = self._attribute_at(target)
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``."""
        mod, name = self._attribute_at(target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    # ------------------------------------------------------------------------------- state dict
    def get_extra_state(self) -> Any:
        """Override (with :meth:`set_extra_state`) to store any picklable value in
        ``state_dict()`` under the key ``"<prefix>_extra_state"``."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def set_extra_state(self, state: Any) -> None:
        """Override (with :meth:`get_extra_state`) to restore the value ``load_state_dict``
        finds under ``"<prefix>_extra_state"``."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def _has_extra_state(self, which: str) -> bool:
        return getattr(type(self), which, None) is not getattr(Module, which)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_extra_state("get_extra_state"):
            destination[prefix + _EXTRA_STATE_KEY_SUFFIX] = self.get_extra_state()

    def register_state_dict_pre_hook(self, hook: Callable) -> _HookHandle:
        """Run ``hook(module, prefix, keep_vars)`` before ``state_dict()`` saves this module."""
        handle = _HookHandle(self._state_dict_pre_hooks)
        self._state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_state_dict_post_hook(self, hook: Callable) -> _HookHandle:
        """Run ``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict()`` saved
        this module and its children; it may edit ``state_dict`` in place and must return
        None."""
        handle = _HookHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_pre_hook(self, hook: Callable) -> _HookHandle:
        """Run ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before ``load_state_dict`` checks this module's entries
        (it may edit ``state_dict``, a private copy, to upgrade an old checkpoint)."""
        handle = _HookHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_post_hook(self, hook: Callable) -> _HookHandle:
        """Run ``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded this module
        and its children; it may edit ``incompatible_keys.missing_keys`` /
        ``.unexpected_keys`` in place (before ``strict`` checks them) and must return None."""
        handle = _HookHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ``OrderedDict`` of every parameter and persistent buffer, keyed by dotted name
        exactly as PyTorch names them (``"0.weight"``, ``"bn.running_mean"``).

        Values are detached tensors sharing storage with the module (``keep_vars=True`` gives the
        parameters themselves).
        """
        if args:  # the deprecated positional form state_dict(destination, prefix, keep_vars)
            names = ("destination", "prefix", "keep_vars")
            given = dict(zip(names, args))
            destination = given.get("destination", destination)
            prefix = given.get("prefix", prefix)
            keep_vars = given.get("keep_vars", keep_vars)
        if destination is None:
            destination = OrderedDict()
        local_metadata = {"version": self._version}
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._state_dict_hooks.values():
            if hook(self, destination, prefix, local_metadata) is not None:
                raise RuntimeError("state_dict post-hook must return None")
        return destination

    def _load_from_state_dict(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list,
        unexpected_keys: list,
        error_msgs: list,
    ) -> None:
        """Check this module's own entries of ``state_dict`` and record the copies to make.

        Unlike PyTorch's, it copies nothing: it appends ``(tensor, value, kind)`` to
        ``local_metadata["copies"]`` and ``load_state_dict`` applies them only if no module reported
        an error, so a failed load leaves the model unchanged. Subclasses may override it to
        upgrade old checkpoints (edit ``state_dict``, which is a private copy) and then call super.
        """
        local = [(n, p, "param") for n, p in self._parameters.items() if p is not None]
        local += [
            (n, b, "buffer")
            for n, b in self._buffers.items()
            if b is not None and n not in self._non_persistent_buffers_set
        ]
        for name, current, kind in local:
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if is_lazy(current):  # loading an uninitialised parameter into one: nothing to copy
                continue
            if not isinstance(value, Tensor):
                if (
                    hasattr(value, "shape")
                    and hasattr(value, "dtype")
                    and not hasattr(value, "grad")
                ):
                    value = _tensor(value)  # numpy arrays
                else:
                    error_msgs.append(
                        f'While copying the parameter named "{key}", expected a tracegrad Tensor '
                        f"or Tensor-like object from checkpoint but received {type(value)}"
                    )
                    continue
            if value.shape != current.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {current.shape}."
                )
                continue
            local_metadata["copies"].append((self, name, current, value, kind))
        extra_key = prefix + _EXTRA_STATE_KEY_SUFFIX
        if self._has_extra_state("set_extra_state"):
            if extra_key in state_dict:
                local_metadata["copies"].append((self, None, None, state_dict[extra_key], "extra"))
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        names = {n for n, _, _ in local}
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                first = key[len(prefix) :].split(".", 1)[0]
                if first not in self._modules and first not in names:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and persistent buffers from ``state_dict`` into this module.

        With ``strict`` the keys must match ``state_dict()``'s exactly. Every check (missing and
        unexpected keys, shapes, types) is made: on error a ``RuntimeError`` lists all problems
        and the module is unchanged (whatever was copied, or materialised, is restored). Values
        are copied in place (parameters keep their identity, so optimizers still hold them) and
        cast to each parameter's dtype and device; ``assign=True`` makes the module hold the
        given tensors instead. Load pre- and post-hooks run in PyTorch's order (see
        ``register_load_state_dict_pre_hook``). Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        missing, unexpected, errors = [], [], []
        undo: list = []
        incompatible = _IncompatibleKeys(missing, unexpected)

        # PyTorch's order: a module's pre-hooks and checks, its children, then its post-hooks
        # (which see the loaded values). The copies are applied as the walk goes and undone if
        # anything fails, so a failed load leaves the model unchanged.
        def load(module: Module, prefix: str) -> None:
            meta = dict(metadata.get(prefix[:-1], {})) if metadata is not None else {}
            meta["copies"] = copies = []
            for hook in module._load_state_dict_pre_hooks.values():
                hook(module, state_dict, prefix, meta, strict, missing, unexpected, errors)
            module._load_from_state_dict(
                state_dict, prefix, meta, strict, missing, unexpected, errors
            )
            if errors:
                copies = [c for c in copies if c[4] == "undo"]
            undo.extend(Module._apply_state_copies(copies, assign))
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, incompatible) is not None:
                    raise AssertionError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace."
                    )

        try:
            load(self, "")
        except BaseException:
            _undo_copies(undo)
            raise
        # a module reached through several paths reports its keys once per path; PyTorch walks
        # every path too, so keep each key's first report only
        missing[:] = dict.fromkeys(missing)
        unexpected[:] = dict.fromkeys(unexpected)
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in unexpected)
                    ),
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: {}. ".format(
                        ", ".join(f'"{k}"' for k in missing)
                    ),
                )
        if errors:
            _undo_copies(undo)
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    self._get_name(), "\n\t".join(errors)
                )
            )
        return incompatible

    @staticmethod
    def _apply_state_copies(copies: list, assign: bool) -> list:
        """Apply ``load_state_dict``'s checked copies; returns how to undo them."""
        undo = []
        with no_grad():
            for module, name, current, value, kind in copies:
                if kind == "extra":
                    if module._has_extra_state("get_extra_state"):
                        undo.append((module.set_extra_state, (module.get_extra_state(),)))
                    module.set_extra_state(value)
                elif kind == "undo":  # a change a load pre-hook made (materialising, say)
                    undo.append(value)
                elif assign:
                    store = module._parameters if kind == "param" else module._buffers
                    undo.append((store.__setitem__, (name, store[name])))
                    if kind == "param":
                        store[name] = Parameter(
                            value.detach().to(device=current.device), current.requires_grad
                        )
                    else:
                        store[name] = value.detach()
                else:
                    v = value.detach()
                    if v.dtype != current.dtype or v.device != current.device:
                        v = v.to(device=current.device, dtype=current.dtype)
                    st = current._storage
                    undo.append((_restore_storage, (st, st.array)))
                    st.array = v._handout()
                    st.version += 1
        return undo

    def to_empty(self, *, device, recurse: bool = True) -> Module:
        """Give every parameter and buffer uninitialised storage of the same shape and dtype on
        ``device`` (after building a model on the ``"meta"`` device, say); returns ``self``."""
        return self._apply(lambda t: creation.empty_like(t, device=device), recurse=recurse)

    # ------------------------------------------------------------------------- mode and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``self.training``) on this module and every submodule."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)`` (dropout off, batch norm uses running statistics)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to ``None`` (default) or to zeros in place."""
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                g = p._grad
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                with no_grad():
                    g.zero_()

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on ``self`` (e.g. custom
        initialisation); returns ``self``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------------------ conversion
    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Module:
        """Convert every parameter (in place: the ``Parameter`` objects and their identity are
        kept, their arrays replaced), its gradient, and every buffer with ``fn``."""
        if recurse:
            for m in self.children():
                m._apply(fn)
        with no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                new = fn(p)
                if new is not p:
                    p._storage.array = new._handout()
                if p._grad is not None:
                    g = fn(p._grad)
                    if g is not p._grad:
                        p._grad = Tensor._wrap(g._handout())
            for name, b in self._buffers.items():
                if b is not None:
                    self._buffers[name] = fn(b)
        return self

    def to(
        self, *args, dtype=None, device=None, non_blocking: bool = False, memory_format=None
    ) -> Module:
        """Move and/or cast parameters and buffers: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)``, ``to(tensor)``. A dtype applies to floating-point tensors only
        (integer buffers such as ``num_batches_tracked`` keep theirs). Returns ``self``.
        ``memory_format=channels_last`` raises ``NotImplementedError`` (JAX arrays have no
        strides)."""
        check_memory_format("to", memory_format)
        dtype_, device_ = to_args(args, dtype, device)
        if dtype_ is not None:
            dtype_ = _dtype.as_dtype(dtype_)
            if not dtype_.is_floating_point:
                raise TypeError(
                    "nn.Module.to only accepts floating point or complex dtypes, but got desired "
                    f"dtype={dtype_}"
                )

        def convert(t: Tensor) -> Tensor:
            return t.to(device=device_, dtype=dtype_ if t.is_floating_point() else None)

        return self._apply(convert)

    def _cast(self, dtype_) -> Module:
        return self._apply(lambda t: t.to(dtype_) if t.is_floating_point() else t)

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32."""
        return self._cast(_dtype.float32)

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64."""
        return self._cast(_dtype.float64)

    def half(self) -> Module:
        """Cast floating-point parameters and buffers to float16."""
        return self._cast(_dtype.float16)

    def bfloat16(self) -> Module:
        """Cast floating-point parameters and buffers to bfloat16."""
        return self._cast(_dtype.bfloat16)

    def type(self, dst_type) -> Module:
        """Cast all parameters and buffers to ``dst_type``."""
        return self._apply(lambda t: t.to(dst_type))

    def cpu(self) -> Module:
        """Move parameters and buffers to the CPU."""
        return self._apply(lambda t: t.cpu())

    def cuda(self, device=None) -> Module:
        """Move parameters and buffers to a GPU."""
        return self._apply(lambda t: t.cuda(device))

    # ----------------------------------------------------------------------------------- hooks
    def register_forward_pre_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> _HookHandle:
        """Run ``hook(module, args)`` before ``forward``; it may return new args (a tuple, or a
        single value that is wrapped in one). With ``with_kwargs=True`` it is
        ``hook(module, args, kwargs)`` and may return ``(args, kwargs)``."""
        handle = _HookHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(
        self,
        hook: Callable,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> _HookHandle:
        """Run ``hook(module, args, output)`` after ``forward``; a non-None return value replaces
        the output. With ``with_kwargs=True`` it is ``hook(module, args, kwargs, output)``."""
        handle = _HookHandle(
            self._forward_hooks, self._forward_hooks_with_kwargs, self._forward_hooks_always_called
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> _HookHandle:
        """Run ``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are computed; it may return a replacement ``grad_output`` (a tuple of the same
        length), which then flows into the module. Non-tensor outputs have ``None``."""
        handle = _HookHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> _HookHandle:
        """Run ``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's positional inputs are computed; it may return a replacement ``grad_input``.

        Entries for non-tensor inputs (and outputs) are ``None``; when no input requires grad
        the hook fires with the output gradients and all-``None`` ``grad_input``, with PyTorch's
        warning. Under ``tracegrad.compile`` hooks run when the step is traced: replaced gradients
        are part of the program, Python side effects happen at trace time only.
        """
        handle = self._add_backward_hook(hook, full=True)
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_backward_hook(self, hook: Callable) -> _HookHandle:
        """PyTorch's deprecated non-full backward hook: ``hook(module, grad_input, grad_output)``
        runs with the gradients of the module's *last operation* (the ``grad_fn`` of its first
        output): ``grad_input`` has one entry per input of that node (for ``nn.Linear`` on a 2-D
        input, PyTorch's ``addmm``: ``(bias grad, input grad, weight.T grad)``), ``grad_output``
        the output's gradient. A returned tuple replaces ``grad_input``.

        The hook is attached to the node when the module is called (removing the handle leaves
        graphs already recorded hooked, as in PyTorch), with PyTorch's FutureWarnings. Where
        tracegrad's last node is not known to be PyTorch's (a layer or functional that tracegrad
        decomposes differently) the call raises ``NotImplementedError``; see docs/modules.md.
        Prefer ``register_full_backward_hook``.
        """
        return self._add_backward_hook(hook, full=False)

    def _add_backward_hook(self, hook: Callable, full: bool) -> _HookHandle:
        """Register a full or a legacy backward hook; a module holds one kind only (PyTorch's
        rule and message)."""
        if self._is_full_backward_hook is (not full):
            raise RuntimeError(
                "Cannot use both regular backward hooks and full backward hooks on a "
                "single Module. Please use only one of them."
            )
        self._is_full_backward_hook = full
        handle = _HookHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    def _get_backward_hooks(self) -> tuple[list, list]:
        full: list = []
        if _global_is_full_backward_hook is True:
            full += _global_backward_hooks.values()
        if self._is_full_backward_hook is True:
            full += self._backward_hooks.values()
        non_full: list = []
        if _global_is_full_backward_hook is False:
            non_full += _global_backward_hooks.values()
        if self._is_full_backward_hook is False:
            non_full += self._backward_hooks.values()
        return full, non_full

    def _get_backward_pre_hooks(self) -> list:
        return [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]

    def __call__(self, *args, **kwargs):
        outer = _scope.enter(self)  # nodes recorded meanwhile remember this module
        try:
            if not (
                self._forward_hooks
                or self._forward_pre_hooks
                or self._backward_hooks
                or self._backward_pre_hooks
                or _global_backward_hooks
                or _global_backward_pre_hooks
            ):
                return self.forward(*args, **kwargs)
            return self._call_with_hooks(args, kwargs)
        finally:
            _scope.leave(outer)

    def _call_with_hooks(self, args, kwargs):
        backward_pre_hooks = self._get_backward_pre_hooks()
        full_backward_hooks, non_full_backward_hooks = self._get_backward_hooks()
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        bw_hook = None
        if full_backward_hooks or backward_pre_hooks:
            bw_hook = BackwardHook(self, full_backward_hooks, backward_pre_hooks)
            args = bw_hook.setup_input_hook(args)
        try:
            output = self.forward(*args, **kwargs)
        except Exception:
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called:
                    try:
                        if hook_id in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:
                        pass
            raise
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        if bw_hook is not None:
            if not isinstance(output, (Tensor, tuple)):
                warnings.warn(
                    "For backward hooks to be called, module output should be a Tensor or a "
                    f"tuple of Tensors but received {type(output)}",
                    stacklevel=3,
                )
            output = bw_hook.setup_output_hook(output)
        if non_full_backward_hooks:
            _legacy_backward_hooks.attach(self, non_full_backward_hooks, args, output)
        return output

    # ------------------------------------------------------------------------------------ repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its constructor arguments);
        override it in layers."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def register_module_full_backward_pre_hook(hook: Callable) -> _HookHandle:
    """A full backward pre-hook common to all modules: ``hook(module, grad_output)`` runs before
    each module's own (see ``Module.register_full_backward_pre_hook``)."""
    handle = _HookHandle(_global_backward_pre_hooks)
    _global_backward_pre_hooks[handle.id] = hook
    return handle


def register_module_backward_hook(hook: Callable) -> _HookHandle:
    """PyTorch's deprecated non-full backward hook common to all modules: ``hook(module,
    grad_input, grad_output)`` runs with each module's last operation's gradients, before the
    module's own (see ``Module.register_backward_hook``)."""
    return _add_global_backward_hook(hook, full=False)


def register_module_full_backward_hook(hook: Callable) -> _HookHandle:
    """A full backward hook common to all modules: ``hook(module, grad_input, grad_output)``
    runs before each module's own (see ``Module.register_full_backward_hook``)."""
    return _add_global_backward_hook(hook, full=True)


def _add_global_backward_hook(hook: Callable, full: bool) -> _HookHandle:
    """Register a global full or legacy backward hook; the process holds one kind only (PyTorch's
    rule and message; the mark stays after the hooks are removed, as in PyTorch)."""
    global _global_is_full_backward_hook
    if _global_is_full_backward_hook is (not full):
        raise RuntimeError(
            "Cannot use both regular backward hooks and full backward hooks as a global Module "
            "hook. Please use only one of them."
        )
    _global_is_full_backward_hook = full
    handle = _HookHandle(_global_backward_hooks)
    _global_backward_hooks[handle.id] = hook
    return handle
