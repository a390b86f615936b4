"""Score-function gradients for a categorical q: unbiased, with and without a baseline."""

from __future__ import annotations

import pytest
import torch

from elbo_book.categorical_gradients import (
    exact_categorical_gradient,
    score_function_categorical_gradient,
)

LOG_JOINT = torch.tensor([-4.0, -2.0, -2.5], dtype=torch.float64)
LOGITS = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)


def test_exact_gradient_matches_the_closed_form() -> None:
    # d/dη_j Σ q_k (a_k − log q_k) = q_j (f_j − Σ_k q_k f_k) with f_k = a_k − log q_k
    q = torch.softmax(LOGITS, 0)
    f = LOG_JOINT - q.log()
    expected = q * (f - (q * f).sum())
    torch.testing.assert_close(exact_categorical_gradient(LOG_JOINT, LOGITS), expected)


def test_gradient_vanishes_at_the_posterior() -> None:
    posterior_logits = LOG_JOINT - torch.logsumexp(LOG_JOINT, 0)
    grad = exact_categorical_gradient(LOG_JOINT, posterior_logits)
    assert grad.abs().max() < 1e-12
    estimates = score_function_categorical_gradient(
        LOG_JOINT, posterior_logits, 4, 50, generator=torch.Generator().manual_seed(0)
    )
    # f(z) = log p(x) for every z, so (f − f̄)·score with the leave-one-out baseline is zero
    loo = score_function_categorical_gradient(
        LOG_JOINT, posterior_logits, 4, 50, "leave_one_out", torch.Generator().manual_seed(0)
    )
    assert loo.abs().max() < 1e-12 and estimates.abs().max() > 0.01


@pytest.mark.parametrize("baseline", ["none", "leave_one_out"])
def test_unbiased_within_four_standard_errors(baseline: str) -> None:
    exact = exact_categorical_gradient(LOG_JOINT, LOGITS)
    est = score_function_categorical_gradient(
        LOG_JOINT,
        LOGITS,
        4,
        20_000,
        baseline,
        torch.Generator().manual_seed(1),  # type: ignore[arg-type]
    )
    se = est.std(dim=0) / 20_000**0.5
    assert ((est.mean(dim=0) - exact).abs() < 4 * se).all()


def test_baseline_lowers_the_variance_here() -> None:
    g = torch.Generator().manual_seed(2)
    plain = score_function_categorical_gradient(LOG_JOINT, LOGITS, 8, 4000, "none", g)
    loo = score_function_categorical_gradient(LOG_JOINT, LOGITS, 8, 4000, "leave_one_out", g)
    assert loo.var(dim=0).sum() < 0.5 * plain.var(dim=0).sum()  # total variance


def test_bad_inputs() -> None:
    with pytest.raises(TypeError):
        exact_categorical_gradient([0.0, 1.0], LOGITS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in shape"):
        exact_categorical_gradient(LOG_JOINT[:2], LOGITS)
    with pytest.raises(ValueError, match="finite"):
        exact_categorical_gradient(torch.tensor([0.0, -torch.inf, 1.0]), LOGITS)
    with pytest.raises(ValueError, match="n_samples >= 2"):
        score_function_categorical_gradient(LOG_JOINT, LOGITS, 1, 5, "leave_one_out")
    with pytest.raises(ValueError, match="baseline"):
        score_function_categorical_gradient(LOG_JOINT, LOGITS, 2, 5, "mean")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        score_function_categorical_gradient(LOG_JOINT, LOGITS, 2.0, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_estimates"):
        score_function_categorical_gradient(LOG_JOINT, LOGITS, 2, 0)
