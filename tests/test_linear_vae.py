"""Tests for the closed-form linear-Gaussian β-VAE (elbo_book.linear_vae)."""

import math

import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book.book import ch05_beta_vae
from elbo_book.linear_vae import (
    LinearGaussianVAE,
    closed_form_optimum,
    expected_log_evidence,
    fit_linear_vae,
    population_objective,
    stationary_points,
    symbolic_beta_objective,
)
from elbo_book.reproducibility import seed_everything

positive = st.floats(min_value=0.05, max_value=20.0, allow_nan=False, allow_infinity=False)
real = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)


def test_sympy_stationary_points_are_the_closed_form() -> None:
    points = stationary_points()
    _, sym = symbolic_beta_objective()
    assert len(points) == 3
    values = {sym["v"]: 3, sym["sigma2"]: 1, sym["beta"]: 2, sym["tau2"]: 4}
    optimum = closed_form_optimum(3.0, 1.0, 2.0, 4.0)
    found = [{k.name: float(e.subs(values)) for k, e in point.items()} for point in points]
    assert {"w": 0.0, "a": 0.0, "s^2": 4.0} in found
    positive_w = next(point for point in found if point["w"] > 0)
    assert positive_w == pytest.approx({"w": optimum.w, "a": optimum.a, "s^2": optimum.s2})
    # Below the threshold (v < βσ²) the non-collapsed pair is not real.
    below = {sym["v"]: 1, sym["sigma2"]: 1, sym["beta"]: 2, sym["tau2"]: 1}
    assert sum(bool(point[sym["w"]].subs(below).is_real) for point in points) == 1


def test_symbolic_objective_agrees_with_population_objective() -> None:
    objective, sym = symbolic_beta_objective()
    values = {"w": 0.7, "a": -0.3, "s2": 0.4, "v": 2.0, "sigma2": 0.5, "beta": 3.0, "tau2": 1.5}
    exact = float(objective.subs({sym[k]: sympy.Float(val) for k, val in values.items()}))
    numeric = population_objective(
        values["w"],
        values["a"],
        values["s2"],
        v=values["v"],
        sigma2=values["sigma2"],
        beta=values["beta"],
        prior_var=values["tau2"],
    )
    assert numeric == pytest.approx(exact, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(v=positive, sigma2=positive, beta=positive, prior_var=positive, w=real, a=real, s2=positive)
def test_closed_form_optimum_beats_any_other_point(
    v: float, sigma2: float, beta: float, prior_var: float, w: float, a: float, s2: float
) -> None:
    best = closed_form_optimum(v, sigma2, beta, prior_var)
    kwargs = {"v": v, "sigma2": sigma2, "beta": beta, "prior_var": prior_var}
    at_best = population_objective(best.w, best.a, best.s2, **kwargs)
    assert at_best >= population_objective(w, a, s2, **kwargs) - 1e-9
    assert at_best == pytest.approx(-best.distortion - beta * best.rate, abs=1e-9)
    assert best.collapsed == (v <= beta * sigma2)


@settings(max_examples=40, deadline=None)
@given(v=positive, sigma2=positive, beta=positive, prior_var=positive)
def test_collapse_and_rate_do_not_depend_on_the_prior_variance(
    v: float, sigma2: float, beta: float, prior_var: float
) -> None:
    unit = closed_form_optimum(v, sigma2, beta, 1.0)
    other = closed_form_optimum(v, sigma2, beta, prior_var)
    assert other.collapsed == unit.collapsed
    assert other.rate == pytest.approx(unit.rate, abs=1e-12)
    assert other.distortion == pytest.approx(unit.distortion, abs=1e-12)
    assert other.w * math.sqrt(prior_var) == pytest.approx(unit.w, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    v=positive,
    sigma2=positive,
    beta=st.floats(min_value=1.0, max_value=20.0),
    prior_var=positive,
    w=real,
    a=real,
    s2=positive,
)
def test_beta_objective_is_a_lower_bound_for_beta_at_least_one(
    v: float, sigma2: float, beta: float, prior_var: float, w: float, a: float, s2: float
) -> None:
    kwargs = {"v": v, "sigma2": sigma2, "prior_var": prior_var}
    j_beta = population_objective(w, a, s2, beta=beta, **kwargs)
    elbo = population_objective(w, a, s2, beta=1.0, **kwargs)
    assert j_beta <= elbo + 1e-9
    assert elbo <= expected_log_evidence(w, **kwargs) + 1e-9


def test_beta_objective_can_exceed_the_evidence_for_beta_below_one() -> None:
    kwargs = {"v": 2.0, "sigma2": 1.0, "prior_var": 1.0}
    best = closed_form_optimum(beta=0.25, **kwargs)
    j_beta = population_objective(best.w, best.a, best.s2, beta=0.25, **kwargs)
    assert j_beta > expected_log_evidence(best.w, **kwargs)


@settings(max_examples=60, deadline=None)
@given(v=positive, sigma2=positive, beta=positive, prior_var=positive, w=real, a=real, s2=positive)
def test_beta_vae_is_a_plain_vae_with_decoder_variance_beta_sigma2(
    v: float, sigma2: float, beta: float, prior_var: float, w: float, a: float, s2: float
) -> None:
    kwargs = {"v": v, "prior_var": prior_var}
    j_beta = population_objective(w, a, s2, sigma2=sigma2, beta=beta, **kwargs)
    plain = population_objective(w, a, s2, sigma2=beta * sigma2, beta=1.0, **kwargs)
    constant = -0.5 * math.log(2 * math.pi * sigma2) + 0.5 * beta * math.log(
        2 * math.pi * beta * sigma2
    )
    assert j_beta == pytest.approx(beta * plain + constant, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("beta", [0.5, 4.0])
def test_training_lands_on_the_closed_form_optimum(beta: float) -> None:
    seed_everything(0)
    x = torch.randn(500, 1) * math.sqrt(1.5)
    v = float((x**2).mean())
    model = fit_linear_vae(x, sigma2=1.0, beta=beta, steps=400, lr=0.05, n_samples=4)
    trained = model.optimum_view(v, beta)
    expected = closed_form_optimum(v, 1.0, beta)
    assert trained.collapsed == expected.collapsed
    assert trained.w == pytest.approx(expected.w, abs=0.03)
    assert trained.s2 == pytest.approx(expected.s2, abs=0.03)
    assert trained.rate == pytest.approx(expected.rate, abs=0.02)


def test_model_satisfies_the_objective_interface() -> None:
    model = LinearGaussianVAE(sigma2=0.5, prior_var=2.0)
    x = torch.ones(4, 1)
    q = model.encode(x)
    assert q.batch_shape == (4,) and q.event_shape == (1,)
    assert model.prior().event_shape == (1,)
    assert model.likelihood(q.rsample()).log_prob(x).shape == (4,)


@pytest.mark.parametrize(
    "name", ["beta_objective_bound", "gaussian_kl_closed_form", "beta_gaussian_decoder"]
)
def test_chapter_five_derivations_verify(name: str) -> None:
    derivation = getattr(ch05_beta_vae, name)
    derivation.verify()
    assert derivation.chapter == "05_beta_vae"


def test_invalid_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="decoder variance"):
        closed_form_optimum(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        closed_form_optimum(1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="encoder variance"):
        population_objective(1.0, 1.0, -0.1, v=1.0, sigma2=1.0, beta=1.0)
    with pytest.raises(ValueError, match="last dimension 1"):
        fit_linear_vae(torch.zeros(5, 2), sigma2=1.0, beta=1.0)
