"""Mean-field Gaussian approximations: closed-form optimum, CAVI, and the two KL directions."""

from __future__ import annotations

import itertools

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
