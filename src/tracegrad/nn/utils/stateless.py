"""``functional_call``: call a module with some parameters and buffers replaced for the one call,
as ``torch.nn.utils.stateless.functional_call`` (deprecated there in favour of
``torch.func.functional_call``, with the same ``FutureWarning`` here)."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from ...tensor import Tensor
from ..modules.module import Module

__all__ = ["functional_call"]

_MISSING: Any = object()


def _swap_tensor(module: Module, name: str, tensor: Any) -> Any:
    """Put ``tensor`` at ``module.<name>`` (``_MISSING`` removes it) and return what was
    there."""
    if tensor is not _MISSING and not isinstance(tensor, Tensor) and tensor is not None:
        raise TypeError(f"{tensor} is not an instance of torch.Tensor")
    if "." in name:
        raise KeyError('tensor name can\'t contain "."')
    if name == "":
        raise KeyError('tensor name can\'t be empty string ""')
    if name in module._parameters:
        orig = module._parameters[name]
        if tensor is not _MISSING:
            module._parameters[name] = tensor
        else:
            del module._parameters[name]
    elif name in module._buffers:
        orig = module._buffers[name]
        if tensor is not _MISSING:
            module._buffers[name] = tensor
        else:
            del module._buffers[name]
    else:
        orig = getattr(module, name) if hasattr(module, name) else _MISSING
        if orig is not _MISSING and not isinstance(orig, Tensor) and orig is not None:
            raise TypeError(f"attribute `{name}`: {orig} is not an instance of torch.Tensor")
        if tensor is not _MISSING:
            setattr(module, name, tensor)
        elif hasattr(module, name):
            delattr(module, name)
    return orig


def _swap(root: Module, path: str, tensor: Any) -> Any:
    prefix, _, name = path.rpartition(".")
    module = root
    for item in prefix.split(".") if prefix else []:
        module = getattr(module, item, None)
        if not isinstance(module, Module):
            if tensor is _MISSING:
                return _MISSING
            raise AttributeError(f"{root._get_name()} has no attribute `{item}`")
    return _swap_tensor(module, name, tensor)


def _untie_named_tensors_map(
    module: Module, parameters_and_buffers: dict[str, Tensor]
) -> dict[str, Tensor]:
    """Extend ``parameters_and_buffers`` so that a value given for one name of a tied tensor
    (one tensor reachable under several names) replaces it under all its names."""
    all_named: dict[str, Tensor] = {}
    all_named.update(module.named_parameters(remove_duplicate=False))
    all_named.update(module.named_buffers(remove_duplicate=False))
    names_of: dict[int, set[str]] = {}
    for name, t in all_named.items():
        names_of.setdefault(id(t), set()).add(name)
    tied: dict[str, set[str]] = {}
    for names in names_of.values():
        if len(names) > 1:
            for n in names:
                tied[n] = names
    given = set(parameters_and_buffers)
    given_tied = {n for n in given if n in tied}
    for g in given_tied:
        names = tied[g]
        if (
            len(names & given_tied) > 1
            and len({id(parameters_and_buffers[n]) for n in names & given_tied}) != 1
        ):
            raise ValueError(
                f"functional_call got multiple values for keys {sorted(names)}, "
                "which are tied. Consider using tie_weights=False"
            )
    untied = dict(parameters_and_buffers)
    for g in given_tied:
        for n in tied[g]:
            untied[n] = parameters_and_buffers[g]
    return untied


@contextlib.contextmanager
def _reparametrize_module(
    module: Module,
    parameters_and_buffers: dict[str, Tensor],
    tie_weights: bool = False,
    strict: bool = False,
):
    values = (
        _untie_named_tensors_map(module, parameters_and_buffers)
        if tie_weights
        else parameters_and_buffers
    )
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(valid - set(values)), sorted(set(values) - valid)
        errors = []
        if unexpected:
            errors.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            errors.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if errors:
            raise RuntimeError(
                "Error(s) in reparametrizing for {}:\n\t{}".format(
                    module._get_name(), "\n\t".join(errors)
                )
            )
    originals: dict[str, Any] = {}
    try:
        for name, t in values.items():
            originals[name] = _swap(module, name, t)
        yield
    finally:
        for name, orig in originals.items():
            _swap(module, name, orig)


def _functional_call(
    module: Module,
    parameters_and_buffers: dict[str, Tensor],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize_module(
        module, parameters_and_buffers, tie_weights=tie_weights, strict=strict
    ):
        return module(*args, **kwargs)


def functional_call(
    module: Module,
    parameters_and_buffers: dict[str, Tensor],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
):
    """``module(*args, **kwargs)`` with the parameters and buffers named (dotted, as in
    ``state_dict``) in ``parameters_and_buffers`` replaced by the given tensors for this call
    only, as ``torch.nn.utils.stateless.functional_call``. The originals are put back afterwards,
    also on error. With ``tie_weights`` a value given for one name of a tied tensor applies to
    all its names; with ``strict`` the keys must be exactly the module's parameters and buffers.
    Warns with PyTorch's ``FutureWarning`` (this name is deprecated there)."""
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 "
        "and will be removed in a future version of PyTorch. "
        "Please use `torch.func.functional_call` instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )
