"""The standard normal prior's closed-form KL equals PyTorch's general route and the engine's."""

import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Laplace, Normal, kl_divergence

from elbo_book.book import ch03_kingma_welling_split as ch03
from elbo_book.derive.semantics import Gaussian, mu_q, sigma_q
from elbo_book.models import VAE
from elbo_book.standard_normal import StandardNormal


def general(dim: int, dtype: torch.dtype = torch.float64) -> Independent:
    """N(0, I) built the ordinary way: PyTorch's Normal–Normal KL applies to it."""
    return Independent(Normal(torch.zeros(dim, dtype=dtype), torch.ones(dim, dtype=dtype)), 1)


@settings(max_examples=40, deadline=None)
@given(
    dim=st.integers(1, 6),
    batch=st.lists(st.integers(1, 4), max_size=2),
    loc_scale=st.floats(0.0, 10.0),
    log_sigma_scale=st.floats(0.0, 14.0),
    seed=st.integers(0, 2**16),
)
def test_closed_form_equals_torch_general_kl(
    dim: int, batch: list[int], loc_scale: float, log_sigma_scale: float, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    shape = (*batch, dim)
    loc = (
        loc_scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    ).requires_grad_()
    log_sigma = log_sigma_scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    log_sigma.requires_grad_()
    q = Independent(Normal(loc, log_sigma.exp()), 1)
    ours = kl_divergence(q, StandardNormal(dim, dtype=torch.float64))
    reference = kl_divergence(q, general(dim))
    assert ours.shape == reference.shape == tuple(batch)
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-10)
    ours_grads = torch.autograd.grad(ours.sum(), (loc, log_sigma), retain_graph=True)
    reference_grads = torch.autograd.grad(reference.sum(), (loc, log_sigma))
    for a, b in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_closed_form_equals_engine_expression() -> None:
    """The registered formula is the expression chapter 3's derivation ends with, summed."""
    closed_form = Gaussian(fix={"mu_p": 0, "sigma_p": 1}).tr(ch03.kl_standard_normal.end)
    per_coordinate = sympy.lambdify((mu_q.sympy(), sigma_q.sympy()), closed_form, "numpy")
    generator = torch.Generator().manual_seed(1)
    loc = 3 * torch.randn(500, 4, generator=generator, dtype=torch.float64)
    scale = torch.exp(2 * torch.randn(500, 4, generator=generator, dtype=torch.float64))
    engine = torch.from_numpy(per_coordinate(loc.numpy(), scale.numpy()).sum(axis=1))
    ours = kl_divergence(Independent(Normal(loc, scale), 1), StandardNormal(4, dtype=torch.float64))
    torch.testing.assert_close(ours, engine, rtol=1e-12, atol=1e-12)


def test_extreme_scales_stay_finite_in_float32() -> None:
    loc = torch.tensor([[0.0, 1e3]])
    scale = torch.tensor([[3e-7, 3e6]])  # the range LOGVAR_BOUNDS allows
    kl = kl_divergence(Independent(Normal(loc, scale), 1), StandardNormal(2))
    assert torch.isfinite(kl).all()
    torch.testing.assert_close(
        kl, kl_divergence(Independent(Normal(loc, scale), 1), general(2, torch.float32))
    )


def test_other_encoders_take_the_general_route() -> None:
    q = Independent(Laplace(torch.randn(3, 2), torch.rand(3, 2) + 0.5), 1)
    torch.testing.assert_close(
        kl_divergence(q, StandardNormal(2)), kl_divergence(q, general(2, torch.float32))
    )
    two_event_dims = Independent(Normal(torch.zeros(3, 2), torch.ones(3, 2)), 2)
    with pytest.raises(NotImplementedError):
        kl_divergence(two_event_dims, StandardNormal(2))


def test_batch_shapes_broadcast_like_torch() -> None:
    q = Independent(Normal(torch.randn(2, 5, 3), torch.rand(2, 5, 3) + 0.1), 1)
    prior = StandardNormal(3).expand((5,))
    assert isinstance(prior, StandardNormal) and prior.batch_shape == (5,)
    assert kl_divergence(q, prior).shape == (2, 5)
    single = Independent(Normal(torch.randn(3), torch.rand(3) + 0.1), 1)
    kl = kl_divergence(single, prior)
    assert kl.shape == (5,)
    torch.testing.assert_close(kl, kl_divergence(single, general(3, torch.float32).expand((5,))))


def test_it_is_a_standard_normal() -> None:
    prior = StandardNormal(4, dtype=torch.float64)
    assert prior.event_shape == (4,) and prior.batch_shape == ()
    z = torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(prior.log_prob(z), general(4).log_prob(z))
    assert prior.rsample((3,)).shape == (3, 4)
    with pytest.raises(ValueError, match="dim"):
        StandardNormal(0)


def test_vae_prior_is_cached_until_dtype_changes() -> None:
    model = VAE(6, 3)
    prior = model.prior()
    assert isinstance(prior, StandardNormal) and model.prior() is prior
    model.double()
    moved = model.prior()
    assert moved is not prior and moved.mean.dtype == torch.float64
