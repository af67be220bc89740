"""Jacobians of a physics step with tracegrad.func: one RK4 step of the Lorenz system.

``step(state, params)`` advances the Lorenz system ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``,
``z' = x y - beta z`` by one classical Runge-Kutta step of size ``--dt``. Its Jacobians with respect
to the state (3 x 3) and to the parameters ``(sigma, rho, beta)`` (3 x 3) are computed with
``torch.func.jacrev`` (reverse mode, a row per output) and ``torch.func.jacfwd`` (forward mode, a
column per input), in float64, and checked against central finite differences.

Then two uses of the Jacobian:

* stability of the fixed point ``C+ = (sqrt(beta (rho - 1)), sqrt(beta (rho - 1)), rho - 1)``:
  the eigenvalues ``mu`` of the linearized step, against ``exp(dt * lambda)`` for the eigenvalues
  ``lambda`` of the vector field's Jacobian there (itself a ``jacrev``); ``|mu| > 1`` for a pair
  means the fixed point is an unstable spiral (``rho = 28`` is above the Hopf value 24.74);
* uncertainty propagation, as in an extended Kalman filter's prediction: a small Gaussian
  uncertainty ``P`` about the state is carried through ``--steps`` steps by ``P <- J P J^T``, and
  compared with the sample covariance of an ensemble of states stepped together by ``vmap``.

Run: python examples/jacobian_physics.py [--dt 0.01] [--steps 50] [--samples 20000]
"""

from __future__ import annotations

import argparse

import tracegrad as torch
from tracegrad.func import jacfwd, jacrev, vmap


def lorenz(state, params):
    """The Lorenz vector field at ``state = (x, y, z)`` for ``params = (sigma, rho, beta)``."""
    x, y, z = state[0], state[1], state[2]
    sigma, rho, beta = params[0], params[1], params[2]
    return torch.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def make_step(dt: float):
    """One classical fourth-order Runge-Kutta step of size ``dt``, as a function of the state and
    the parameters."""

    def step(state, params):
        k1 = lorenz(state, params)
        k2 = lorenz(state + 0.5 * dt * k1, params)
        k3 = lorenz(state + 0.5 * dt * k2, params)
        k4 = lorenz(state + dt * k3, params)
        return state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return step


def central_differences(f, x, eps: float = 1e-6):
    """The Jacobian of ``f`` at ``x`` column by column: ``(f(x + eps e_j) - f(x - eps e_j)) / 2 eps``."""
    columns = []
    for j in range(x.numel()):
        e = torch.zeros_like(x)
        e[j] = eps
        columns.append((f(x + e) - f(x - e)) / (2 * eps))
    return torch.stack(columns, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=50, help="steps of covariance propagation")
    parser.add_argument("--samples", type=int, default=20000, help="ensemble size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    f64 = torch.float64
    step = make_step(args.dt)
    params = torch.tensor([10.0, 28.0, 8.0 / 3.0], dtype=f64)

    # A point on the attractor: 500 steps from (1, 1, 1).
    state = torch.tensor([1.0, 1.0, 1.0], dtype=f64)
    for _ in range(500):
        state = step(state, params)
    print(f"state on the attractor: {[round(v, 4) for v in state.tolist()]}")

    # --- Jacobians of the step, reverse and forward mode, against finite differences ---------
    J_rev, Jp_rev = jacrev(step, argnums=(0, 1))(state, params)
    J_fwd, Jp_fwd = jacfwd(step, argnums=(0, 1))(state, params)
    J_fd = central_differences(lambda s: step(s, params), state)
    Jp_fd = central_differences(lambda p: step(state, p), params)
    torch.set_printoptions(precision=6)
    print("d step / d state (jacrev):")
    print(J_rev)
    print("d step / d (sigma, rho, beta) (jacrev):")
    print(Jp_rev)
    err_rev = max((J_rev - J_fd).abs().max().item(), (Jp_rev - Jp_fd).abs().max().item())
    err_fwd = max((J_fwd - J_fd).abs().max().item(), (Jp_fwd - Jp_fd).abs().max().item())
    err_rf = max((J_rev - J_fwd).abs().max().item(), (Jp_rev - Jp_fwd).abs().max().item())
    print(f"max |jacrev - finite differences| = {err_rev:.2e}")
    print(f"max |jacfwd - finite differences| = {err_fwd:.2e}")
    print(f"max |jacrev - jacfwd| = {err_rf:.2e}")
    print(f"jacobians match finite differences: {max(err_rev, err_fwd) < 1e-7}")

    # --- stability of the fixed point C+ --------------------------------------------------------
    sigma, rho, beta = params.tolist()
    c = (beta * (rho - 1)) ** 0.5
    fixed = torch.tensor([c, c, rho - 1], dtype=f64)
    drift = (step(fixed, params) - fixed).abs().max().item()
    print(f"fixed point C+ = {[round(v, 4) for v in fixed.tolist()]} (moves {drift:.1e} in a step)")
    mu = torch.linalg.eigvals(jacrev(step)(fixed, params))
    lam = torch.linalg.eigvals(jacrev(lorenz)(fixed, params))
    mu = mu[torch.argsort(mu.abs())]
    expected = torch.exp(args.dt * lam)
    # Each mu against its nearest exp(dt lambda) (a conjugate pair may come in either order).
    mismatch = (mu[:, None] - expected[None, :]).abs().min(1).values.max().item()
    print(f"eigenvalues of the vector field's Jacobian at C+: {_complex_list(lam)}")
    print(f"eigenvalues mu of the step's Jacobian at C+:      {_complex_list(mu)}")
    print(f"|mu|: {[round(v, 6) for v in mu.abs().tolist()]}")
    print(f"max |mu - exp(dt lambda)| = {mismatch:.2e} (RK4's error)")
    unstable = (mu.abs() > 1).sum().item()
    print(f"C+ is {'unstable' if unstable else 'stable'}: {unstable} of 3 |mu| > 1")

    # --- propagating an uncertainty: P <- J P J^T against an ensemble ---------------------------
    P0 = torch.diag(torch.tensor([1e-4, 4e-4, 1e-4], dtype=f64))
    mean, P = state, P0
    jac = jacrev(step)
    for _ in range(args.steps):
        J = jac(mean, params)
        P = J @ P @ J.T
        mean = step(mean, params)
    # An ensemble of states drawn from N(state, P0), all stepped at once with vmap.
    L = torch.linalg.cholesky(P0)
    ensemble = state + torch.randn(args.samples, 3, dtype=f64) @ L.T
    batched_step = vmap(step, in_dims=(0, None))
    for _ in range(args.steps):
        ensemble = batched_step(ensemble, params)
    centered = ensemble - ensemble.mean(0)
    P_mc = centered.T @ centered / (args.samples - 1)
    rel = ((P - P_mc).norm() / P_mc.norm()).item()
    print(f"covariance after {args.steps} steps (t = {args.steps * args.dt:g}), J P J^T:")
    print(P)
    print(f"ensemble of {args.samples} states:")
    print(P_mc)
    print(f"growth of the uncertainty: trace P / trace P0 = {(P.trace() / P0.trace()).item():.3f}")
    print(f"relative difference |J P J^T - ensemble| / |ensemble| = {rel:.3f}")


def _complex_list(z) -> list[str]:
    return [f"{v.real:.4f}{v.imag:+.4f}j" for v in z.tolist()]


if __name__ == "__main__":
    main()
