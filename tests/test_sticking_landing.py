"""Sticking the landing: unbiased, and zero at the posterior, where the total gradient is not."""

from __future__ import annotations

import pytest
import torch

from elbo_book.gradients import exact_mean_gradient
from elbo_book.sticking_landing import reparameterised_elbo_gradients
from elbo_book.toy_models import ConjugateGaussian

MODEL = ConjugateGaussian(data_dim=3, noise_scale=1.0)
X = torch.tensor([[0.5, 1.5, 1.0]], dtype=torch.float64)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_zero_variance_at_the_posterior_only_with_stl() -> None:
    post = MODEL.exact_posterior(X).base_dist
    loc, scale = post.loc.double(), post.scale.double()
    stl = reparameterised_elbo_gradients(
        MODEL, X, loc, scale, sticking_the_landing=True, n_estimates=500, generator=_gen(0)
    )
    total = reparameterised_elbo_gradients(
        MODEL, X, loc, scale, sticking_the_landing=False, n_estimates=500, generator=_gen(0)
    )
    for g in stl:
        assert g.abs().max() < 1e-10
    # the total gradient keeps the score term -(z - μ)/σ² for μ: variance 1/σ²
    assert total[0].var() == pytest.approx(1 / float(scale) ** 2, rel=0.2)


@pytest.mark.parametrize("stl", [True, False])
def test_unbiased_for_the_mean(stl: bool) -> None:
    loc = torch.zeros(1, 1, dtype=torch.float64)
    scale = torch.ones(1, 1, dtype=torch.float64)
    exact = float(exact_mean_gradient(MODEL, X, loc))
    g, _ = reparameterised_elbo_gradients(
        MODEL, X, loc, scale, sticking_the_landing=stl, n_estimates=20_000, generator=_gen(1)
    )
    assert abs(float(g.mean()) - exact) < 4 * float(g.std()) / 20_000**0.5


def test_bad_inputs() -> None:
    loc = torch.zeros(1, 1, dtype=torch.float64)
    scale = torch.ones(1, 1, dtype=torch.float64)
    with pytest.raises(ValueError):
        reparameterised_elbo_gradients(object(), X, loc, scale, sticking_the_landing=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        reparameterised_elbo_gradients(MODEL, X, loc, -scale, sticking_the_landing=True)
    with pytest.raises(ValueError):
        reparameterised_elbo_gradients(MODEL, X, loc, torch.ones(1, 2), sticking_the_landing=True)
    with pytest.raises((TypeError, ValueError)):
        reparameterised_elbo_gradients(MODEL, X, loc, scale, sticking_the_landing="yes")  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        reparameterised_elbo_gradients(MODEL, X, loc, scale, sticking_the_landing=True, n_samples=0)
