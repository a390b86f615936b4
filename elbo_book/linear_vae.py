"""The linear-Gaussian β-VAE: a VAE whose optimum is known in closed form for every β.

Model on one data dimension, with a Gaussian prior of variance τ² and a fixed decoder variance σ²:

    p(z) = N(0, τ²),   p_θ(x|z) = N(w z, σ²),   q_φ(z|x) = N(a x, s²),   x ~ N(0, v).

Averaged over the data, the β-objective E_x[E_q log p(x|z) − β KL(q(z|x) ‖ p(z))] is

    J_β(w, a, s²) = −½ log 2πσ² − [(1 − w a)² v + w² s²] / (2σ²)
                    − (β/2) [(s² + a² v)/τ² − 1 − log(s²/τ²)],

which depends on the data only through v = E[x²].  Its maximiser (see :func:`stationary_points`) is

- if v > βσ²:  w² = (v − βσ²)/τ²,  a = w τ²/v,  s² = βσ²τ²/v;
  rate ½ log(v/(βσ²)), distortion ½ log 2πσ² + β/2;
- if v ≤ βσ²:  w = a = 0, s² = τ² (posterior collapse); rate 0, distortion ½ log 2πσ² + v/(2σ²).

The collapse threshold v = βσ² does not involve τ²: the decoder weight absorbs the prior's scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy
import torch
from torch import nn
from torch.distributions import Independent, Normal

from elbo_book.objectives import beta_elbo
from elbo_book.validation import (
    MIN_SCALE,
    check_int,
    check_nonnegative,
    check_positive,
    check_real,
    check_seed,
    check_tensor,
)

__all__ = [
    "LinearGaussianVAE",
    "LinearVAEOptimum",
    "closed_form_optimum",
    "expected_log_evidence",
    "fit_linear_vae",
    "population_objective",
    "stationary_points",
    "symbolic_beta_objective",
]


def symbolic_beta_objective() -> tuple[sympy.Expr, dict[str, sympy.Symbol]]:
    """J_β(w, a, s²) of the module docstring as a SymPy expression.

    Returns:
        The pair ``(objective, symbols)``, the expression and a dict of its symbols keyed
        ``"w"``, ``"a"`` (real) and ``"s2"``, ``"v"``, ``"sigma2"``, ``"beta"``, ``"tau2"``
        (positive).
    """
    w, a = sympy.symbols("w a", real=True)
    s2 = sympy.Symbol("s^2", positive=True)
    v = sympy.Symbol("v", positive=True)
    sigma2 = sympy.Symbol("sigma^2", positive=True)
    beta = sympy.Symbol("beta", positive=True)
    tau2 = sympy.Symbol("tau^2", positive=True)
    reconstruction = -sympy.log(2 * sympy.pi * sigma2) / 2 - ((1 - w * a) ** 2 * v + w**2 * s2) / (
        2 * sigma2
    )
    kl = ((s2 + a**2 * v) / tau2 - 1 - sympy.log(s2 / tau2)) / 2
    symbols = {"w": w, "a": a, "s2": s2, "v": v, "sigma2": sigma2, "beta": beta, "tau2": tau2}
    return reconstruction - beta * kl, symbols


def stationary_points() -> list[dict[sympy.Symbol, sympy.Expr]]:
    """All solutions of ∂J_β/∂w = ∂J_β/∂a = ∂J_β/∂s² = 0 (SymPy ``solve``; about a second).

    There are three: the collapsed point w = a = 0, s² = τ², and the pair ±w with
    w² = (v − βσ²)/τ², which is real only when v ≥ βσ².

    Returns:
        One dict per solution, mapping the symbols w, a, s² to expressions.
    """
    objective, sym = symbolic_beta_objective()
    unknowns = [sym["w"], sym["a"], sym["s2"]]
    equations = [sympy.diff(objective, u) for u in unknowns]
    return sympy.solve(equations, unknowns, dict=True)


@dataclass(frozen=True)
class LinearVAEOptimum:
    """Maximiser (w ≥ 0 of the ± pair) of J_β and its rate and distortion (nats per example).

    Attributes:
        w: the decoder weight.
        a: the encoder weight.
        s2: the encoder variance s².
        rate: KL(q(z|x) ‖ p(z)) averaged over the data.
        distortion: −E[log p(x|z)] averaged over the data.
        collapsed: whether w = 0 (posterior collapse).
    """

    w: float
    a: float
    s2: float
    rate: float
    distortion: float
    collapsed: bool


def _check_setting(v: float, sigma2: float, beta: float, prior_var: float) -> None:
    check_positive(v, "v (the data variance E[x²])")
    check_positive(sigma2, "sigma2 (the decoder variance)")
    check_positive(beta, "beta")
    check_positive(prior_var, "prior_var (the prior variance τ²)")


def closed_form_optimum(
    v: float, sigma2: float, beta: float, prior_var: float = 1.0
) -> LinearVAEOptimum:
    """The maximiser of J_β (module docstring): collapsed exactly when v ≤ βσ².

    Args:
        v: the data variance E[x²] > 0.
        sigma2: the decoder variance σ² > 0.
        beta: the KL weight β > 0.
        prior_var: the prior variance τ² > 0.

    Returns:
        The :class:`LinearVAEOptimum`.

    Raises:
        ValueError: an argument is not a finite positive number.
    """
    _check_setting(v, sigma2, beta, prior_var)
    if v <= beta * sigma2:
        distortion = 0.5 * math.log(2 * math.pi * sigma2) + v / (2 * sigma2)
        return LinearVAEOptimum(0.0, 0.0, prior_var, 0.0, distortion, True)
    w = math.sqrt((v - beta * sigma2) / prior_var)
    return LinearVAEOptimum(
        w=w,
        a=w * prior_var / v,
        s2=beta * sigma2 * prior_var / v,
        rate=0.5 * math.log(v / (beta * sigma2)),
        distortion=0.5 * math.log(2 * math.pi * sigma2) + beta / 2,
        collapsed=False,
    )


def population_objective(
    w: float,
    a: float,
    s2: float,
    *,
    v: float,
    sigma2: float,
    beta: float,
    prior_var: float = 1.0,
) -> float:
    """J_β(w, a, s²) = −distortion − β · rate, in closed form (module docstring).

    Args:
        w: the decoder weight (finite).
        a: the encoder weight (finite).
        s2: the encoder variance s² > 0.
        v: the data variance E[x²] > 0.
        sigma2: the decoder variance σ² > 0.
        beta: the KL weight β > 0.
        prior_var: the prior variance τ² > 0.

    Returns:
        J_β in nats per example.

    Raises:
        ValueError: an argument is not a finite number in its range.
    """
    _check_setting(v, sigma2, beta, prior_var)
    w, a = check_real(w, "w"), check_real(a, "a")
    s2 = check_positive(s2, "s2 (the encoder variance)")
    distortion = 0.5 * math.log(2 * math.pi * sigma2) + ((1 - w * a) ** 2 * v + w**2 * s2) / (
        2 * sigma2
    )
    rate = 0.5 * ((s2 + a**2 * v) / prior_var - 1 - math.log(s2 / prior_var))
    return -distortion - beta * rate


def expected_log_evidence(w: float, *, v: float, sigma2: float, prior_var: float = 1.0) -> float:
    """E_x log p(x) for x ~ N(0, v) under the marginal p(x) = N(0, w²τ² + σ²):

        −½ log 2π(w²τ² + σ²) − v / (2(w²τ² + σ²)),

    the quantity every β-objective with β ≥ 1 stays below.

    Args:
        w: the decoder weight (finite).
        v: the data variance E[x²] > 0.
        sigma2: the decoder variance σ² > 0.
        prior_var: the prior variance τ² > 0.

    Returns:
        The expected log-evidence in nats per example.

    Raises:
        ValueError: an argument is not a finite number in its range.
    """
    _check_setting(v, sigma2, 1.0, prior_var)
    w = check_real(w, "w")
    model_var = w**2 * prior_var + sigma2
    return -0.5 * math.log(2 * math.pi * model_var) - v / (2 * model_var)


class LinearGaussianVAE(nn.Module):
    """p(z) = N(0, τ²), p(x|z) = N(w z, σ²) (σ² fixed), q(z|x) = N(a x, s²), on one dimension.

    Learnable: ``w``, ``a`` and ``log_s2`` = log s².  It satisfies
    :class:`elbo_book.models.LatentVariableModel` and has ``encode``, so the objectives in
    :mod:`elbo_book.objectives` apply; ``x`` and ``z`` have shape ``(..., 1)``.

    Args:
        sigma2: the decoder variance σ² ≥ MIN_SCALE² (10⁻²⁴).
        prior_var: the prior variance τ² ≥ MIN_SCALE².
        init_scale: the initial value (> 0) of ``w`` and ``a``.

    Raises:
        ValueError: an argument is not a finite positive number.
    """

    def __init__(self, sigma2: float, prior_var: float = 1.0, *, init_scale: float = 0.5) -> None:
        super().__init__()
        self.sigma2 = check_positive(sigma2, "sigma2")
        self.prior_var = check_positive(prior_var, "prior_var")
        for name, variance in (("sigma2", self.sigma2), ("prior_var", self.prior_var)):
            if variance < MIN_SCALE**2:
                raise ValueError(
                    f"{name} must be >= MIN_SCALE**2 = {MIN_SCALE**2:g}, got {variance}"
                )
        init_scale = check_positive(init_scale, "init_scale")
        self.w = nn.Parameter(torch.tensor(init_scale))
        self.a = nn.Parameter(torch.tensor(init_scale))
        self.log_s2 = nn.Parameter(torch.tensor(0.0))

    def prior(self) -> Independent:
        """p(z) = N(0, τ²).

        Returns:
            The prior, event shape ``(1,)``.
        """
        zero = torch.zeros(1, dtype=self.w.dtype)
        return Independent(Normal(zero, zero + math.sqrt(self.prior_var)), 1)

    def likelihood(self, z: torch.Tensor) -> Independent:
        """p(x|z) = N(w z, σ²).

        Args:
            z: latents of shape ``(..., 1)``.

        Returns:
            The likelihood, batch shape ``z.shape[:-1]``, event shape ``(1,)``.

        Raises:
            ValueError: ``z`` is not a finite floating tensor of that shape.
        """
        check_tensor(z, "z", min_ndim=1, last_dim=1)
        return Independent(Normal(self.w * z, math.sqrt(self.sigma2)), 1)

    def encode(self, x: torch.Tensor) -> Independent:
        """q(z|x) = N(a x, s²).

        Args:
            x: data of shape ``(..., 1)``.

        Returns:
            q(z|x), batch shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is not a finite floating tensor of that shape.
        """
        check_tensor(x, "x", min_ndim=1, last_dim=1)
        return Independent(Normal(self.a * x, torch.exp(0.5 * self.log_s2).expand_as(x)), 1)

    def optimum_view(self, v: float, beta: float) -> LinearVAEOptimum:
        """The current parameters with their rate and distortion, as :func:`closed_form_optimum`.

        The sign is normalised so that w ≥ 0; ``collapsed`` means abs(w) < 0.01.

        Args:
            v: the data variance E[x²] > 0.
            beta: the KL weight β ≥ 0 (kept for symmetry with :func:`closed_form_optimum`).

        Returns:
            The :class:`LinearVAEOptimum` of the current parameters.

        Raises:
            ValueError: ``v`` or ``beta`` out of range.
        """
        check_positive(v, "v")
        check_nonnegative(beta, "beta")
        sign = 1.0 if float(self.w.detach()) >= 0 else -1.0
        w, a = sign * float(self.w.detach()), sign * float(self.a.detach())
        s2 = float(torch.exp(self.log_s2.detach()))
        rate = 0.5 * ((s2 + a**2 * v) / self.prior_var - 1 - math.log(s2 / self.prior_var))
        distortion = 0.5 * math.log(2 * math.pi * self.sigma2) + (
            (1 - w * a) ** 2 * v + w**2 * s2
        ) / (2 * self.sigma2)
        return LinearVAEOptimum(w, a, s2, rate, distortion, collapsed=abs(w) < 1e-2)


def fit_linear_vae(
    x: torch.Tensor,
    *,
    sigma2: float,
    beta: float,
    prior_var: float = 1.0,
    steps: int = 2000,
    lr: float = 0.02,
    n_samples: int = 8,
    seed: int = 0,
) -> LinearGaussianVAE:
    """Train a :class:`LinearGaussianVAE` by full-batch Adam on the Monte Carlo β-objective.

    ``beta_elbo`` with ``n_samples`` reparameterised draws, with the learning rate decayed
    linearly to zero so that the iterate settles; seeded by ``seed``.

    Args:
        x: the data, shape ``(N, 1)``.
        sigma2: the decoder variance σ² > 0.
        beta: the KL weight β > 0.
        prior_var: the prior variance τ² > 0.
        steps: the number of Adam steps, ≥ 1.
        lr: the initial learning rate, > 0.
        n_samples: Monte Carlo draws per step, ≥ 1.
        seed: the seed, an int in [0, 2**63).

    Returns:
        The trained model.

    Raises:
        ValueError: a bad argument.
    """
    check_tensor(x, "x", ndim=2, last_dim=1)
    beta = check_positive(beta, "beta")
    steps = check_int(steps, "steps")
    lr = check_positive(lr, "lr")
    n_samples = check_int(n_samples, "n_samples")
    seed = check_seed(seed)
    torch.manual_seed(seed)
    model = LinearGaussianVAE(sigma2, prior_var)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    for _ in range(steps):
        loss = -beta_elbo(model, x, beta=beta, n_samples=n_samples, reduction="mean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model
