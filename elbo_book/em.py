"""EM as coordinate ascent on the ELBO (Neal & Hinton 1998), for the book's conjugate model.

Model: z_n ~ N(μ₀, 1), x_n | z_n ~ N(z_n, σ_x²), n = 1..N, with the prior mean θ = μ₀ unknown.
The ELBO of the data set, Σ_n ℒ_n(μ₀, q_n), is raised in turn over the two blocks:

* E-step: q_n ← p(z_n | x_n; μ₀) = N(m_n, s²), m_n = s² (μ₀ + x_n / σ_x²), s² = 1 / (1 + 1/σ_x²);
  this sets every KL(q_n ‖ p(z_n | x_n)) to zero, so the ELBO equals log p(x; μ₀).
* M-step: μ₀ ← (1/N) Σ_n m_n, the root of ∂/∂μ₀ Σ_n ℒ_n = Σ_n (m_n − μ₀) (derived from the verified
  closed form by ``elbo_book.book.ch01_jensen_bound.em_m_step``).

Each iteration cannot lower log p(x; μ₀) = Σ_n log N(x_n; μ₀, 1 + σ_x²); the fixed point is the
maximum-likelihood estimate μ₀ = mean(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "EMHistory",
    "em_prior_mean",
    "log_evidence",
]


@dataclass(frozen=True)
class EMHistory:
    """One EM run: ``prior_means[t]`` is μ₀ after t iterations (``[0]`` is the start);
    ``log_evidence[t]`` is log p(x; prior_means[t]); ``elbo_after_m[t]`` (t ≥ 1) is the ELBO right
    after the t-th M-step, with q from the preceding E-step, so log_evidence[t − 1] ≤
    elbo_after_m[t] ≤ log_evidence[t]."""

    prior_means: list[float]
    log_evidence: list[float]
    elbo_after_m: list[float]


def _elbo(x: np.ndarray, prior_mean: float, means: np.ndarray, var: float, noise: float) -> float:
    """Σ_n ℒ_n for q_n = N(m_n, s²): the closed form of ``gaussian_elbo_prior_mean``, summed."""
    per_point = (
        -0.5 * math.log(2 * math.pi)
        - math.log(noise)
        - ((x - means) ** 2 + var) / (2 * noise**2)
        - ((means - prior_mean) ** 2 + var) / 2
        + 0.5
        + 0.5 * math.log(var)
    )
    return float(per_point.sum())


def log_evidence(x: ArrayLike, prior_mean: float, noise_scale: float) -> float:
    """log p(x; μ₀) = Σ_n log N(x_n; μ₀, 1 + σ_x²) for the conjugate model.

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior_mean: μ₀ (finite).
        noise_scale: σ_x (finite, > 0).

    Returns:
        The log evidence of the data set, in nats.

    Raises:
        ValueError: empty or non-finite ``x``, non-finite μ₀, or σ_x ≤ 0.
    """
    data, noise = _check(x, prior_mean, noise_scale)
    var = 1.0 + noise**2
    return float((-0.5 * np.log(2 * np.pi * var) - (data - prior_mean) ** 2 / (2 * var)).sum())


def _check(x: ArrayLike, prior_mean: float, noise_scale: float) -> tuple[np.ndarray, float]:
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError("x must be a non-empty 1-d array of finite values")
    if not math.isfinite(prior_mean):
        raise ValueError(f"prior_mean must be finite, got {prior_mean}")
    if not (math.isfinite(noise_scale) and noise_scale > 0):
        raise ValueError(f"noise_scale must be finite and > 0, got {noise_scale}")
    return data, float(noise_scale)


def em_prior_mean(x: ArrayLike, noise_scale: float, init: float, iterations: int) -> EMHistory:
    """Fit μ₀ by EM: alternate the exact E-step and the closed-form M-step.

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        noise_scale: σ_x (finite, > 0).
        init: the starting μ₀ (finite).
        iterations: the number of E-step/M-step pairs (an int ≥ 0).

    Returns:
        The :class:`EMHistory` of the run.

    Raises:
        TypeError: ``iterations`` is not an int.
        ValueError: ``iterations`` < 0, or bad ``x``, ``noise_scale`` or ``init``.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError(f"iterations must be an int, got {type(iterations).__name__}")
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    data, noise = _check(x, init, noise_scale)
    var = 1.0 / (1.0 + 1.0 / noise**2)  # posterior variance s², the same for every point
    mu0 = float(init)
    history = EMHistory([mu0], [log_evidence(data, mu0, noise)], [math.nan])
    for _ in range(iterations):
        means = var * (mu0 + data / noise**2)  # E-step: q_n = p(z_n | x_n; μ₀)
        mu0 = float(means.mean())  # M-step: the root of Σ_n (m_n − μ₀)
        history.prior_means.append(mu0)
        history.log_evidence.append(log_evidence(data, mu0, noise))
        history.elbo_after_m.append(_elbo(data, mu0, means, var, noise))
    return history
