"""The amortisation gap: per-image optimisation, importance-sampled log p(x), the split."""

from __future__ import annotations

import math

import pytest
import torch

from elbo_book.amortisation import amortisation_gap, fit_local_gaussians
from elbo_book.models import VAE


def _tiny(latent_dim: int = 1) -> tuple[VAE, torch.Tensor]:
    torch.manual_seed(0)
    model = VAE(data_dim=6, latent_dim=latent_dim, hidden=(16,), likelihood="bernoulli")
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(3.0)  # a decoder that depends on z strongly, so the posterior is not the prior
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    return model, x


def _exact_log_px(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """log ∫ p(x | z) N(z; 0, 1) dz on a fine grid (latent_dim = 1)."""
    grid = torch.linspace(-10, 10, 40001, dtype=torch.float64)[:, None]
    twin = model.double()
    with torch.no_grad():
        log_joint = twin.likelihood(grid[:, None, :]).log_prob(x.double()) - 0.5 * grid**2
        log_joint = log_joint - 0.5 * math.log(2 * math.pi)
    model.float()
    return torch.logsumexp(log_joint, 0) + math.log(float(grid[1, 0] - grid[0, 0]))


def test_split_is_consistent_and_log_px_matches_quadrature() -> None:
    model, x = _tiny()
    before = [p.clone() for p in model.parameters()]
    split = amortisation_gap(model, x, n_eval=4000, n_importance=20000, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    exact = _exact_log_px(model, x)
    assert torch.all((split.log_px - exact).abs() < 4 * split.log_px_se + 1e-3)
    assert torch.all(split.log_px_se < 0.05) and torch.all(split.ess > 100)
    # both gaps are non-negative up to Monte Carlo error, and they add up to the whole gap
    se_local = split.elbo_local_se
    assert torch.all(split.approximation_gap > -4 * (split.log_px_se + se_local))
    assert torch.all(split.amortisation_gap > -4 * (se_local + split.elbo_amortised_se))
    s = split.summary()
    assert s["gap"][0] == pytest.approx(s["approximation_gap"][0] + s["amortisation_gap"][0])
    assert bool(split.fit.converged.all())


def test_local_fit_reaches_the_optimum_of_its_fixed_draw_objective() -> None:
    model, x = _tiny(latent_dim=2)
    fit = fit_local_gaussians(model, x, n_draws=64, seed=5)
    assert bool(fit.converged.all())
    twin = model.double()
    eps = torch.randn((64, 5, 2), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    with torch.no_grad():
        q = twin.encode(x.double())
    for i in range(x.shape[0]):  # a generic optimiser on image i alone finds nothing better
        lam = torch.cat([q.base_dist.loc[i], q.base_dist.scale[i].log()]).requires_grad_(True)
        opt = torch.optim.LBFGS(
            [lam],
            max_iter=500,
            tolerance_grad=1e-10,
            tolerance_change=0,
            line_search_fn="strong_wolfe",
        )

        def closure(
            i: int = i, lam: torch.Tensor = lam, opt: torch.optim.LBFGS = opt
        ) -> torch.Tensor:
            opt.zero_grad()
            z = lam[:2] + lam[2:].exp() * eps[:, i]
            kl = 0.5 * (lam[:2] ** 2 + (2 * lam[2:]).exp() - 1 - 2 * lam[2:]).sum()
            loss = -(twin.likelihood(z).log_prob(x[i].double()).mean() - kl)
            loss.backward()
            return loss

        opt.step(closure)
        assert float(fit.objective[i]) >= -float(closure().detach()) - 1e-3  # within 1e-3 nats
    model.float()


def test_local_fit_improves_on_the_encoder() -> None:
    model, x = _tiny(latent_dim=2)
    fit = fit_local_gaussians(model, x, n_draws=32, max_iter=1, seed=0)
    longer = fit_local_gaussians(model, x, n_draws=32, seed=0)
    assert fit.iterations == 1 and longer.iterations > 1
    assert torch.all(longer.objective >= fit.objective - 1e-12)


def test_bad_inputs() -> None:
    model, x = _tiny()
    with pytest.raises(TypeError, match="VAE"):
        fit_local_gaussians(torch.nn.Linear(2, 2), x)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fit_local_gaussians(model, x[:, :3])
    with pytest.raises(ValueError):
        fit_local_gaussians(model, x + 0.5)  # not binary
    with pytest.raises(ValueError, match="n_eval"):
        amortisation_gap(model, x, n_eval=1)
    with pytest.raises(ValueError, match="grad_tol"):
        fit_local_gaussians(model, x, grad_tol=0.0)
