"""Mean-field (fully factorised) Gaussian approximations of a correlated Gaussian.

The target is p(z) = N(μ, Σ) on R^d with precision Λ = Σ⁻¹; the family is
q(z) = ∏_j N(z_j; m_j, v_j).

* :func:`kl_factorised` computes
  KL(q ‖ p) = ½[Σ_j Λ_jj v_j + (m − μ)ᵀ Λ (m − μ) − d + log det Σ − Σ_j log v_j].
* :func:`mean_field_optimum` is its minimiser in closed form (Bishop 2006, §10.1.2): m = μ and
  v_j = 1 / Λ_jj. Since 1 / Λ_jj ≤ Σ_jj, with equality only when z_j is uncorrelated with the rest,
  the factorised q *underestimates* the marginal variances.
* :func:`cavi` runs coordinate ascent (CAVI): each factor in turn is set to its optimum given the
  others, m_j ← μ_j − (1/Λ_jj) Σ_{k≠j} Λ_jk (m_k − μ_k), v_j ← 1/Λ_jj. Each update lowers KL(q ‖ p)
  (raises the ELBO) and the means converge to μ.
* :func:`moment_matched_factors` minimises the reverse divergence KL(p ‖ q) over the same family:
  the marginals, m = μ and v_j = Σ_jj.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
