import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, kl_divergence

from elbo_book.models import (
    LOGVAR_BOUNDS,
    VAE,
    LatentVariableModel,
    VAEConfig,
    diagonal_gaussian,
    diagonal_gaussian_from_logvar,
)
from elbo_book.reproducibility import seed_everything


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


@settings(max_examples=15, deadline=None)
@given(
    data_dim=st.integers(1, 12),
    latent_dim=st.integers(1, 5),
    hidden=st.lists(st.integers(1, 16), min_size=1, max_size=3),
    likelihood=st.sampled_from(["bernoulli", "gaussian"]),
    learned=st.booleans(),
    n_samples=st.integers(1, 3),
)
def test_vae_shapes(
    data_dim: int,
    latent_dim: int,
    hidden: list[int],
    likelihood: str,
    learned: bool,
    n_samples: int,
) -> None:
    scale = "learned" if learned and likelihood == "gaussian" else 1.0
    model = VAE(data_dim, latent_dim, tuple(hidden), likelihood, scale)  # type: ignore[arg-type]
    assert isinstance(model, LatentVariableModel)
    x = torch.randint(0, 2, (4, data_dim)).float()
    q = model.encode(x)
    assert q.batch_shape == (4,) and q.event_shape == (latent_dim,)
    z = q.rsample((n_samples,))
    p = model.decode(z)
    assert p.batch_shape == (n_samples, 4) and p.event_shape == (data_dim,)
    assert p.log_prob(x).shape == (n_samples, 4)
    assert model.prior().event_shape == (latent_dim,)
    assert model.sample(3).shape == (3, data_dim)
    assert model.reconstruct(x).shape == (4, data_dim)


def test_config_round_trip_and_errors() -> None:
    model = VAE(5, 2, (8, 4), "gaussian", "learned", "tanh")
    config = VAEConfig.from_dict(model.config.to_dict())
    assert config == model.config
    assert VAE.from_config(config).config == config
    assert model.decoder_scale().shape == (5,)
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(5, 0)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(5, 2, likelihood="poisson")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decoder_scale"):
        VAE(5, 2, likelihood="gaussian", decoder_scale=-1.0)
    with pytest.raises(ValueError, match="gaussian likelihood only"):
        VAE(5, 2, likelihood="bernoulli", decoder_scale=0.5)
    with pytest.raises(ValueError, match="hidden"):
        VAE(5, 2, hidden=())
    with pytest.raises(ValueError, match="do not match"):
        VAEConfig.from_dict({"data_dim": 3})
    with pytest.raises(ValueError, match="only for likelihood='gaussian'"):
        VAE(5, 2).decoder_scale()


def test_bad_data_is_rejected() -> None:
    model = VAE(4, 2)
    with pytest.raises(ValueError, match="binary"):
        model.encode(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="last dimension 4"):
        model.encode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="floating-point"):
        model.encode(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        VAE(4, 2, likelihood="gaussian").encode(torch.full((2, 4), math.nan))
    with pytest.raises(ValueError, match="last dimension 2"):
        model.decode(torch.zeros(3, 5))


def test_diagonal_gaussian_is_torch_normal() -> None:
    loc, scale = torch.randn(3, 2), torch.rand(3, 2) + 0.1
    q = diagonal_gaussian(loc, scale)
    z = torch.randn(3, 2)
    torch.testing.assert_close(q.log_prob(z), Normal(loc, scale).log_prob(z).sum(-1))
    with pytest.raises(ValueError, match="scale must be > 0"):
        diagonal_gaussian(loc, -scale)


@pytest.mark.parametrize("logvar", [-30.0, 30.0, -1000.0, 1000.0])
def test_extreme_logvar_stays_finite(logvar: float) -> None:
    """Trap: exp of an unclamped log-variance overflows (σ = inf → NaN loss); ours is clamped."""
    loc = torch.zeros(2, 3)
    q = diagonal_gaussian_from_logvar(loc, torch.full((2, 3), logvar))
    z = q.rsample()
    prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    values = (q.log_prob(z), kl_divergence(q, prior), prior.log_prob(z), z)
    assert all(bool(torch.isfinite(v).all()) for v in values)
    clamped = min(max(logvar, LOGVAR_BOUNDS[0]), LOGVAR_BOUNDS[1])
    torch.testing.assert_close(q.base_dist.scale, torch.full((2, 3), math.exp(clamped / 2)))


def test_vae_with_exploding_encoder_stays_finite() -> None:
    model = VAE(6, 2, (8,))
    with torch.no_grad():
        model.encoder[-1].bias.fill_(1e4)  # log-variances of 10 000
    x = torch.randint(0, 2, (5, 6)).float()
    q = model.encode(x)
    loss = -(model.decode(q.rsample()).log_prob(x) - kl_divergence(q, model.prior())).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
