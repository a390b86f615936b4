"""Tests for the closed-form KL between isotropic Gaussians (elbo_book.gaussian_kl)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal, kl_divergence

from elbo_book.gaussian_kl import isotropic_gaussian_kl

positive = st.floats(min_value=0.05, max_value=20.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    d=st.integers(min_value=1, max_value=5),
    var_q=positive,
    var_p=positive,
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_isotropic_gaussian_kl_matches_torch(d: int, var_q: float, var_p: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    mu_q = torch.randn(3, d, generator=generator, dtype=torch.float64)
    mu_p = torch.randn(3, d, generator=generator, dtype=torch.float64)
    vq = torch.full((3,), var_q, dtype=torch.float64)
    vp = torch.full((3,), var_p, dtype=torch.float64)
    q = Independent(Normal(mu_q, vq.sqrt()[:, None].expand(3, d)), 1)
    p = Independent(Normal(mu_p, vp.sqrt()[:, None].expand(3, d)), 1)
    expected = kl_divergence(q, p)
    assert torch.allclose(isotropic_gaussian_kl(mu_q, vq, mu_p, vp), expected, rtol=1e-9)


def test_isotropic_gaussian_kl_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same dimension"):
        isotropic_gaussian_kl(torch.zeros(2), torch.ones(()), torch.zeros(3), torch.ones(()))
    with pytest.raises(ValueError, match="var_p"):
        isotropic_gaussian_kl(torch.zeros(2), torch.ones(()), torch.zeros(2), -torch.ones(()))
