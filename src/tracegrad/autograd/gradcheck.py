"""``torch.autograd.gradcheck`` and ``gradgradcheck``: tracegrad's gradients against finite
differences.

The numerical Jacobian is built from central differences, one input element at a time, in the
inputs' own dtype (double precision is what makes the check meaningful; other dtypes warn, as in
PyTorch). The analytical one is built from ``autograd.grad``, one vector-Jacobian product per
output element. They are compared with ``allclose(analytical, numerical, rtol, atol)``. Both
Jacobians are laid out as PyTorch's: ``(input.numel(), output.numel())``.

What needs forward-mode AD or vmap (``check_forward_ad``, ``check_batched_grad``,
``check_batched_forward_grad``), sparse tensors (``masked=True``) and complex inputs or outputs
raise ``NotImplementedError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from ..creation import zeros_like
from ..tensor import Tensor, tensor
from . import engine

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]

FAILED_NONDET_MSG = """

NOTE: If your op relies on non-deterministic operations i.e., it is listed here:
https://pytorch.org/docs/stable/generated/torch.use_deterministic_algorithms.html
this failure might be expected.

If you are adding a new operator, please file an issue and then use one of the
workarounds. The workaround depends on how your test invokes gradcheck/gradgradcheck.
If the test
- manually invokes gradcheck/gradgradcheck, then call gradcheck/gradgradcheck
  with `nondet_tol=<tol>` as a keyword argument.
- is OpInfo-based (e.g., in test_ops_gradients.py), then modify the OpInfo for the test
  to have `gradcheck_nondet_tol=<tol>`.
- is a Module test (e.g., in common_nn.py), then modify the corresponding
  module_test entry to have `gradcheck_nondet_tol=<tol>`
"""


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` and ``gradgradcheck`` when a check fails."""


def _as_tuple(x) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _differentiable_outputs(out) -> tuple:
    return tuple(o for o in _as_tuple(out) if isinstance(o, Tensor) and o.requires_grad)


def _is_complex(t: Tensor) -> bool:
    return t._storage.array.dtype.kind == "c"


def _refuse(**options) -> None:
    for name, (value, why) in options.items():
        if value:
            raise NotImplementedError(
                f"gradcheck({name}=True) is not supported in tracegrad: {why}; "
                f"call it with {name}=False"
            )


def _numerical(func, inputs: tuple, diff: list, eps: float) -> list:
    """``[output][input]`` Jacobians by central differences, each ``(input.numel(),
    output.numel())``, in float64 numpy."""
    base = [x.detach().numpy() if isinstance(x, Tensor) else x for x in inputs]

    def run(i, flat_index, delta):
        arr = base[i].copy()
        arr.reshape(-1)[flat_index] += delta
        args = list(inputs)
        # The perturbed input keeps requires_grad: gradgradcheck's function differentiates it.
        args[i] = tensor(arr, dtype=inputs[i].dtype, requires_grad=inputs[i].requires_grad)
        outs = _as_tuple(func(*args))
        return [np.asarray(o.detach().numpy(), dtype=np.float64).reshape(-1) for o in outs]

    outs0 = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
    jac = [[None] * len(diff) for _ in outs0]
    for k, i in enumerate(diff):
        n = inputs[i].numel()
        cols = [np.zeros((n, o.numel())) for o in outs0]
        for j in range(n):
            plus, minus = run(i, j, eps), run(i, j, -eps)
            for m in range(len(outs0)):
                cols[m][j] = (plus[m] - minus[m]) / (2 * eps)
        for m in range(len(outs0)):
            jac[m][k] = cols[m]
    return jac


def _analytical(outputs: tuple, inputs: list, nondet_tol: float, check_grad_dtypes: bool):
    """``[output][input]`` Jacobians from one ``autograd.grad`` per output element (run twice,
    to check that backward is deterministic)."""
    result = []
    for out in outputs:
        n = out.numel()
        per_input = [np.zeros((x.numel(), n)) for x in inputs]
        for k in range(n):
            seed = np.zeros(n)
            seed[k] = 1
            g = tensor(seed.reshape(out.shape), dtype=out.dtype)
            first = _vjp(out, inputs, g)
            second = _vjp(out, inputs, g)
            for i, (a, b, x) in enumerate(zip(first, second, inputs)):
                if a is None:
                    continue
                if tuple(a.shape) != tuple(x.shape):
                    raise GradcheckError("Analytical gradient has incorrect size")
                if check_grad_dtypes and a.dtype != x.dtype:
                    raise GradcheckError("Gradient has dtype mismatch")
                av = np.asarray(a.detach().numpy(), dtype=np.float64).reshape(-1)
                bv = np.asarray(b.detach().numpy(), dtype=np.float64).reshape(-1)
                if np.abs(av - bv).max(initial=0.0) > nondet_tol:
                    raise GradcheckError(
                        "Backward is not reentrant, i.e., running backward with same input and "
                        "grad_output multiple times gives different values, although analytical "
                        "gradient matches numerical gradient."
                        f"The tolerance for nondeterminism was {nondet_tol}." + FAILED_NONDET_MSG
                    )
                per_input[i][:, k] = av
        result.append(per_input)
    return result


def _vjp(out: Tensor, inputs: list, g: Tensor, create_graph: bool = False) -> list:
    """``autograd.grad(out, inputs, g, allow_unused=True, retain_graph=True)``: None for an input
    the graph does not reach."""
    return engine.run_backward([out], [g], True, create_graph, inputs=inputs, accumulate=False)


def _fmt(matrix: np.ndarray, dtype) -> str:
    return repr(tensor(matrix, dtype=dtype))


def _check(func, inputs, *, eps, atol, rtol, nondet_tol, check_undefined_grad, check_grad_dtypes):
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of the "
            "them have requires_grad=True."
        )
    for i in diff:
        x = inputs[i]
        if _is_complex(x):
            raise NotImplementedError(
                "gradcheck of complex inputs is not supported in tracegrad; check the real and "
                "imaginary parts as separate real inputs"
            )
        if x.dtype.np != np.float64:
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or "
                "complex. This check will likely fail if all the inputs are not of double "
                "precision floating point or complex. ",
                stacklevel=3,
            )
    outputs = _as_tuple(func(*inputs))
    diff_outputs = _differentiable_outputs(outputs)
    if any(_is_complex(o) for o in diff_outputs):
        raise NotImplementedError(
            "gradcheck of a function with complex outputs is not supported in tracegrad; "
            "return the real and imaginary parts (tracegrad.view_as_real) instead"
        )
    numerical = _numerical(func, inputs, diff, eps)
    tensor_outputs = [o for o in outputs if isinstance(o, Tensor)]
    if not diff_outputs:
        for per_out in numerical:
            for j in per_out:
                if not np.allclose(j, 0.0, rtol=rtol, atol=atol):
                    raise GradcheckError("Numerical gradient for function expected to be zero")
        return True
    diff_inputs = [inputs[i] for i in diff]
    analytical = _analytical(diff_outputs, diff_inputs, nondet_tol, check_grad_dtypes)
    numerical = [n for n, o in zip(numerical, tensor_outputs) if o.requires_grad]
    for m, (a_out, n_out) in enumerate(zip(analytical, numerical)):
        for k, (a, n) in enumerate(zip(a_out, n_out)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                dtype = diff_inputs[k].dtype
                raise GradcheckError(
                    f"Jacobian mismatch for output {m:d} with respect to input {diff[k]:d},\n"
                    f"numerical:{_fmt(n, dtype)}\nanalytical:{_fmt(a, dtype)}\n"
                )
    if check_undefined_grad:
        # tracegrad has no undefined gradients: a zero cotangent must give zero gradients.
        for out in diff_outputs:
            for g in _vjp(out, diff_inputs, zeros_like(out)):
                if g is not None and np.any(g.detach().numpy() != 0):
                    raise GradcheckError(
                        "Expected backward function to handle undefined output grads. Please "
                        'look at "Notes about undefined output gradients" in '
                        '"tools/autograd/derivatives.yaml"'
                    )
    return True


def gradcheck(
    func: Callable,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check the gradients of ``func`` at ``inputs`` (a tensor or a tuple; the tensors that
    require grad are differentiated) against central finite differences of step ``eps``:
    every entry of the Jacobian must satisfy ``|analytical - numerical| <= atol + rtol *
    |numerical|``. Returns True, or raises :class:`GradcheckError` naming the output and input
    and printing both Jacobians (returns False instead when ``raise_exception=False``). Use
    float64 inputs. ``fast_mode`` compares the full Jacobians too (the values checked are a
    superset of PyTorch's random projections)."""
    _refuse(
        check_forward_ad=(check_forward_ad, "it has no forward-mode AD"),
        check_batched_grad=(check_batched_grad, "it has no vmap over the backward"),
        check_batched_forward_grad=(
            check_batched_forward_grad,
            "it has no forward-mode AD or vmap",
        ),
        masked=(masked, "it has no sparse tensors"),
    )
    if not check_backward_ad:
        raise ValueError(
            "Expected at least one of check_forward_ad or check_backward_ad to be True"
        )
    del fast_mode  # the full Jacobians are compared: every check fast mode makes, and more
    try:
        return _check(
            func,
            _as_tuple(inputs),
            eps=eps,
            atol=atol,
            rtol=rtol,
            nondet_tol=nondet_tol,
            check_undefined_grad=check_undefined_grad,
            check_grad_dtypes=check_grad_dtypes,
        )
    except GradcheckError:
        if raise_exception:
            raise
        return False


def gradgradcheck(
    func: Callable,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives: :func:`gradcheck` of the function ``(inputs, grad_outputs) ->
    autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)``. Without
    ``grad_outputs``, random ones in [-1, 1) that require grad are used.
    ``gen_non_contig_grad_outputs`` is accepted: every tensor is contiguous in tracegrad."""
    del gen_non_contig_grad_outputs  # no strides in JAX: the values are the same
    if not (check_fwd_over_rev or check_rev_over_rev):
        raise AssertionError(
            "Expected at least one of check_fwd_over_rev or check_rev_over_rev to be True"
        )
    _refuse(
        check_fwd_over_rev=(check_fwd_over_rev, "it has no forward-mode AD"),
        check_batched_grad=(check_batched_grad, "it has no vmap over the backward"),
        masked=(masked, "it has no sparse tensors"),
    )
    tupled_inputs = _as_tuple(inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        outputs = _differentiable_outputs(func(*tupled_inputs))
        tupled_grad_outputs = tuple(
            tensor(rng.uniform(-1, 1, size=tuple(o.shape)), dtype=o.dtype, requires_grad=True)
            for o in outputs
        )
    else:
        tupled_grad_outputs = _as_tuple(grad_outputs)
    num_outputs = len(tupled_grad_outputs)
    diff_input_indices = {
        i for i, x in enumerate(tupled_inputs) if isinstance(x, Tensor) and x.requires_grad
    }

    def new_func(*args):
        input_args = args[:-num_outputs]
        outputs = _differentiable_outputs(func(*input_args))
        grad_outs = args[-num_outputs:]
        diff_inputs = [x for i, x in enumerate(input_args) if i in diff_input_indices]
        grads = []
        for out, g in zip(outputs, grad_outs):
            grads.append(_vjp(out, diff_inputs, g, create_graph=True))
        summed = []
        for i in range(len(diff_inputs)):
            parts = [gs[i] for gs in grads if gs[i] is not None]
            if parts:
                total = parts[0]
                for p in parts[1:]:
                    total = total + p
                summed.append(total)
        return tuple(summed)

    return gradcheck(
        new_func,
        tupled_inputs + tupled_grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_undefined_grad=check_undefined_grad,
        check_grad_dtypes=check_grad_dtypes,
        fast_mode=fast_mode,
    )
