"""Mean-field (fully factorised) Gaussian approximations of a correlated Gaussian.

The target is p(z) = N(μ, Σ) on R^d with precision Λ = Σ⁻¹; the family is
q(z) = ∏_j N(z_j; m_j, v_j).

The divergence (:func:`kl_factorised`) is

    KL(q ‖ p) = ½[Σ_j Λ_jj v_j + (m − μ)ᵀ Λ (m − μ) − d + log det Σ − Σ_j log v_j].

Its minimiser in closed form (Bishop 2006, §10.1.2; :func:`mean_field_optimum`) is m = μ and
v_j = 1 / Λ_jj. Since 1 / Λ_jj ≤ Σ_jj, with equality only when z_j is uncorrelated with the rest,
the factorised q *underestimates* the marginal variances. Coordinate ascent (CAVI, :func:`cavi`)
sets each factor in turn to its optimum given the others,
m_j ← μ_j − (1/Λ_jj) Σ_{k≠j} Λ_jk (m_k − μ_k), v_j ← 1/Λ_jj; each update lowers KL(q ‖ p) (raises
the ELBO) and the means converge to μ. The reverse divergence KL(p ‖ q) over the same family is
minimised by the marginals, m = μ and v_j = Σ_jj (:func:`moment_matched_factors`).

CAVI with two latent blocks (Bishop 2006, §10.1.3): x_n | μ, τ ~ N(μ, 1/τ), n = 1..N, with the
Normal-Gamma prior μ | τ ~ N(μ₀, 1/(λ₀τ)), τ ~ Gam(a₀, b₀) (shape a₀, rate b₀), and the family
q(μ, τ) = q(μ) q(τ). Write S₁ = Σ_n x_n and S₂ = Σ_n x_n². The optimal factors
(``elbo_book.book.ch02_kl_elbo_identity``: ``cavi_mean_factor``, ``cavi_precision_factor``) are

* q(μ) = N(m, 1/λ), m = (λ₀μ₀ + S₁)/(λ₀ + N), λ = (λ₀ + N) E_q[τ], with E_q[τ] = a/b;
* q(τ) = Gam(a, b), a = a₀ + (N + 1)/2,
  b = b₀ + ½[S₂ − 2 m S₁ + N(m² + 1/λ) + λ₀((m − μ₀)² + 1/λ)].

:func:`cavi_normal_gamma` alternates them, :func:`normal_gamma_elbo` is the ELBO of a factorised
q, :func:`normal_gamma_cavi_fixed_point` the fixed point in closed form, and
:func:`normal_gamma_posterior` / :func:`normal_gamma_log_evidence` the exact posterior and
evidence it is compared with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln
from scipy.stats import gamma, norm

__all__ = [
    "CAVIHistory",
    "MeanPrecisionFactors",
    "NormalGamma",
    "cavi",
    "cavi_normal_gamma",
    "kl_factorised",
    "mean_field_optimum",
    "moment_matched_factors",
    "normal_gamma_cavi_fixed_point",
    "normal_gamma_elbo",
    "normal_gamma_log_evidence",
    "normal_gamma_posterior",
]

Array = NDArray[np.float64]


def _target(mean: ArrayLike, covariance: ArrayLike) -> tuple[Array, Array]:
    """Validate (μ, Σ): finite, matching shapes, Σ symmetric positive definite."""
    mu = np.asarray(mean, dtype=np.float64)
    sigma = np.asarray(covariance, dtype=np.float64)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"mean must be a non-empty vector, got shape {mu.shape}")
    if sigma.shape != (mu.size, mu.size):
        raise ValueError(f"covariance must have shape {(mu.size, mu.size)}, got {sigma.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise ValueError("mean and covariance must be finite")
    if not np.allclose(sigma, sigma.T, rtol=0, atol=1e-12 * max(1.0, float(np.abs(sigma).max()))):
        raise ValueError("covariance must be symmetric")
    if np.linalg.eigvalsh(sigma).min() <= 0:
        raise ValueError("covariance must be positive definite")
    return mu, sigma


def _factors(means: ArrayLike, variances: ArrayLike, d: int) -> tuple[Array, Array]:
    m = np.asarray(means, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if m.shape != (d,) or v.shape != (d,):
        raise ValueError(f"means and variances must have shape {(d,)}, got {m.shape}, {v.shape}")
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(v))):
        raise ValueError("means and variances must be finite")
    if np.any(v <= 0):
        raise ValueError("variances must be positive")
    return m, v


def kl_factorised(
    means: ArrayLike, variances: ArrayLike, mean: ArrayLike, covariance: ArrayLike
) -> float:
    """KL(q ‖ p) for q = ∏_j N(m_j, v_j) and p = N(μ, Σ).

    KL = ½[Σ_j Λ_jj v_j + (m − μ)ᵀ Λ (m − μ) − d + log det Σ − Σ_j log v_j], with Λ = Σ⁻¹.

    Args:
        means: the factor means m, shape ``(d,)``.
        variances: the factor variances v, shape ``(d,)``, positive.
        mean: the target mean μ, shape ``(d,)``.
        covariance: the target covariance Σ, shape ``(d, d)``, symmetric positive definite.

    Returns:
        The divergence in nats (a float ≥ 0).

    Raises:
        ValueError: shapes that do not match, non-finite entries, a variance ≤ 0, or a covariance
            that is not symmetric positive definite.
    """
    mu, sigma = _target(mean, covariance)
    m, v = _factors(means, variances, mu.size)
    precision = np.linalg.inv(sigma)
    diff = m - mu
    _, logdet = np.linalg.slogdet(sigma)
    value = 0.5 * (
        float(np.diag(precision) @ v)
        + float(diff @ precision @ diff)
        - mu.size
        + float(logdet)
        - float(np.log(v).sum())
    )
    return max(value, 0.0)


def mean_field_optimum(mean: ArrayLike, covariance: ArrayLike) -> tuple[Array, Array]:
    """The factorised q minimising KL(q ‖ N(μ, Σ)): means μ and variances 1 / Λ_jj.

    Args:
        mean: the target mean μ, shape ``(d,)``.
        covariance: the target covariance Σ, shape ``(d, d)``, symmetric positive definite.

    Returns:
        ``(means, variances)``, each of shape ``(d,)``.

    Raises:
        ValueError: as for :func:`kl_factorised`.
    """
    mu, sigma = _target(mean, covariance)
    return mu.copy(), 1.0 / np.diag(np.linalg.inv(sigma))


def moment_matched_factors(mean: ArrayLike, covariance: ArrayLike) -> tuple[Array, Array]:
    """The factorised q minimising the reverse divergence KL(N(μ, Σ) ‖ q): the marginals.

    Args:
        mean: the target mean μ, shape ``(d,)``.
        covariance: the target covariance Σ, shape ``(d, d)``, symmetric positive definite.

    Returns:
        ``(means, variances)`` = (μ, diag Σ).

    Raises:
        ValueError: as for :func:`kl_factorised`.
    """
    mu, sigma = _target(mean, covariance)
    return mu.copy(), np.diag(sigma).copy()


def cavi(
    mean: ArrayLike, covariance: ArrayLike, init_means: ArrayLike, sweeps: int
) -> tuple[Array, Array]:
    """Coordinate ascent on the ELBO over factorised Gaussians, one factor at a time.

    Update of factor j given the others: m_j ← μ_j − (1/Λ_jj) Σ_{k≠j} Λ_jk (m_k − μ_k),
    v_j ← 1/Λ_jj (the optimum log q_j = E_{q_{−j}}[log p(z)] + const is Gaussian).

    Args:
        mean: the target mean μ, shape ``(d,)``.
        covariance: the target covariance Σ, shape ``(d, d)``, symmetric positive definite.
        init_means: the starting means, shape ``(d,)``.
        sweeps: the number of passes over the d factors (a non-negative int).

    Returns:
        ``(path, variances)``: ``path`` has shape ``(sweeps * d + 1, d)``, the means after each
        single-factor update (row 0 is the start); ``variances`` is 1/Λ_jj, shape ``(d,)``.

    Raises:
        TypeError: ``sweeps`` is not an int.
        ValueError: ``sweeps`` < 0, or bad ``mean``, ``covariance`` or ``init_means``.
    """
    if isinstance(sweeps, bool) or not isinstance(sweeps, int):
        raise TypeError(f"sweeps must be an int, got {type(sweeps).__name__}")
    if sweeps < 0:
        raise ValueError(f"sweeps must be >= 0, got {sweeps}")
    mu, sigma = _target(mean, covariance)
    m, _ = _factors(init_means, np.ones(mu.size), mu.size)
    precision = np.linalg.inv(sigma)
    m = m.copy()
    path = [m.copy()]
    for _ in range(sweeps):
        for j in range(mu.size):
            others = np.arange(mu.size) != j
            m[j] = mu[j] - precision[j, others] @ (m[others] - mu[others]) / precision[j, j]
            path.append(m.copy())
    return np.array(path), 1.0 / np.diag(precision)


@dataclass(frozen=True)
class NormalGamma:
    """A Normal-Gamma distribution: μ | τ ~ N(mean, 1/(precision_scale · τ)), τ ~ Gam(shape, rate).

    Used both as the prior (μ₀, λ₀, a₀, b₀) and as the exact posterior.

    Raises:
        ValueError: a non-finite field, or ``precision_scale``, ``shape`` or ``rate`` ≤ 0.
    """

    mean: float
    precision_scale: float
    shape: float
    rate: float

    def __post_init__(self) -> None:
        _check_finite(self.mean, "mean")
        for name in ("precision_scale", "shape", "rate"):
            _check_positive(getattr(self, name), name)

    def mean_variance(self) -> float:
        """Var[μ] under the Normal-Gamma, b / ((a − 1) λ), the variance of its Student-t marginal.

        Returns:
            The variance of the marginal of μ (``inf`` when a ≤ 1).
        """
        if self.shape <= 1:
            return math.inf
        return self.rate / ((self.shape - 1) * self.precision_scale)

    def log_density(self, mu: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
        """log N(μ; mean, 1/(λτ)) + log Gam(τ; a, b), elementwise.

        Args:
            mu: values of μ (any shape broadcasting with ``tau``).
            tau: values of τ, > 0.

        Returns:
            The log density at each pair.

        Raises:
            ValueError: a τ ≤ 0.
        """
        m, t = _mu_tau_pairs(mu, tau)
        scale = 1.0 / np.sqrt(self.precision_scale * t)
        return _log_normal_gamma(m, t, self.mean, scale, self.shape, self.rate)


@dataclass(frozen=True)
class MeanPrecisionFactors:
    """A factorised q(μ, τ) = N(μ; mean, 1/precision) · Gam(τ; shape, rate).

    Raises:
        ValueError: a non-finite field, or ``precision``, ``shape`` or ``rate`` ≤ 0.
    """

    mean: float
    precision: float
    shape: float
    rate: float

    def __post_init__(self) -> None:
        _check_finite(self.mean, "mean")
        for name in ("precision", "shape", "rate"):
            _check_positive(getattr(self, name), name)

    def log_density(self, mu: ArrayLike, tau: ArrayLike) -> NDArray[np.float64]:
        """log N(μ; mean, 1/precision) + log Gam(τ; shape, rate), elementwise.

        Args:
            mu: values of μ (any shape broadcasting with ``tau``).
            tau: values of τ, > 0.

        Returns:
            The log density at each pair.

        Raises:
            ValueError: a τ ≤ 0.
        """
        m, t = _mu_tau_pairs(mu, tau)
        scale = 1.0 / math.sqrt(self.precision)
        return _log_normal_gamma(m, t, self.mean, scale, self.shape, self.rate)


@dataclass(frozen=True)
class CAVIHistory:
    """One CAVI run: ``factors[t]`` is q after t single-factor updates (``[0]`` is the start; odd t
    follow an update of q(μ), even t ≥ 2 one of q(τ)); ``elbo[t]`` is its ELBO."""

    factors: list[MeanPrecisionFactors]
    elbo: list[float]


def _check_finite(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_positive(value: float, name: str) -> None:
    _check_finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def _mu_tau_pairs(mu: ArrayLike, tau: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """``mu`` and ``tau`` broadcast together as float64 arrays; every τ must be > 0."""
    m, t = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(tau, np.float64))
    if np.any(t <= 0):
        raise ValueError("tau must be > 0")
    return m, t


def _log_normal_gamma(
    m: Array, t: Array, mean: float, scale: float | Array, shape: float, rate: float
) -> Array:
    """log N(m; mean, scale²) + log Gam(t; shape, rate), by ``scipy.stats`` (rate = 1/scale)."""
    log_normal = norm.logpdf(m, loc=mean, scale=scale)
    return np.asarray(log_normal + gamma.logpdf(t, shape, scale=1.0 / rate), dtype=np.float64)


def _data(x: ArrayLike) -> NDArray[np.float64]:
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError("x must be a non-empty 1-d array of finite values")
    return data


def _update_mean(data: Array, prior: NormalGamma, q: MeanPrecisionFactors) -> MeanPrecisionFactors:
    """q(μ) ← N(m, 1/λ), m = (λ₀μ₀ + S₁)/(λ₀ + N), λ = (λ₀ + N) a/b (``cavi_mean_factor``)."""
    n, lam0 = data.size, prior.precision_scale
    mean = (lam0 * prior.mean + float(data.sum())) / (lam0 + n)
    return MeanPrecisionFactors(mean, (lam0 + n) * q.shape / q.rate, q.shape, q.rate)


def _update_precision(
    data: Array, prior: NormalGamma, q: MeanPrecisionFactors
) -> MeanPrecisionFactors:
    """q(τ) ← Gam(a, b) of ``cavi_precision_factor``, given q(μ) = N(m, 1/λ)."""
    n, lam0, m, v = data.size, prior.precision_scale, q.mean, 1.0 / q.precision
    shape = prior.shape + (n + 1) / 2
    spread = float(((data - m) ** 2).sum()) + n * v + lam0 * ((m - prior.mean) ** 2 + v)
    return MeanPrecisionFactors(m, q.precision, shape, prior.rate + 0.5 * spread)


def normal_gamma_elbo(x: ArrayLike, prior: NormalGamma, q: MeanPrecisionFactors) -> float:
    """The ELBO E_q[log p(x, μ, τ)] + ℍ[q(μ)] + ℍ[q(τ)] of a factorised q, in closed form.

    With E_q[τ] = a/b, E_q[log τ] = ψ(a) − log b, E_q[μ] = m and Var_q[μ] = 1/λ:

    * E_q[log p(x | μ, τ)] = (N/2)(E log τ − log 2π) − (E τ/2) Σ_n[(x_n − m)² + 1/λ],
    * E_q[log p(μ | τ)] = ½(log λ₀ + E log τ − log 2π) − (λ₀ E τ/2)[(m − μ₀)² + 1/λ],
    * E_q[log p(τ)] = a₀ log b₀ − log Γ(a₀) + (a₀ − 1) E log τ − b₀ E τ,
    * ℍ[q(μ)] = ½ log(2πe/λ), ℍ[q(τ)] = a − log b + log Γ(a) + (1 − a) ψ(a).

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior: the Normal-Gamma prior (μ₀, λ₀, a₀, b₀).
        q: the factors (m, λ, a, b).

    Returns:
        The ELBO in nats, a lower bound on :func:`normal_gamma_log_evidence`.

    Raises:
        ValueError: empty or non-finite ``x``.
    """
    data = _data(x)
    n, lam0 = data.size, prior.precision_scale
    e_tau = q.shape / q.rate
    e_log_tau = float(digamma(q.shape)) - math.log(q.rate)
    v = 1.0 / q.precision
    log_2pi = math.log(2 * math.pi)
    likelihood = 0.5 * n * (e_log_tau - log_2pi) - 0.5 * e_tau * (
        float(((data - q.mean) ** 2).sum()) + n * v
    )
    mean_prior = 0.5 * (math.log(lam0) + e_log_tau - log_2pi) - 0.5 * lam0 * e_tau * (
        (q.mean - prior.mean) ** 2 + v
    )
    precision_prior = (
        prior.shape * math.log(prior.rate)
        - float(gammaln(prior.shape))
        + (prior.shape - 1) * e_log_tau
        - prior.rate * e_tau
    )
    entropy_mu = 0.5 * (log_2pi + 1.0 - math.log(q.precision))
    entropy_tau = (
        q.shape
        - math.log(q.rate)
        + float(gammaln(q.shape))
        + (1 - q.shape) * float(digamma(q.shape))
    )
    return likelihood + mean_prior + precision_prior + entropy_mu + entropy_tau


def cavi_normal_gamma(
    x: ArrayLike, prior: NormalGamma, init: MeanPrecisionFactors, sweeps: int
) -> CAVIHistory:
    """CAVI for the unknown mean and precision: update q(μ), then q(τ), ``sweeps`` times.

    Each update sets one factor to its optimum log q*_j = E_{q_{−j}}[log p(x, μ, τ)] + const given
    the other, so the ELBO cannot decrease (coordinate ascent).

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior: the Normal-Gamma prior (μ₀, λ₀, a₀, b₀).
        init: the starting factors (only q(τ) matters: the first update replaces q(μ)).
        sweeps: the number of (q(μ), q(τ)) update pairs, an int ≥ 0.

    Returns:
        The :class:`CAVIHistory`, with ``2 * sweeps + 1`` entries.

    Raises:
        TypeError: ``sweeps`` is not an int, or ``prior`` / ``init`` have the wrong type.
        ValueError: ``sweeps`` < 0, or empty or non-finite ``x``.
    """
    if isinstance(sweeps, bool) or not isinstance(sweeps, int):
        raise TypeError(f"sweeps must be an int, got {type(sweeps).__name__}")
    if sweeps < 0:
        raise ValueError(f"sweeps must be >= 0, got {sweeps}")
    if not isinstance(prior, NormalGamma):
        raise TypeError(f"prior must be a NormalGamma, got {type(prior).__name__}")
    if not isinstance(init, MeanPrecisionFactors):
        raise TypeError(f"init must be MeanPrecisionFactors, got {type(init).__name__}")
    data = _data(x)
    q = init
    history = CAVIHistory([q], [normal_gamma_elbo(data, prior, q)])
    for _ in range(sweeps):
        for update in (_update_mean, _update_precision):
            q = update(data, prior, q)
            history.factors.append(q)
            history.elbo.append(normal_gamma_elbo(data, prior, q))
    return history


def normal_gamma_cavi_fixed_point(x: ArrayLike, prior: NormalGamma) -> MeanPrecisionFactors:
    """The fixed point of :func:`cavi_normal_gamma` in closed form.

    m and a do not depend on the other factor: m = (λ₀μ₀ + S₁)/(λ₀ + N), a = a₀ + (N + 1)/2.
    With B = b₀ + ½[Σ_n (x_n − m)² + λ₀(m − μ₀)²] the q(τ) update reads b = B + (λ₀ + N)/(2λ),
    and λ = (λ₀ + N) a/b turns it into b = B + b/(2a), so b = 2aB/(2a − 1) (a > ½ always).

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior: the Normal-Gamma prior.

    Returns:
        The fixed-point factors (m, λ, a, b).

    Raises:
        ValueError: empty or non-finite ``x``.
    """
    data = _data(x)
    n, lam0 = data.size, prior.precision_scale
    m = (lam0 * prior.mean + float(data.sum())) / (lam0 + n)
    a = prior.shape + (n + 1) / 2
    base = prior.rate + 0.5 * (float(((data - m) ** 2).sum()) + lam0 * (m - prior.mean) ** 2)
    b = 2 * a * base / (2 * a - 1)
    return MeanPrecisionFactors(m, (lam0 + n) * a / b, a, b)


def normal_gamma_posterior(x: ArrayLike, prior: NormalGamma) -> NormalGamma:
    """The exact posterior p(μ, τ | x), Normal-Gamma by conjugacy.

    μ_N = (λ₀μ₀ + N x̄)/(λ₀ + N), λ_N = λ₀ + N, a_N = a₀ + N/2,
    b_N = b₀ + ½ Σ_n (x_n − x̄)² + λ₀ N (x̄ − μ₀)² / (2(λ₀ + N)).

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior: the Normal-Gamma prior.

    Returns:
        The posterior as a :class:`NormalGamma`.

    Raises:
        ValueError: empty or non-finite ``x``.
    """
    data = _data(x)
    n, lam0, xbar = data.size, prior.precision_scale, float(data.mean())
    rate = (
        prior.rate
        + 0.5 * float(((data - xbar) ** 2).sum())
        + lam0 * n * (xbar - prior.mean) ** 2 / (2 * (lam0 + n))
    )
    return NormalGamma(
        (lam0 * prior.mean + n * xbar) / (lam0 + n), lam0 + n, prior.shape + n / 2, rate
    )


def normal_gamma_log_evidence(x: ArrayLike, prior: NormalGamma) -> float:
    """log p(x) = log Γ(a_N) − log Γ(a₀) + a₀ log b₀ − a_N log b_N + ½ log(λ₀/λ_N) − (N/2) log 2π.

    Args:
        x: the observations, a non-empty 1-d array of finite values.
        prior: the Normal-Gamma prior.

    Returns:
        The log evidence in nats.

    Raises:
        ValueError: empty or non-finite ``x``.
    """
    data = _data(x)
    post = normal_gamma_posterior(data, prior)
    return float(
        gammaln(post.shape)
        - gammaln(prior.shape)
        + prior.shape * math.log(prior.rate)
        - post.shape * math.log(post.rate)
        + 0.5 * math.log(prior.precision_scale / post.precision_scale)
        - 0.5 * data.size * math.log(2 * math.pi)
    )
