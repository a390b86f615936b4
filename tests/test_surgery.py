"""Tests of elbo_book.surgery against brute-force and exhaustively enumerated exact values."""

import dataclasses
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal

from elbo_book.models import VAE
from elbo_book.objectives import elbo_terms
from elbo_book.surgery import (
    KLDecomposition,
    SurgeryTerms,
    encode_gaussian,
    kl_decomposition,
    log_aggregate_marginals,
    log_aggregate_posterior,
    minibatch_log_aggregate_posterior,
    minibatch_weights,
    surgery_terms,
)

F64 = torch.float64


def _encoders(
    n: int, d: int, seed: int, *, spread: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    loc = spread * torch.randn(n, d, generator=g, dtype=F64)
    scale = 0.05 + torch.rand(n, d, generator=g, dtype=F64)
    return loc, scale


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _brute_log_qz(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    log_q = Normal(loc, scale).log_prob(z.unsqueeze(-2)).sum(dim=-1)  # (..., N)
    return torch.logsumexp(log_q, dim=-1) - math.log(loc.shape[0])


def _popular_mss_weights(batch_size: int, dataset_size: int) -> torch.Tensor:
    """The weight matrix as widely copied from the β-TCVAE reference code (flat-index bug)."""
    n, m = dataset_size, batch_size - 1
    w = torch.full((batch_size, batch_size), 1.0 / m, dtype=F64)
    w.view(-1)[:: m + 1] = 1.0 / n  # stride B walks down column 0, not the diagonal
    w.view(-1)[1 :: m + 1] = (n - m) / (n * m)
    w[m - 1, 0] = (n - m) / (n * m)
    return w


# --- exact aggregate posterior -------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 5),
    m=st.integers(1, 30),
    chunk=st.integers(1, 17),
    seed=st.integers(0, 10_000),
)
def test_log_aggregate_posterior_matches_brute_force(
    n: int, d: int, m: int, chunk: int, seed: int
) -> None:
    loc, scale = _encoders(n, d, seed)
    z = 3.0 * torch.randn(m, d, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    got = log_aggregate_posterior(z, loc, scale, chunk_size=chunk)
    torch.testing.assert_close(got, _brute_log_qz(z, loc, scale), rtol=1e-10, atol=1e-9)


def test_log_aggregate_posterior_keeps_leading_shape() -> None:
    loc, scale = _encoders(9, 3, 0)
    z = torch.randn(4, 5, 3, generator=_rng(), dtype=F64)
    got = log_aggregate_posterior(z, loc, scale, chunk_size=6)
    assert got.shape == (4, 5)
    torch.testing.assert_close(got, _brute_log_qz(z, loc, scale))


def test_log_aggregate_posterior_float32_is_close_to_float64() -> None:
    loc, scale = _encoders(500, 20, 1, spread=1.0)
    scale = scale.clamp(min=0.1)
    z = loc[:64] + scale[:64] * torch.randn(64, 20, generator=_rng(), dtype=F64)
    exact = _brute_log_qz(z, loc, scale)
    got = log_aggregate_posterior(z.float(), loc.float(), scale.float())
    assert got.dtype == torch.float32
    assert (got.double() - exact).abs().max() < 1e-2


def test_log_aggregate_posterior_gradient_matches_brute_force() -> None:
    loc, scale = _encoders(15, 3, 12)
    z = torch.randn(6, 3, generator=_rng(), dtype=F64)
    grads = []
    for fn in (log_aggregate_posterior, _brute_log_qz):
        leaf = loc.clone().requires_grad_(True)
        fn(z, leaf, scale).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_log_aggregate_marginals_matches_brute_force() -> None:
    loc, scale = _encoders(30, 4, 2)
    z = torch.randn(11, 4, generator=_rng(), dtype=F64)
    expected = torch.logsumexp(Normal(loc, scale).log_prob(z.unsqueeze(1)), dim=1) - math.log(30)
    torch.testing.assert_close(log_aggregate_marginals(z, loc, scale, chunk_size=4), expected)


def test_one_encoder_aggregate_is_that_encoder() -> None:
    loc, scale = _encoders(1, 3, 3)
    z = torch.randn(5, 3, generator=_rng(), dtype=F64)
    expected = Independent(Normal(loc[0], scale[0]), 1).log_prob(z)
    torch.testing.assert_close(log_aggregate_posterior(z, loc, scale), expected)


@pytest.mark.parametrize(
    ("z", "loc", "scale", "match"),
    [
        (torch.zeros(2, 3), torch.zeros(4, 3), torch.ones(4, 2), "same shape|shape"),
        (torch.zeros(2, 3), torch.zeros(4, 3), -torch.ones(4, 3), "scale must be > 0"),
        (torch.zeros(2, 2), torch.zeros(4, 3), torch.ones(4, 3), "last dimension 3"),
        (torch.zeros(2, 3), torch.zeros(0, 3), torch.ones(0, 3), "at least one encoder"),
        (torch.zeros(2, 3), torch.zeros(4, 3, 1), torch.ones(4, 3, 1), "2 dimension"),
        (torch.full((2, 3), float("nan")), torch.zeros(4, 3), torch.ones(4, 3), "finite"),
    ],
)
def test_log_aggregate_posterior_rejects_bad_inputs(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        log_aggregate_posterior(z, loc, scale)


def test_log_aggregate_posterior_rejects_bad_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        log_aggregate_posterior(
            torch.zeros(2, 1), torch.zeros(3, 1), torch.ones(3, 1), chunk_size=0
        )


# --- minibatch estimators -----------------------------------------------------------------


@pytest.mark.parametrize(("b", "n"), [(2, 2), (2, 7), (3, 6), (5, 5), (8, 100)])
def test_mss_weights_rows_sum_to_one_with_self_weight_one_over_n(b: int, n: int) -> None:
    w = minibatch_weights(b, n, "mss")
    torch.testing.assert_close(w.sum(dim=1), torch.ones(b, dtype=F64))
    torch.testing.assert_close(torch.diagonal(w), torch.full((b,), 1.0 / n, dtype=F64))


def _expected_estimate(
    weights: torch.Tensor, densities: torch.Tensor, n: int, row: int, index: int
) -> float:
    """E[Σ_j w_row,j q(z|n_j)] over all ordered batches (no replacement) with n_row = index."""
    b = weights.shape[0]
    total, count = 0.0, 0
    for batch in itertools.permutations(range(n), b):
        if batch[row] != index:
            continue
        total += float(sum(weights[row, j] * densities[batch[j]] for j in range(b)))
        count += 1
    return total / count


@pytest.mark.parametrize(("b", "n"), [(2, 4), (3, 5), (4, 6)])
def test_mss_is_unbiased_for_q_of_z_by_enumeration(b: int, n: int) -> None:
    """For every row i, data index n_i and point z: E[Σ_j w_ij q(z|n_j)] = q(z) exactly."""
    loc, scale = _encoders(n, 2, 4, spread=1.0)
    z = torch.tensor([0.3, -0.2], dtype=F64)
    densities = Independent(Normal(loc, scale), 1).log_prob(z).exp()
    q_z = float(densities.mean())
    w = minibatch_weights(b, n, "mss")
    for row in range(b):
        for index in range(n):
            assert _expected_estimate(w, densities, n, row, index) == pytest.approx(q_z, rel=1e-12)


def test_popular_weight_matrix_is_biased_by_enumeration() -> None:
    """The widely copied matrix puts 1/N in column 0, not on the diagonal: the test catches it."""
    b, n = 4, 6
    loc, scale = _encoders(n, 2, 4, spread=1.0)
    z = torch.tensor([0.3, -0.2], dtype=F64)
    densities = Independent(Normal(loc, scale), 1).log_prob(z).exp()
    q_z = float(densities.mean())
    w = _popular_mss_weights(b, n)
    assert not torch.allclose(torch.diagonal(w), torch.full((b,), 1.0 / n, dtype=F64))
    errors = [
        abs(_expected_estimate(w, densities, n, row, index) - q_z) / q_z
        for row in range(b)
        for index in range(n)
    ]
    assert max(errors) > 0.05


def test_mws_expectation_is_not_q_of_z() -> None:
    """MWS as published: E = (q(z|n_i) + (B−1) q_{−i}(z)) / (N B), enumerated exactly."""
    b, n = 3, 5
    loc, scale = _encoders(n, 2, 5, spread=1.0)
    z = torch.tensor([0.1, 0.4], dtype=F64)
    densities = Independent(Normal(loc, scale), 1).log_prob(z).exp()
    w = minibatch_weights(b, n, "mws")
    for index in range(n):
        others = (densities.sum() - densities[index]) / (n - 1)
        closed_form = float((densities[index] + (b - 1) * others) / (n * b))
        assert _expected_estimate(w, densities, n, 0, index) == pytest.approx(closed_form)
    assert float(w[0, 0]) == pytest.approx(1.0 / (n * b))


def test_mws_on_the_whole_data_set_is_off_by_log_n() -> None:
    n = 12
    loc, scale = _encoders(n, 3, 6)
    z = loc + scale * torch.randn(n, 3, generator=_rng(), dtype=F64)
    exact = log_aggregate_posterior(z, loc, scale)
    mws = minibatch_log_aggregate_posterior(z, loc, scale, dataset_size=n, method="mws")
    torch.testing.assert_close(mws, exact - math.log(n))


def test_minibatch_estimate_equals_weighted_log_sum_exp() -> None:
    b, n, d = 5, 40, 3
    loc, scale = _encoders(b, d, 7)
    z = loc + scale * torch.randn(b, d, generator=_rng(), dtype=F64)
    log_q = Normal(loc.unsqueeze(0), scale.unsqueeze(0)).log_prob(z.unsqueeze(1))  # (B, B, d)
    for method in ("mws", "mss"):
        w = minibatch_weights(b, n, method)
        joint = minibatch_log_aggregate_posterior(z, loc, scale, dataset_size=n, method=method)
        expected = torch.log((w * log_q.sum(-1).exp()).sum(dim=1))
        torch.testing.assert_close(joint, expected)
        marginal = minibatch_log_aggregate_posterior(
            z, loc, scale, dataset_size=n, method=method, per_dimension=True
        )
        assert marginal.shape == (b, d)
        expected_marginal = torch.log((w.unsqueeze(-1) * log_q.exp()).sum(dim=1))
        torch.testing.assert_close(marginal, expected_marginal)


def test_minibatch_estimate_is_differentiable() -> None:
    loc, scale = _encoders(6, 2, 8)
    loc.requires_grad_(True)
    z = loc + scale * torch.randn(6, 2, generator=_rng(), dtype=F64)
    minibatch_log_aggregate_posterior(z, loc, scale, dataset_size=50).sum().backward()
    assert loc.grad is not None and torch.isfinite(loc.grad).all()


def test_mss_estimates_get_close_to_exact_for_large_batches() -> None:
    n, d = 400, 2
    loc, scale = _encoders(n, d, 9, spread=1.0)
    z_all = loc + scale * torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=F64)
    exact = log_aggregate_posterior(z_all, loc, scale)
    errors = []
    for b in (10, 390):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(2))[:b]
        est = minibatch_log_aggregate_posterior(
            z_all[order], loc[order], scale[order], dataset_size=n, method="mss"
        )
        errors.append(float((est - exact[order]).abs().mean()))
    assert errors[1] < errors[0]
    assert errors[1] < 0.05


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 1, "dataset_size": 5, "method": "mss"}, "batch_size"),
        ({"batch_size": 6, "dataset_size": 5, "method": "mss"}, "dataset_size must be >="),
        ({"batch_size": 3, "dataset_size": 5, "method": "exact"}, "method"),
        ({"batch_size": 3, "dataset_size": 0, "method": "mws"}, "dataset_size"),
    ],
)
def test_minibatch_weights_reject_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        minibatch_weights(**kwargs)


def test_minibatch_estimate_rejects_mismatched_rows() -> None:
    loc, scale = _encoders(4, 2, 0)
    with pytest.raises(ValueError, match="one row per batch member"):
        minibatch_log_aggregate_posterior(torch.zeros(3, 2, dtype=F64), loc, scale, dataset_size=9)


# --- KL decomposition ---------------------------------------------------------------------


def test_kl_decomposition_terms_telescope_to_the_monte_carlo_kl() -> None:
    n, d, s = 25, 3, 8
    loc, scale = _encoders(n, d, 10, spread=1.0)
    parts = kl_decomposition(loc, scale, n_samples=s, generator=torch.Generator().manual_seed(3))
    eps = torch.randn((s, n, d), generator=torch.Generator().manual_seed(3), dtype=F64)
    z = loc + scale * eps  # the documented draws
    mc_kl = (Normal(loc, scale).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    assert parts.total == pytest.approx(float(mc_kl), abs=1e-10)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 30), d=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_mutual_information_is_at_most_log_n(n: int, d: int, seed: int) -> None:
    loc, scale = _encoders(n, d, seed)
    parts = kl_decomposition(loc, scale, n_samples=4, generator=torch.Generator().manual_seed(seed))
    assert parts.mutual_information <= math.log(n) + 1e-12


def test_kl_decomposition_sums_to_average_kl() -> None:
    loc, scale = _encoders(40, 3, 11, spread=1.0)
    parts = kl_decomposition(loc, scale, n_samples=200, generator=torch.Generator().manual_seed(4))
    assert isinstance(parts, KLDecomposition)
    assert parts.total == pytest.approx(parts.average_kl, abs=0.05)
    assert parts.total_correlation > -0.05 and parts.dimensionwise_kl > 0


def test_identical_encoders_carry_no_information() -> None:
    loc = torch.tensor([[0.5, -1.0]], dtype=F64).repeat(10, 1)
    scale = torch.tensor([[0.3, 2.0]], dtype=F64).repeat(10, 1)
    parts = kl_decomposition(loc, scale, n_samples=200, generator=torch.Generator().manual_seed(5))
    assert parts.mutual_information == pytest.approx(0.0, abs=1e-12)
    assert parts.total_correlation == pytest.approx(0.0, abs=1e-12)
    assert parts.dimensionwise_kl == pytest.approx(parts.average_kl, abs=0.1)


def test_separated_encoders_attain_log_n() -> None:
    n = 16
    loc = 100.0 * torch.arange(n, dtype=F64).unsqueeze(1)
    scale = torch.full((n, 1), 0.1, dtype=F64)
    parts = kl_decomposition(loc, scale, n_samples=4, generator=torch.Generator().manual_seed(6))
    assert parts.mutual_information == pytest.approx(math.log(n), abs=1e-9)


# --- surgery terms of a VAE ---------------------------------------------------------------


def _small_vae_and_data() -> tuple[VAE, torch.Tensor]:
    torch.manual_seed(0)
    model = VAE(data_dim=12, latent_dim=2, hidden=(16,))
    x = (torch.rand(60, 12, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    return model, x


def test_surgery_terms_of_a_vae() -> None:
    model, x = _small_vae_and_data()
    terms = surgery_terms(model, x, n_samples=64, generator=torch.Generator().manual_seed(2))
    assert isinstance(terms, SurgeryTerms)
    assert terms.log_n == pytest.approx(math.log(60))
    assert terms.elbo == pytest.approx(terms.reconstruction - terms.average_kl)
    with torch.no_grad():
        reference = elbo_terms(model, x, reduction="mean")
    assert terms.average_kl == pytest.approx(float(reference.kl), rel=1e-5)
    assert 0.0 <= terms.mutual_information <= terms.log_n
    assert terms.marginal_kl > 0.0
    assert abs(terms.identity_gap) < 0.05 * terms.average_kl + 0.02
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms.elbo = 0.0  # type: ignore[misc]


def test_surgery_terms_are_reproducible_with_a_generator() -> None:
    model, x = _small_vae_and_data()
    a = surgery_terms(model, x, n_samples=4, generator=torch.Generator().manual_seed(3))
    b = surgery_terms(model, x, n_samples=4, generator=torch.Generator().manual_seed(3))
    assert a == b


def test_encode_gaussian_returns_the_encoder_parameters() -> None:
    model, x = _small_vae_and_data()
    loc, scale = encode_gaussian(model, x, batch_size=7)
    q = model.encode(x)
    torch.testing.assert_close(loc, q.base_dist.loc)
    torch.testing.assert_close(scale, q.base_dist.scale)


def test_surgery_terms_need_a_gaussian_encoder() -> None:
    class NotGaussian:
        def prior(self) -> Normal:
            return Normal(0.0, 1.0)

        def likelihood(self, z: torch.Tensor) -> Normal:
            return Normal(z, 1.0)

        def encode(self, x: torch.Tensor) -> Normal:
            return Normal(x, 1.0)

    with pytest.raises(ValueError, match="diagonal Gaussian"):
        surgery_terms(NotGaussian(), torch.zeros(3, 2))  # type: ignore[arg-type]
