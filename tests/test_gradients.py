import math

import pytest
import torch

from elbo_book.gradients import (
    exact_mean_gradient,
    reparameterised_gradient,
    score_function_gradient,
)
from elbo_book.models import VAE
from elbo_book.reproducibility import seed_everything
from elbo_book.toy_models import ConjugateGaussian

R = 4000


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


def _problem():  # type: ignore[no-untyped-def]
    model = ConjugateGaussian(3, 0.8)
    x = torch.tensor([[0.5, 1.5, 1.0], [-1.0, 0.0, -0.5]], dtype=torch.float64)
    loc = torch.tensor([[0.0], [0.3]], dtype=torch.float64)
    scale = torch.tensor([[0.6], [1.2]], dtype=torch.float64)
    return model, x, loc, scale


def test_exact_gradient_matches_closed_form() -> None:
    model, x, loc, _ = _problem()
    expected = x.sum(-1, keepdim=True) / 0.8**2 - loc * (1 + 3 / 0.8**2)
    torch.testing.assert_close(exact_mean_gradient(model, x, loc), expected)


@pytest.mark.parametrize("n_samples", [1, 5])
def test_both_estimators_are_unbiased(n_samples: int) -> None:
    model, x, loc, scale = _problem()
    exact = exact_mean_gradient(model, x, loc)
    estimates = {
        "reparameterised": reparameterised_gradient(
            model, x, loc, scale, n_samples=n_samples, n_estimates=R
        ),
        "score": score_function_gradient(model, x, loc, scale, n_samples=n_samples, n_estimates=R),
    }
    for values in estimates.values():
        assert values.shape == (R, *loc.shape)
        se = values.std(dim=0) / math.sqrt(R)
        assert bool(((values.mean(dim=0) - exact).abs() < 5 * se + 1e-9).all())


def test_reparameterised_beats_score_function_and_baseline_helps() -> None:
    model, x, loc, scale = _problem()
    kw = {"n_samples": 4, "n_estimates": R}
    var_rep = reparameterised_gradient(model, x, loc, scale, **kw).var(dim=0)
    var_sf = score_function_gradient(model, x, loc, scale, **kw).var(dim=0)
    var_loo = score_function_gradient(model, x, loc, scale, baseline="leave_one_out", **kw).var(0)
    assert bool((var_rep < var_loo).all()) and bool((var_loo < var_sf).all())


def test_variance_falls_like_one_over_l() -> None:
    model, x, loc, scale = _problem()
    v1 = reparameterised_gradient(model, x, loc, scale, n_samples=1, n_estimates=R).var(0)
    v16 = reparameterised_gradient(model, x, loc, scale, n_samples=16, n_estimates=R).var(0)
    ratio = v1 / v16
    assert bool(((ratio > 12) & (ratio < 21)).all())


def test_works_for_a_vae_decoder() -> None:
    model = VAE(5, 2, (8,))
    x = torch.randint(0, 2, (3, 5)).float()
    loc, scale = torch.zeros(3, 2), torch.ones(3, 2)
    for fn in (reparameterised_gradient, score_function_gradient):
        grads = fn(model, x, loc, scale, n_samples=2, n_estimates=4)
        assert grads.shape == (4, 3, 2) and bool(torch.isfinite(grads).all())


def test_bad_inputs() -> None:
    model, x, loc, scale = _problem()
    with pytest.raises(ValueError, match="n_samples >= 2"):
        score_function_gradient(model, x, loc, scale, baseline="leave_one_out")
    with pytest.raises(ValueError, match="baseline"):
        score_function_gradient(model, x, loc, scale, baseline="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale must be > 0"):
        reparameterised_gradient(model, x, loc, -scale)
    with pytest.raises(ValueError, match="same shape"):
        reparameterised_gradient(model, x, loc, scale[:1])
    with pytest.raises(ValueError, match="batch shape"):
        reparameterised_gradient(model, x[:1], loc, scale)
    with pytest.raises(ValueError, match="n_estimates"):
        reparameterised_gradient(model, x, loc, scale, n_estimates=0)
    with pytest.raises(ValueError, match="ConjugateGaussian"):
        exact_mean_gradient(VAE(3, 1), x, loc)  # type: ignore[arg-type]
