"""EM on the conjugate model: monotone, sandwiched by the ELBO, converging to the MLE."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book.book.ch01_jensen_bound import em_m_step
from elbo_book.derive.semantics import mu_q
from elbo_book.em import em_prior_mean, log_evidence


def test_m_step_is_the_engine_root() -> None:
    # the package's M-step (mean of the q means) is the root SymPy finds in the verified closed form
    assert sympy.simplify(em_m_step() - mu_q.sympy()) == 0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=1, max_size=8),
    st.floats(0.2, 3.0),
    st.floats(-10, 10),
)
def test_em_is_monotone_and_converges_to_the_mle(
    xs: list[float], noise: float, init: float
) -> None:
    h = em_prior_mean(xs, noise, init, iterations=400)
    lp = h.log_evidence
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(lp))
    for t in range(1, len(lp)):
        assert lp[t - 1] - 1e-9 <= h.elbo_after_m[t] <= lp[t] + 1e-9
    assert h.prior_means[-1] == pytest.approx(float(np.mean(xs)), abs=1e-6)


def test_convergence_rate_is_the_posterior_shrinkage() -> None:
    noise = 0.8
    h = em_prior_mean([1.5, -0.5, 2.0], noise, init=5.0, iterations=3)
    target = float(np.mean([1.5, -0.5, 2.0]))
    errors = [m - target for m in h.prior_means]
    rate = noise**2 / (1 + noise**2)
    for a, b in itertools.pairwise(errors):
        assert b == pytest.approx(rate * a, rel=1e-12)


def test_log_evidence_matches_direct_formula() -> None:
    x, mu0, noise = np.array([0.3, 1.2]), 0.5, 0.7
    var = 1 + noise**2
    direct = sum(-0.5 * math.log(2 * math.pi * var) - (v - mu0) ** 2 / (2 * var) for v in x)
    assert log_evidence(x, mu0, noise) == pytest.approx(direct, abs=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(TypeError):
        em_prior_mean([1.0], 1.0, 0.0, iterations=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations"):
        em_prior_mean([1.0], 1.0, 0.0, iterations=-1)
    with pytest.raises(ValueError, match="noise_scale"):
        em_prior_mean([1.0], 0.0, 0.0, iterations=1)
    with pytest.raises(ValueError, match="x must be"):
        em_prior_mean([], 1.0, 0.0, iterations=1)
    with pytest.raises(ValueError, match="prior_mean"):
        log_evidence([1.0], math.nan, 1.0)
    h = em_prior_mean([1.0], 1.0, 0.0, iterations=0)
    assert h.prior_means == [0.0] and len(h.log_evidence) == 1
