"""Mean-field Gaussian approximations: closed-form optimum, CAVI, and the two KL directions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from torch.distributions import MultivariateNormal, kl_divergence

from elbo_book.mean_field import (
    cavi,
    kl_factorised,
    mean_field_optimum,
    moment_matched_factors,
)


def _spd(seed: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T + 0.3 * np.eye(d)


def _torch_kl(m: np.ndarray, v: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    q = MultivariateNormal(torch.tensor(m), torch.diag(torch.tensor(v)))
    return float(kl_divergence(q, MultivariateNormal(torch.tensor(mu), torch.tensor(sigma))))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_kl_matches_torch(seed: int, d: int) -> None:
    mu, sigma = _spd(seed, d)
    rng = np.random.default_rng(seed + 1)
    m, v = rng.normal(size=d), np.exp(rng.normal(size=d))
    assert kl_factorised(m, v, mu, sigma) == pytest.approx(_torch_kl(m, v, mu, sigma), abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4))
def test_closed_form_optimum_is_the_numerical_minimiser(seed: int, d: int) -> None:
    mu, sigma = _spd(seed, d)
    m_star, v_star = mean_field_optimum(mu, sigma)
    best = kl_factorised(m_star, v_star, mu, sigma)
    fit = minimize(
        lambda t: kl_factorised(t[:d], np.exp(t[d:]), mu, sigma),
        np.zeros(2 * d),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    assert fit.fun >= best - 1e-9
    assert fit.fun == pytest.approx(best, abs=1e-6)
    np.testing.assert_allclose(fit.x[:d], m_star, atol=1e-4)
    np.testing.assert_allclose(np.exp(fit.x[d:]), v_star, rtol=1e-4)
    # variance underestimation: 1/Λ_jj ≤ Σ_jj
    assert np.all(v_star <= np.diag(sigma) + 1e-12)


def test_underestimation_on_a_correlated_pair() -> None:
    rho = 0.9
    sigma = np.array([[1.0, rho], [rho, 1.0]])
    _, v = mean_field_optimum([0.0, 0.0], sigma)
    np.testing.assert_allclose(v, [1 - rho**2, 1 - rho**2])
    _, v_mm = moment_matched_factors([0.0, 0.0], sigma)
    np.testing.assert_allclose(v_mm, [1.0, 1.0])
    # uncorrelated target: no underestimation
    _, v0 = mean_field_optimum([0.0, 0.0], np.diag([2.0, 3.0]))
    np.testing.assert_allclose(v0, [2.0, 3.0])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4))
def test_cavi_lowers_kl_every_update_and_converges(seed: int, d: int) -> None:
    mu, sigma = _spd(seed, d)
    path, v = cavi(mu, sigma, mu + 3.0, sweeps=400)
    kls = [kl_factorised(m, v, mu, sigma) for m in path]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(kls))
    np.testing.assert_allclose(path[-1], mu, atol=1e-6)
    np.testing.assert_allclose(v, mean_field_optimum(mu, sigma)[1])


def test_moment_matching_minimises_the_reverse_kl() -> None:
    mu, sigma = _spd(3, 2)
    m, v = moment_matched_factors(mu, sigma)
    p = MultivariateNormal(torch.tensor(mu), torch.tensor(sigma))

    def reverse(mm: np.ndarray, vv: np.ndarray) -> float:
        q = MultivariateNormal(torch.tensor(mm), torch.diag(torch.tensor(vv)))
        return float(kl_divergence(p, q))

    best = reverse(m, v)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert reverse(m + 0.1 * rng.normal(size=2), v * np.exp(0.1 * rng.normal(size=2))) > best


def test_bad_inputs() -> None:
    sigma = np.eye(2)
    with pytest.raises(ValueError, match="positive definite"):
        mean_field_optimum([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        mean_field_optimum([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        mean_field_optimum([0.0, 0.0, 0.0], sigma)
    with pytest.raises(ValueError, match="finite"):
        mean_field_optimum([np.nan, 0.0], sigma)
    with pytest.raises(ValueError, match="variances must be positive"):
        kl_factorised([0.0, 0.0], [1.0, 0.0], [0.0, 0.0], sigma)
    with pytest.raises(TypeError):
        cavi([0.0, 0.0], sigma, [1.0, 1.0], sweeps=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sweeps"):
        cavi([0.0, 0.0], sigma, [1.0, 1.0], sweeps=-1)
    path, _ = cavi([0.0, 0.0], sigma, [1.0, 1.0], sweeps=0)
    assert path.shape == (1, 2)


# CAVI for the unknown mean and precision of a Gaussian (Normal-Gamma prior).

from elbo_book.book.ch02_kl_elbo_identity import (  # noqa: E402
    CAVI_MEAN,
    CAVI_MEAN_PRECISION,
    CAVI_RATE,
    CAVI_SHAPE,
)
from elbo_book.derive.semantics import translate_algebra  # noqa: E402
from elbo_book.mean_field import (  # noqa: E402
    MeanPrecisionFactors,
    NormalGamma,
    cavi_normal_gamma,
    normal_gamma_cavi_fixed_point,
    normal_gamma_elbo,
    normal_gamma_log_evidence,
    normal_gamma_posterior,
)

_PRIOR = NormalGamma(mean=0.5, precision_scale=2.0, shape=1.5, rate=0.8)


def _problem(seed: int, n: int) -> tuple[np.ndarray, NormalGamma, MeanPrecisionFactors]:
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=rng.normal(), scale=np.exp(rng.normal()), size=n)
    prior = NormalGamma(
        float(rng.normal()),
        float(np.exp(rng.normal())),
        float(np.exp(rng.normal())),
        float(np.exp(rng.normal())),
    )
    init = MeanPrecisionFactors(
        float(rng.normal(scale=3)),
        float(np.exp(rng.normal())),
        float(np.exp(rng.normal())),
        float(np.exp(2 * rng.normal())),
    )
    return x, prior, init


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 30))
def test_normal_gamma_cavi_elbo_never_decreases(seed: int, n: int) -> None:
    x, prior, init = _problem(seed, n)
    history = cavi_normal_gamma(x, prior, init, sweeps=8)
    elbos = np.array(history.elbo)
    assert np.all(np.diff(elbos) >= -1e-9 * (1 + np.abs(elbos[1:])))
    assert elbos[-1] <= normal_gamma_log_evidence(x, prior) + 1e-9


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 30))
def test_normal_gamma_cavi_reaches_the_closed_form_fixed_point(seed: int, n: int) -> None:
    x, prior, init = _problem(seed, n)
    final = cavi_normal_gamma(x, prior, init, sweeps=200).factors[-1]
    fixed = normal_gamma_cavi_fixed_point(x, prior)
    for name in ("mean", "precision", "shape", "rate"):
        assert getattr(final, name) == pytest.approx(getattr(fixed, name), rel=1e-9, abs=1e-12)
    # it is a fixed point: one more sweep does not move it
    again = cavi_normal_gamma(x, prior, fixed, sweeps=1).factors[-1]
    assert again.rate == pytest.approx(fixed.rate, rel=1e-12)
    assert again.precision == pytest.approx(fixed.precision, rel=1e-12)


def test_normal_gamma_updates_are_the_verified_derivations() -> None:
    x = np.array([0.3, 1.7, -0.4, 2.2, 0.9])
    q0 = MeanPrecisionFactors(-1.0, 3.0, 2.5, 1.7)
    after_mean, after_tau = cavi_normal_gamma(x, _PRIOR, q0, sweeps=1).factors[1:]
    values = {
        "N_obs": x.size,
        "S_1": float(x.sum()),
        "S_2": float((x**2).sum()),
        "mu_0": _PRIOR.mean,
        "lambda_0": _PRIOR.precision_scale,
        "a_0": _PRIOR.shape,
        "b_0": _PRIOR.rate,
        "E_tau": q0.shape / q0.rate,
        "mu_q": after_mean.mean,
        "sigma_q": (1 / after_mean.precision) ** 0.5,
    }

    def ev(term: object) -> float:
        expr = translate_algebra(term)  # type: ignore[arg-type]
        return float(expr.subs({s: values[s.name] for s in expr.free_symbols}))

    assert after_mean.mean == pytest.approx(ev(CAVI_MEAN), rel=1e-12)
    assert after_mean.precision == pytest.approx(ev(CAVI_MEAN_PRECISION), rel=1e-12)
    assert after_tau.shape == pytest.approx(ev(CAVI_SHAPE), rel=1e-12)
    assert after_tau.rate == pytest.approx(ev(CAVI_RATE), rel=1e-12)


def _grid_integral(log_f: np.ndarray, d_mu: float, d_tau: float) -> float:
    peak = float(log_f.max())
    return peak + math.log(float(np.exp(log_f - peak).sum()) * d_mu * d_tau)


def test_normal_gamma_closed_forms_against_quadrature() -> None:
    x = np.array([0.3, 1.7, -0.4, 2.2, 0.9, 1.1])
    post = normal_gamma_posterior(x, _PRIOR)
    mus = np.linspace(-3.0, 4.0, 1401)
    taus = np.linspace(1e-4, 14.0, 3000)
    m_grid, t_grid = np.meshgrid(mus, taus)
    d_mu, d_tau = mus[1] - mus[0], taus[1] - taus[0]
    log_lik = (
        0.5 * np.log(t_grid / (2 * math.pi)) - 0.5 * t_grid * (x[:, None, None] - m_grid) ** 2
    ).sum(0)
    log_joint = log_lik + _PRIOR.log_density(m_grid, t_grid)
    log_px = _grid_integral(log_joint, d_mu, d_tau)
    assert normal_gamma_log_evidence(x, _PRIOR) == pytest.approx(log_px, abs=1e-4)
    # posterior = joint / evidence, pointwise
    np.testing.assert_allclose(post.log_density(m_grid, t_grid), log_joint - log_px, atol=1e-4)
    # the ELBO of any factorised q equals E_q[log p(x, μ, τ) − log q] by quadrature
    q = MeanPrecisionFactors(1.0, 4.0, 3.0, 2.0)
    log_q = q.log_density(m_grid, t_grid)
    weights = np.exp(log_q) * d_mu * d_tau
    assert normal_gamma_elbo(x, _PRIOR, q) == pytest.approx(
        float((weights * (log_joint - log_q)).sum()), abs=1e-4
    )


def test_normal_gamma_mean_field_underestimates_the_variance_of_mu() -> None:
    x = np.random.default_rng(3).normal(1.0, 0.7, size=10)
    fixed = normal_gamma_cavi_fixed_point(x, _PRIOR)
    assert 1 / fixed.precision < normal_gamma_posterior(x, _PRIOR).mean_variance()


def test_normal_gamma_bad_inputs() -> None:
    with pytest.raises(ValueError, match="rate"):
        NormalGamma(0.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="mean"):
        MeanPrecisionFactors(float("nan"), 1.0, 1.0, 1.0)
    q = MeanPrecisionFactors(0.0, 1.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="sweeps"):
        cavi_normal_gamma([1.0], _PRIOR, q, sweeps=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sweeps"):
        cavi_normal_gamma([1.0], _PRIOR, q, sweeps=-1)
    with pytest.raises(TypeError, match="prior"):
        cavi_normal_gamma([1.0], q, q, sweeps=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x must"):
        normal_gamma_elbo([], _PRIOR, q)
    with pytest.raises(ValueError, match="tau"):
        q.log_density(0.0, -1.0)
    assert math.isinf(NormalGamma(0.0, 1.0, 1.0, 1.0).mean_variance())
