"""Tests for the MIG, the FactorVAE metric and latent traversals (elbo_book.disentanglement)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from elbo_book.disentanglement import (
    factor_vae_score,
    latent_factor_mutual_information,
    latent_traversals,
    mutual_information_gap,
)
from elbo_book.models import VAE


def _grid(sizes: tuple[int, ...]) -> torch.Tensor:
    """All combinations of factor indices, shape (Π sizes, K)."""
    mesh = torch.meshgrid(*[torch.arange(s) for s in sizes], indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def _binary_mixture_information(separation: float, scale: float) -> float:
    """I(z; v) for v uniform on {0, 1} and z | v ~ N(separation · v, scale²), by quadrature."""
    grid = np.linspace(-10 * scale - 1, separation + 10 * scale + 1, 20_001)
    mixture = 0.5 * (norm.pdf(grid, 0, scale) + norm.pdf(grid, separation, scale))
    entropy = -np.trapezoid(mixture * np.log(np.maximum(mixture, 1e-300)), grid)
    return float(entropy - 0.5 * math.log(2 * math.pi * math.e * scale**2))


@pytest.mark.parametrize("separation", [0.5, 1.0, 3.0])
def test_mutual_information_matches_quadrature(separation: float) -> None:
    factors = torch.arange(2).repeat_interleave(300)[:, None]
    loc = separation * factors.double()
    scale = torch.full_like(loc, 0.6)
    generator = torch.Generator().manual_seed(0)
    info = latent_factor_mutual_information(loc, scale, factors, n_samples=4, generator=generator)
    assert float(info[0, 0]) == pytest.approx(
        _binary_mixture_information(separation, 0.6), abs=0.03
    )


def test_axis_aligned_code_has_mig_one_and_duplicated_code_zero() -> None:
    factors = _grid((2, 3, 4))
    generator = torch.Generator().manual_seed(1)
    scale = torch.full(factors.shape, 0.01, dtype=torch.float64)
    aligned = mutual_information_gap(
        factors.double(), scale, factors, n_samples=2, generator=generator
    )
    assert aligned.score == pytest.approx(1.0, abs=1e-3)
    assert aligned.factor_entropy.tolist() == pytest.approx([math.log(2), math.log(3), math.log(4)])
    # Factor 0 copied into two coordinates: its gap vanishes, the others keep theirs.
    duplicated = torch.cat([factors, factors[:, :1]], dim=1).double()
    result = mutual_information_gap(
        duplicated,
        torch.full(duplicated.shape, 0.01, dtype=torch.float64),
        factors,
        n_samples=2,
        generator=generator,
    )
    assert result.per_factor == pytest.approx((0.0, 1.0, 1.0), abs=1e-3)


def test_rotating_the_code_lowers_the_mig() -> None:
    factors = _grid((5, 5))
    codes = factors.double() / 2
    angle = math.pi / 4
    rotation = torch.tensor(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
        dtype=torch.float64,
    )
    scale = torch.full(codes.shape, 0.2, dtype=torch.float64)
    generator = torch.Generator().manual_seed(2)
    aligned = mutual_information_gap(codes, scale, factors, generator=generator)
    rotated = mutual_information_gap(codes @ rotation.T, scale, factors, generator=generator)
    assert rotated.score < 0.2 < aligned.score


def test_mig_is_invariant_to_permuting_latents() -> None:
    factors = _grid((3, 4)).repeat(20, 1)
    codes = torch.stack([factors[:, 1] * 0.7, factors[:, 0] * 1.3], dim=1).double()
    scale = torch.full(codes.shape, 0.3, dtype=torch.float64)
    first = mutual_information_gap(
        codes, scale, factors, generator=torch.Generator().manual_seed(3)
    )
    swapped = mutual_information_gap(
        codes.flip(1), scale.flip(1), factors, generator=torch.Generator().manual_seed(3)
    )
    # Same value up to Monte Carlo noise (the draws land on other coordinates once swapped).
    assert swapped.score == pytest.approx(first.score, abs=0.02)


def test_latent_traversals_change_one_coordinate_per_row() -> None:
    torch.manual_seed(0)
    model = VAE(data_dim=6, latent_dim=3, hidden=(8,))
    anchor = torch.tensor([0.1, -0.2, 0.3])
    values = torch.linspace(-2, 2, 5)
    images = latent_traversals(model, anchor, values)
    assert images.shape == (3, 5, 6)
    z = anchor.clone()
    z[1] = values[4]
    assert torch.allclose(images[1, 4], model.decode(z).mean)


def test_invalid_inputs_raise_value_error() -> None:
    factors = _grid((2, 2))
    loc = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="integer tensor of shape"):
        mutual_information_gap(loc, torch.ones(4, 2), factors.double())
    with pytest.raises(ValueError, match="at least 2 latent"):
        mutual_information_gap(torch.zeros(4, 1), torch.ones(4, 1), factors)
    with pytest.raises(ValueError, match="scale must be > 0"):
        mutual_information_gap(loc, torch.zeros(4, 2), factors)
    with pytest.raises(ValueError, match="at least two values"):
        mutual_information_gap(loc, torch.ones(4, 2), torch.zeros(4, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="shape of loc"):
        latent_factor_mutual_information(loc, torch.ones(4, 3), factors)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 5), min_size=2, max_size=4),
    seed=st.integers(0, 2**16),
    n_constant=st.integers(0, 2),
)
def test_factor_vae_score_of_an_axis_aligned_code_is_one(
    sizes: list[int], seed: int, n_constant: int
) -> None:
    # Each factor in a coordinate of its own, permuted, scaled by ± powers of two, plus
    # constant coordinates (collapsed latents, which the threshold must drop).
    factors = _grid(tuple(sizes))
    generator = torch.Generator().manual_seed(seed)
    k = len(sizes)
    permutation = torch.randperm(k, generator=generator)
    signs = torch.randint(0, 2, (k,), generator=generator) * 2 - 1
    powers = torch.randint(-3, 4, (k,), generator=generator)
    aligned = factors[:, permutation].double() * signs * 2.0**powers
    codes = torch.cat([aligned, torch.full((factors.shape[0], n_constant), 0.7)], dim=1)
    result = factor_vae_score(codes, factors, n_train=300, n_eval=300, generator=generator)
    assert result.train_accuracy == 1.0
    assert result.eval_accuracy == 1.0
    assert result.active == (True,) * k + (False,) * n_constant
    # Every vote for factor f lands on the coordinate that holds it.
    for column, f in enumerate(permutation.tolist()):
        assert int(result.votes[column, f]) == int(result.votes[:, f].sum())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n_factors=st.integers(2, 5))
def test_factor_vae_score_of_an_independent_code_is_chance(seed: int, n_factors: int) -> None:
    # Many examples per factor combination, each with its own code drawn independently of the
    # factors (so that fixing a factor does not select a handful of codes).
    cells = _grid((3,) * n_factors)
    factors = cells.repeat(3000 // cells.shape[0], 1)
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randn(factors.shape[0], 4, generator=generator, dtype=torch.float64)
    n_eval = 4000
    result = factor_vae_score(codes, factors, n_train=500, n_eval=n_eval, generator=generator)
    chance = 1 / n_factors
    standard_error = math.sqrt(chance * (1 - chance) / n_eval)
    assert abs(result.eval_accuracy - chance) < 4.5 * standard_error
    # The training accuracy is not a fair score: the classifier is fitted to those votes.
    assert result.train_accuracy >= result.eval_accuracy - 4.5 * standard_error


def test_random_rotations_lower_the_factor_vae_score() -> None:
    factors = _grid((3, 3, 3, 3, 3))
    generator = torch.Generator().manual_seed(4)
    aligned = factors.double()
    assert factor_vae_score(aligned, factors, generator=generator).eval_accuracy == 1.0
    scores = []
    for _ in range(10):
        rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator, dtype=torch.float64))
        scores.append(factor_vae_score(aligned @ rotation.T, factors, generator=generator))
    assert max(s.eval_accuracy for s in scores) <= 1.0
    assert sum(s.eval_accuracy for s in scores) / len(scores) < 0.85


def test_factor_vae_score_is_invariant_to_rescaling_coordinates() -> None:
    factors = _grid((3, 4, 2))
    generator = torch.Generator().manual_seed(5)
    codes = factors.double() + 0.8 * torch.randn(factors.shape, generator=generator)
    first = factor_vae_score(codes, factors, generator=torch.Generator().manual_seed(6))
    scaled = factor_vae_score(
        codes * torch.tensor([8.0, 0.25, 2.0]), factors, generator=torch.Generator().manual_seed(6)
    )
    assert torch.equal(first.votes, scaled.votes)
    assert (first.train_accuracy, first.eval_accuracy) == (
        scaled.train_accuracy,
        scaled.eval_accuracy,
    )
    assert 0.5 < first.eval_accuracy < 1.0  # noise spreads some votes


def test_factor_vae_score_bad_inputs_raise_value_error() -> None:
    factors = _grid((2, 3))
    codes = factors.double()
    with pytest.raises(ValueError, match="integer tensor of shape"):
        factor_vae_score(codes, factors.double())
    with pytest.raises(ValueError, match="integer tensor of shape"):
        factor_vae_score(codes, factors[:3])
    with pytest.raises(ValueError, match="factor 1 is constant"):
        factor_vae_score(codes, torch.stack([factors[:, 0], torch.zeros(6).long()], dim=1))
    with pytest.raises(ValueError, match="no coordinate"):
        factor_vae_score(torch.zeros(6, 2), factors)
    with pytest.raises(ValueError, match="no coordinate"):
        factor_vae_score(codes * 0.01, factors, active_threshold=0.05)
    with pytest.raises(ValueError, match="batch_size"):
        factor_vae_score(codes, factors, batch_size=1)
    with pytest.raises(ValueError, match="active_threshold"):
        factor_vae_score(codes, factors, active_threshold=-1.0)
    with pytest.raises(ValueError, match="generator"):
        factor_vae_score(codes, factors, generator=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="codes"):
        factor_vae_score(torch.full((6, 2), math.nan), factors)
