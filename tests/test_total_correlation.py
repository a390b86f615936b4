"""Tests of elbo_book.total_correlation: enumeration, exactness at B = N, and the MWS offset."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, Normal

from elbo_book.surgery import kl_decomposition, log_aggregate_marginals, minibatch_weights
from elbo_book.total_correlation import (
    expected_minibatch_density,
    index_bug_mss_weights,
    minibatch_kl_terms,
)

F64 = torch.float64


def _encoders(n: int, d: int, seed: int, spread: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return spread * torch.randn(n, d, generator=g, dtype=F64), 0.2 + torch.rand(
        n, d, generator=g, dtype=F64
    )


def _densities(n: int, seed: int) -> torch.Tensor:
    loc, scale = _encoders(n, 2, seed)
    return Independent(Normal(loc, scale), 1).log_prob(torch.tensor([0.3, -0.2], dtype=F64)).exp()


def _slow_expectation(weights: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
    """The same conditional expectations by a plain loop over batches (reference)."""
    b, n = weights.shape[0], densities.shape[0]
    out = torch.zeros(b, n, dtype=F64)
    counts = torch.zeros(b, n, dtype=F64)
    for batch in itertools.permutations(range(n), b):
        for i in range(b):
            out[i, batch[i]] += sum(float(weights[i, k] * densities[batch[k]]) for k in range(b))
            counts[i, batch[i]] += 1
    return out / counts


def test_enumeration_matches_a_plain_loop() -> None:
    w = torch.rand(3, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    dens = _densities(5, 1)
    torch.testing.assert_close(expected_minibatch_density(w, dens), _slow_expectation(w, dens))


@pytest.mark.parametrize("method", ["mss", "equal"])
@pytest.mark.parametrize(("b", "n"), [(2, 4), (3, 5), (4, 6), (5, 5)])
def test_stratified_weights_are_unbiased_for_q_of_z(method: str, b: int, n: int) -> None:
    dens = _densities(n, b + n)
    expected = expected_minibatch_density(minibatch_weights(b, n, method), dens)
    torch.testing.assert_close(expected, torch.full((b, n), float(dens.mean()), dtype=F64))


@pytest.mark.parametrize(("b", "n"), [(3, 5), (4, 6)])
def test_index_bug_weights_are_biased_except_in_row_zero(b: int, n: int) -> None:
    w = index_bug_mss_weights(b, n)
    torch.testing.assert_close(w[0], minibatch_weights(b, n, "mss")[0])
    dens = _densities(n, 3)
    relative = expected_minibatch_density(w, dens) / dens.mean() - 1.0
    assert float(relative[0].abs().max()) < 1e-12
    assert float(relative[1:].abs().max()) > 0.05


def test_mws_is_biased_by_enumeration() -> None:
    dens = _densities(5, 4)
    relative = expected_minibatch_density(minibatch_weights(3, 5, "mws"), dens) / dens.mean()
    assert float((relative - 1.0).abs().max()) > 0.5


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), d=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_equal_weights_are_exact_at_b_equal_n(n: int, d: int, seed: int) -> None:
    """B = N: every equal weight is 1/N, so the estimates are the exact aggregate densities."""
    loc, scale = _encoders(n, d, seed)
    z = loc + scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    w = minibatch_weights(n, n, "equal")
    torch.testing.assert_close(w, torch.full((n, n), 1.0 / n, dtype=F64))
    terms = minibatch_kl_terms(z, loc, scale, w)
    exact_marginals = log_aggregate_marginals(z, loc, scale)
    log_own = Independent(Normal(loc, scale), 1).log_prob(z)
    exact_joint = torch.logsumexp(
        Normal(loc, scale).log_prob(z.unsqueeze(1)).sum(-1), dim=1
    ) - math.log(n)
    torch.testing.assert_close(terms.mutual_information, (log_own - exact_joint).mean())
    torch.testing.assert_close(
        terms.total_correlation, (exact_joint - exact_marginals.sum(-1)).mean()
    )


def test_chen_weights_are_not_exact_at_b_equal_n() -> None:
    n = 6
    loc, scale = _encoders(n, 2, 5)
    z = loc + scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    chen = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "mss"))
    equal = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "equal"))
    assert abs(float(chen.total_correlation - equal.total_correlation)) > 1e-3


@settings(max_examples=20, deadline=None)
@given(
    b=st.integers(3, 9),
    d=st.integers(1, 4),
    method=st.sampled_from(["mws", "mss", "equal", "bug"]),
    seed=st.integers(0, 2**16),
)
def test_the_three_terms_telescope_for_any_weights(b: int, d: int, method: str, seed: int) -> None:
    loc, scale = _encoders(b, d, seed)
    z = loc + scale * torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    w = index_bug_mss_weights(b, 50) if method == "bug" else minibatch_weights(b, 50, method)
    terms = minibatch_kl_terms(z, loc, scale, w)
    total = terms.mutual_information + terms.total_correlation + terms.dimensionwise_kl
    direct = (
        Independent(Normal(loc, scale), 1).log_prob(z) - Normal(0.0, 1.0).log_prob(z).sum(-1)
    ).mean()
    torch.testing.assert_close(total, direct)


def test_mws_total_correlation_exceeds_exact_by_about_d_minus_one_log_n() -> None:
    """Broad, overlapping encoders and B = N: the MWS TC is TC + (d − 1) log N exactly."""
    n, d = 40, 3
    loc, scale = _encoders(n, d, 6)
    z = loc + scale * torch.randn(n, d, generator=torch.Generator().manual_seed(6), dtype=F64)
    mws = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "mws"))
    equal = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "equal"))
    offset = float(mws.total_correlation - equal.total_correlation)
    assert offset == pytest.approx((d - 1) * math.log(n), rel=1e-9)


def test_minibatch_terms_are_differentiable() -> None:
    loc, scale = _encoders(6, 2, 8)
    loc.requires_grad_(True)
    z = loc + scale * torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    minibatch_kl_terms(
        z, loc, scale, minibatch_weights(6, 30, "equal")
    ).total_correlation.backward()
    assert loc.grad is not None and torch.isfinite(loc.grad).all()


def test_kl_decomposition_reports_standard_errors() -> None:
    loc, scale = _encoders(30, 3, 9)
    few = kl_decomposition(loc, scale, n_samples=4, generator=torch.Generator().manual_seed(1))
    many = kl_decomposition(loc, scale, n_samples=64, generator=torch.Generator().manual_seed(1))
    assert 0 < many.total_correlation_se < few.total_correlation_se
    assert 0 < many.mutual_information_se < few.mutual_information_se
    assert abs(many.total_correlation - few.total_correlation) < 5 * few.total_correlation_se


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: index_bug_mss_weights(2, 5), "batch_size"),
        (lambda: index_bug_mss_weights(5, 4), "dataset_size must be >="),
        (lambda: expected_minibatch_density(torch.ones(2, 3), torch.ones(4)), "square"),
        (lambda: expected_minibatch_density(torch.ones(3, 3), torch.ones(2)), "at least"),
        (lambda: expected_minibatch_density(torch.ones(3, 3), -torch.ones(4)), "non-negative"),
        (lambda: expected_minibatch_density(torch.ones(8, 8), torch.ones(30)), "exceed"),
        (
            lambda: minibatch_kl_terms(
                torch.zeros(3, 2), torch.zeros(3, 2), torch.ones(3, 2), torch.ones(2, 2)
            ),
            "weights must have shape",
        ),
        (
            lambda: minibatch_kl_terms(
                torch.zeros(3, 2), torch.zeros(3, 2), torch.ones(3, 2), torch.zeros(3, 3)
            ),
            "positive",
        ),
        (
            lambda: minibatch_kl_terms(
                torch.zeros(2, 2), torch.zeros(3, 2), torch.ones(3, 2), torch.ones(3, 3)
            ),
            "same non-empty shape",
        ),
    ],
)
def test_bad_arguments_are_rejected(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
