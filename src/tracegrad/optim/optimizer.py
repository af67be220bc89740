"""``Optimizer``: the base class of every optimizer, with PyTorch's parameter groups and state.

An optimizer holds ``param_groups`` (a list of dicts, each with its ``params`` and its options) and
``state`` (a dict keyed by parameter tensor, holding that parameter's moments and step count).
Subclasses implement ``_update_group(group)``: they gather the arrays of the parameters that have a
gradient, run one pure, jitted function of those arrays (the update rule), and write the results
back in place. The update functions never branch on tensor values and never read a value back to
the host, so a whole ``step()`` can later be traced into one compiled program.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import lazy as _lazy
from ..autograd import enable_grad, no_grad
from ..creation import _filled
from ..tensor import Tensor

__all__ = [
    "Optimizer",
    "required",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
]


class _RequiredParameter:
    """The default of an option that every parameter group must set (``torch.optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


# ----------------------------------------------------------------------------- hooks
class _HookHandle:
    """What registering an optimizer hook returns (``torch.utils.hooks.RemovableHandle``):
    ``remove()`` takes the hook out of the ordered dict it was put in; usable as a context
    manager."""

    _next_id = 0

    def __init__(self, hooks: OrderedDict) -> None:
        self.hooks_dict_ref = hooks
        self.id = _HookHandle._next_id
        _HookHandle._next_id += 1

    def remove(self) -> None:
        self.hooks_dict_ref.pop(self.id, None)

    def __enter__(self) -> _HookHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _add_hook(hooks: OrderedDict, hook: Callable, prepend: bool = False) -> _HookHandle:
    handle = _HookHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


_global_optimizer_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable) -> _HookHandle:
    """Register a pre-hook common to all optimizers, run before every ``step()`` (before each
    optimizer's own pre-hooks): ``hook(optimizer, args, kwargs) -> None or (new_args,
    new_kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
    return _add_hook(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> _HookHandle:
    """Register a post-hook common to all optimizers, run after every ``step()`` (after each
    optimizer's own post-hooks): ``hook(optimizer, args, kwargs) -> None``."""
    return _add_hook(_global_optimizer_post_hooks, hook)


def _hooked_step(func: Callable) -> Callable:
    """``step`` wrapped to run the global and per-optimizer step hooks around it, as PyTorch's
    ``Optimizer.profile_hook_step``: pre-hooks may replace the arguments."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        self = args[0]
        for pre_hook in chain(
            _global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()
        ):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{func} must return None or a tuple of (new_args, new_kwargs), but got "
                        f"{result}."
                    )
        out = func(*args, **kwargs)
        for post_hook in chain(
            self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()
        ):
            post_hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


_HOOK_DICTS = (
    "_optimizer_step_pre_hooks",
    "_optimizer_step_post_hooks",
    "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks",
    "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)


# ----------------------------------------------------------------------------- helpers for rules
def _array(t: Tensor):
    """The JAX array a tensor holds, as the jitted update functions take it, placed as it is.

    Placement (committed to a device or not) is part of jit's signature, so the update keeps it:
    fresh tensors (``tracegrad.zeros``, initialised parameters) are uncommitted and stay so, and
    the model's forward ops meet the same placement at every step; committing here would make
    the second step compile every op of the forward again. New optimizer state is placed like
    its parameter (``_placed_like``).
    """
    return _lazy.array_of(t)  # in lazy mode a pending value: the update joins its program


def _is_concrete(a) -> bool:
    return isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer)


def _hyper(value):
    """A hyperparameter as the update function takes it: a float, or a tensor's array."""
    return value._storage.array if isinstance(value, Tensor) else value


class _LiftedHyper(Tensor):
    """A float hyperparameter (``momentum``, one of ``betas``) that ``tracegrad.compile`` made a
    program input, so a scheduler changing it every step (``OneCycleLR``, ``CyclicLR`` with
    ``cycle_momentum``) does not retrace the step. Its value is a traced float64 scalar; the
    host-side facts the update rules branch on are decided from the concrete value before the
    trace and kept in the cache key (a change of one of them retraces):

    * ``nonzero``: ``value != 0`` (SGD keeps a momentum buffer),
    * ``positive``: ``value > 0`` (RMSprop's momentum buffer; ``log(beta)`` is finite),
    * ``small``: ``abs(1 - value) < 0.5`` (which of ``lerp``'s two formulas ``1 - beta`` takes).

    An optimizer lists the hyperparameters its rules accept in this form in
    ``Optimizer._traced_hyperparameters``; the others stay Python values in the cache key."""

    __slots__ = ("facts",)

    @staticmethod
    def facts_of(value: float) -> tuple[bool, bool, bool]:
        """``(nonzero, positive, small)`` of a concrete hyperparameter value."""
        return (value != 0, value > 0, abs(1 - value) < 0.5)

    @classmethod
    def lift(cls, array, facts: tuple[bool, bool, bool]) -> _LiftedHyper:
        """A lifted hyperparameter holding ``array`` (traced), with the facts of its value."""
        t = cls._wrap(array)
        t.facts = facts
        return t


def _fact(value, which: int) -> bool:
    """A host-side fact about a hyperparameter (see :class:`_LiftedHyper`), read from its facts
    when it is lifted, else computed from the Python value."""
    if isinstance(value, _LiftedHyper):
        return value.facts[which]
    return _LiftedHyper.facts_of(value)[which]


def _nonzero(value) -> bool:
    """``value != 0`` of a float or lifted hyperparameter."""
    return _fact(value, 0)


def _positive(value) -> bool:
    """``value > 0`` of a float or lifted hyperparameter."""
    return _fact(value, 1)


def _small(value) -> bool:
    """``abs(1 - value) < 0.5`` of a float or lifted hyperparameter: lerp's formula for the
    weight ``1 - value``."""
    return _fact(value, 2)


def _log_beta(beta):
    """``log(beta)`` in double precision (``-inf`` for 0), for the ``-expm1(t log b)`` bias
    corrections: on the host for a float, as before; in the program (float64) for a lifted one."""
    if isinstance(beta, _LiftedHyper):
        b = _host(beta._storage.array)
        return jnp.where(b > 0, jnp.log(jnp.where(b > 0, b, 1.0)), -jnp.inf)
    return math.log(beta) if beta > 0 else -math.inf


def _write(t: Tensor, array) -> None:
    """Make ``t`` hold ``array``, in place (same tensor object, version bumped)."""
    t._rebase(Tensor._wrap(array))


def _placed_like(array, param: Tensor | None):
    """``array`` placed where ``param`` lives. New state must match the placement (committed or
    not, device) of the arrays it later meets: jit compiles once per placement signature, so a
    mismatch between the first step and the next would compile the update twice."""
    ref = None if param is None else _array(param)
    if not (_is_concrete(ref) and ref.committed):  # uncommitted, or traced in a compiled step
        return array
    if array.shape == ref.shape:
        return jax.device_put(array, ref.sharding)
    devices = ref.devices()
    return jax.device_put(array, next(iter(devices))) if len(devices) == 1 else array


def _zeros_like(t: Tensor) -> Tensor:
    return _full_like(t, 0)


def _full_like(t: Tensor, value: float) -> Tensor:
    a = _array(t)
    return Tensor._wrap(_placed_like(_filled(a.shape, value, a.dtype), t))


def _step_tensor(value: float = 0.0, param: Tensor | None = None) -> Tensor:
    # PyTorch keeps the step count as a float32 scalar tensor; exact up to 2**24 steps.
    return Tensor._wrap(_placed_like(jnp.asarray(value, dtype=jnp.float32), param))


def _lerp(start, end, weight, small: bool):
    """PyTorch's ``lerp``, with the same two formulas (chosen by ``|weight| < 0.5``, a host-side
    fact about a hyperparameter) so the rounding matches."""
    if small:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _caster(dtype):
    """Cast a scalar hyperparameter to the dtype of the array it meets. Scalar-only arithmetic
    (``1 - beta``, ``lr * weight_decay``) is done before the cast, in double precision like
    PyTorch's Python floats; the cast then mirrors PyTorch's scalar-to-kernel conversion."""
    return lambda x: jnp.asarray(x, dtype)


def _host(x):
    """A scalar as PyTorch's host-side Python float math sees it: float64 (``x`` may be a traced
    step count or a tensor ``lr``). Coefficients computed from it are cast to the parameter's
    dtype with :func:`_caster`, as PyTorch's kernels convert their double scalars."""
    return jnp.asarray(x, jnp.float64)


def _grad_with_l2(p, g, c, weight_decay, maximize: bool, has_wd: bool):
    """The gradient most update rules start from: negated under ``maximize``, then with the L2
    term ``weight_decay * p`` added when ``weight_decay`` is nonzero (``c`` is the parameter's
    :func:`_caster`)."""
    if maximize:
        g = -g
    if has_wd:
        g = g + c(weight_decay) * p
    return g


def _decayed(p, g, c, lr, weight_decay, *, maximize: bool, has_wd: bool, decoupled: bool):
    """``(p, g)`` after weight decay: decoupled (AdamW's) multiplies the parameter by
    ``1 - lr * weight_decay`` and leaves the gradient alone, otherwise it is the L2 term of
    :func:`_grad_with_l2`. ``lr`` is passed as the rule's host math sees it."""
    if has_wd and decoupled:
        return p * c(1 - lr * weight_decay), (-g if maximize else g)
    return p, _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)


def _ema_square(v, x, c, decay):
    """A running average of squares, in PyTorch's order: ``v * decay + (1 - decay) * x * x``."""
    return v * c(decay) + c(1 - decay) * x * x


def _lerp_traced(start, end, weight):
    """``lerp`` with a traced scalar ``weight`` (in the arrays' dtype): PyTorch's two formulas,
    chosen by ``|weight| < 0.5`` on the device."""
    diff = end - start
    return jnp.where(jnp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def _arrays(tensors: Iterable[Tensor]) -> list:
    """The arrays of ``tensors``, as the jitted update functions take them."""
    return [_array(t) for t in tensors]


def _write_back(
    params: list[Tensor], states: list[dict[str, Any]], new_params: list, **new_state: list
) -> None:
    """Write an update's results back in place: ``new_params[i]`` into ``params[i]`` and, for
    each keyword ``key=arrays``, ``arrays[i]`` into ``states[i][key]``."""
    for i, (p, s) in enumerate(zip(params, states)):
        _write(p, new_params[i])
        for key, arrays in new_state.items():
            _write(s[key], arrays[i])


def _check_hyper(name: str, value, low: float = 0.0) -> None:
    """PyTorch's ``if not 0.0 <= value: raise ValueError(f"Invalid {name}: {value}")``."""
    if not low <= value:
        raise ValueError(f"Invalid {name}: {value}")


def _check_lr(lr) -> None:
    """PyTorch's checks of a learning rate: a tensor ``lr`` has one element, and ``lr >= 0``."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    _check_hyper("learning rate", lr)


def _check_betas(betas) -> None:
    """PyTorch's ``0 <= beta < 1`` checks of ``betas``."""
    for i in range(2):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def _check_adam_like(lr, eps: float, betas, weight_decay: float) -> None:
    """The checks of PyTorch's Adam family (Adam, Adamax, NAdam, RAdam), in its order."""
    _check_lr(lr)
    _check_hyper("epsilon value", eps)
    _check_betas(betas)
    _check_hyper("weight_decay value", weight_decay)


def _adam_like_args(group: dict[str, Any], *extra: Any, **static: Any) -> tuple[tuple, dict]:
    """The update arguments the Adam family shares, from a group: (lr, beta1, beta2, eps,
    weight_decay, *extra) and the static ``maximize``, ``has_wd``, ``small`` (lerp's formula for
    ``1 - beta1``) plus ``static``."""
    beta1, beta2 = group["betas"]
    args = (
        _hyper(group["lr"]),
        _hyper(beta1),
        _hyper(beta2),
        group["eps"],
        group["weight_decay"],
        *extra,
    )
    flags = {
        "maximize": bool(group["maximize"]),
        "has_wd": group["weight_decay"] != 0,
        "small": _small(beta1),
    }
    return args, {**flags, **static}


def _init_zeros(p: Tensor, state: dict[str, Any], *keys: str) -> None:
    """A fresh state: a float32 ``step`` count and a zero tensor like ``p`` under each key."""
    state["step"] = _step_tensor(param=p)
    for key in keys:
        state[key] = _zeros_like(p)


def _as_tensor(value) -> Tensor:
    """A state value loaded from elsewhere (a torch tensor, a numpy array) as a tracegrad tensor."""
    if isinstance(value, Tensor):
        value._handout()  # the loaded state holds value's array too
        return Tensor._wrap(_array(value))  # a new tensor: the loaded state must not alias
    return Tensor._wrap(jnp.asarray(np.asarray(value)))


def _is_foreign_array(value) -> bool:
    return not isinstance(value, (Tensor, str, bytes, int, float, bool)) and hasattr(
        value, "__array__"
    )


class Optimizer:
    """Base class of all optimizers, as ``torch.optim.Optimizer``.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter groups,
    each with a ``'params'`` entry and any per-group options overriding ``defaults``). Subclasses
    define the update; the base class keeps ``param_groups`` and ``state``, and provides
    ``zero_grad``, ``add_param_group``, ``state_dict``, ``load_state_dict`` and PyTorch's step and
    state-dict hooks.

    ``foreach``, ``fused`` and ``capturable`` choose among PyTorch's kernels; every tracegrad step
    is one fused, jitted update per group, so they are kept in the groups (state dicts look like
    PyTorch's) and change nothing else. ``differentiable=True`` (a step recorded by autograd) is
    refused with ``NotImplementedError``: updates write arrays in place, outside the graph.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        for name in _HOOK_DICTS:
            setattr(self, name, OrderedDict())
        self._patch_step_function()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__module__}.{type(params).__name__}"
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        self._check_flags(defaults)

    @staticmethod
    def _check_flags(defaults: dict[str, Any]) -> None:
        """PyTorch's checks of the implementation flags, then tracegrad's refusal of
        ``differentiable=True``."""
        if defaults.get("fused"):
            if defaults.get("differentiable"):
                raise RuntimeError("`fused` does not support `differentiable`")
            if defaults.get("foreach"):
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        if defaults.get("differentiable"):
            raise NotImplementedError(
                "differentiable=True is not supported: tracegrad's optimizer steps update the "
                "parameters' arrays in place, outside autograd, so a step cannot be "
                "differentiated. Write the update as tensor ops on non-leaf tensors instead "
                "(e.g. p = p - lr * g with create_graph=True gradients)."
            )

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in _HOOK_DICTS:
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())
        self._patch_step_function()
        self.defaults.setdefault("differentiable", False)

    def _patch_step_function(self) -> None:
        """Wrap the class's ``step`` (once per class) to run the step hooks, as PyTorch does."""
        cls = type(self)
        if not getattr(cls.step, "hooked", None):
            cls.step = _hooked_step(cls.step)

    # ------------------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook: Callable) -> _HookHandle:
        """Register a hook run before each ``step()``: ``hook(optimizer, args, kwargs) -> None or
        (new_args, new_kwargs)``; a returned pair replaces the step's arguments. Returns a handle
        whose ``remove()`` unregisters it."""
        return _add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> _HookHandle:
        """Register a hook run after each ``step()``: ``hook(optimizer, args, kwargs) -> None``."""
        return _add_hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> _HookHandle:
        """Register ``hook(optimizer) -> None``, run before :meth:`state_dict` builds the dict;
        ``prepend=True`` runs it before the hooks already registered."""
        return _add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> _HookHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict or None``, run on the dict
        :meth:`state_dict` built; a returned dict replaces it."""
        return _add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _HookHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict or None``, run before
        :meth:`load_state_dict` reads the dict (a shallow copy of the one passed); a returned dict
        is loaded instead."""
        return _add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _HookHandle:
        """Register ``hook(optimizer) -> None``, run after :meth:`load_state_dict` has loaded."""
        return _add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def __repr__(self) -> str:
        out = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"

    # ------------------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group (a dict with ``'params'`` and optional per-group options); options
        it does not set take the optimizer's defaults. Useful to unfreeze layers while training."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = params
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization parameter "
                    f"{name}"
                )
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this "
                "will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        seen: set[Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------------------ gradients
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters: to ``None`` (the default), or, with
        ``set_to_none=False``, to zeros in place (the gradient tensors are kept)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    # ------------------------------------------------------------------------------ the step
    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimization step. ``closure``, if given, re-evaluates the model (with grad
        mode on) and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    # The float hyperparameters whose update rules accept a traced value (a _LiftedHyper), so
    # tracegrad.compile makes them program inputs rather than cache-key values: a scheduler that
    # changes them every step does not retrace. "betas" means each float element of the tuple.
    _traced_hyperparameters: tuple[str, ...] = ("lr",)

    # A subclass whose update is one jitted function of (params, grads, *state arrays, *hypers)
    # returning (params, *state arrays) names the function, the state keys in its order and how
    # to read its hyperparameters from a group; the generic _update_group does the rest.
    _update_fn: Callable | None = None
    _state_keys: tuple[str, ...] = ()

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Fill a parameter's empty state (first step); subclasses with state override it."""

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """The update function's hyperparameter arguments and static keywords, from a group."""
        raise NotImplementedError

    def _update_group(self, group: dict[str, Any]) -> None:
        if self._update_fn is None:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement step(); an Optimizer subclass "
                "overrides step() or _update_group(group)"
            )
        params, states = self._prepare(group)
        if not params:
            return
        args, static = self._hyper_args(group)
        new_p, *new_state = self._update_fn(
            _arrays(params),
            _arrays(p._grad for p in params),
            *(_arrays(s[k] for s in states) for k in self._state_keys),
            *args,
            **static,
        )
        _write_back(params, states, new_p, **dict(zip(self._state_keys, new_state)))

    def _prepare(self, group: dict[str, Any]) -> tuple[list[Tensor], list[dict[str, Any]]]:
        """The group's parameters that have a gradient, and their state dicts (an empty one is
        filled by ``_init`` on the first step): what every update function starts from."""
        params = self._with_grad(group)
        states = []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                self._init(p, state, group)
            states.append(state)
        return params, states

    @staticmethod
    def _with_grad(group: dict[str, Any]) -> list[Tensor]:
        """The group's parameters that have a gradient (PyTorch skips the others entirely)."""
        return [p for p in group["params"] if p._grad is not None]

    # ------------------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's format: ``{'state': {index: {...}}, 'param_groups':
        [{options..., 'params': [indices]}]}``, indices numbering the parameters in group order.
        The state tensors are the optimizer's own (not copies), as in PyTorch. State-dict pre-
        and post-hooks run around it."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        mapping: dict[int, int] = {}
        start = 0

        def pack(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v) for k, v in self.state.items()
        }
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (this optimizer's, or one with the same group
        sizes). The state is copied; tensors are cast to their parameter's dtype (except the
        ``step`` counts), as PyTorch does. Tensors from other libraries (a ``torch.Tensor``,
        a numpy array) are converted. Load-state-dict pre- and post-hooks run around it."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        def cast(param: Tensor, value, key=None):
            if isinstance(value, Tensor) or _is_foreign_array(value):
                value = _as_tensor(value)
                if key == "step" or not param.is_floating_point():
                    return value
                return value.to(param.dtype)
            if key == "step" and isinstance(value, (int, float)):
                return _step_tensor(float(value))  # an old checkpoint's Python step count
            if isinstance(value, dict):
                return {k: cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return deepcopy(value)

        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = deepcopy(v)
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)
