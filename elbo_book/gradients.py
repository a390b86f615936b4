"""Two Monte Carlo estimators of ∇_μ ELBO for a Gaussian q = N(μ, diag σ²), side by side.

With f(z) = log p(x, z) − log q(z) the ELBO is E_q[f(z)], and

- the **reparameterised** (pathwise) estimator writes z = μ + σ ⊙ ε, ε ~ N(0, I), and
  averages ∇_μ f(μ + σ ⊙ ε) over L draws (Kingma & Welling 2014);
- the **score-function** (REINFORCE) estimator averages (f(z_l) − b_l) ∇_μ log q(z_l) over L
  draws z_l ~ q, with f treated as a constant (Williams 1992); a baseline b_l that does not
  depend on z_l keeps it unbiased and can lower its variance.  The leave-one-out baseline
  b_l = mean_{j≠l} f(z_j) needs L ≥ 2.

Both functions draw ``n_estimates`` independent estimates at once (vectorised), so a chapter
can measure their variance against L.  Chapter 3 compares them on the conjugate Gaussian model,
where :func:`exact_mean_gradient` gives the exact answer.
"""

from __future__ import annotations

from typing import Literal

import torch

from elbo_book.importance import log_weights_at
from elbo_book.models import LatentVariableModel, diagonal_gaussian
from elbo_book.toy_models import ConjugateGaussian
from elbo_book.validation import check_choice, check_gaussian_q, check_int, check_tensor

__all__ = ["exact_mean_gradient", "reparameterised_gradient", "score_function_gradient"]

Baseline = Literal["none", "leave_one_out"]


def _prepare(
    model: LatentVariableModel,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    n_samples: int,
    n_estimates: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(model, LatentVariableModel):
        raise ValueError("model must provide prior() and likelihood(z)")
    check_gaussian_q(x, loc, scale)
    check_int(n_samples, "n_samples")
    check_int(n_estimates, "n_estimates")
    loc_rep = loc.detach().expand(n_estimates, *loc.shape).clone().requires_grad_(True)
    scale_rep = scale.detach().expand(n_estimates, *scale.shape)
    return loc_rep, scale_rep


def reparameterised_gradient(
    model: LatentVariableModel,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    n_samples: int = 1,
    n_estimates: int = 1,
) -> torch.Tensor:
    """(1/L) Σ_l ∇_μ f(μ + σ ⊙ ε_l), computed ``n_estimates`` = R times independently.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(*batch, D)``.
        loc: the means μ of q, shape ``(*batch, latent_dim)``.
        scale: the standard deviations σ of q, the shape of ``loc``, each ≥
            :data:`elbo_book.validation.MIN_SCALE`.
        n_samples: draws L per estimate, ≥ 1.
        n_estimates: independent estimates R, ≥ 1.

    Returns:
        The estimates, shape ``(R, *loc.shape)``.

    Raises:
        ValueError: a bad argument.
    """
    loc_rep, scale_rep = _prepare(model, x, loc, scale, n_samples, n_estimates)
    q = diagonal_gaussian(loc_rep, scale_rep)
    z = q.rsample(torch.Size([n_samples]))
    estimate = log_weights_at(model, x, z, q.log_prob(z)).mean(dim=0)
    (grad,) = torch.autograd.grad(estimate.sum(), loc_rep)
    return grad


def score_function_gradient(
    model: LatentVariableModel,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    n_samples: int = 1,
    n_estimates: int = 1,
    baseline: Baseline = "none",
) -> torch.Tensor:
    """(1/L) Σ_l (f(z_l) − b_l) ∇_μ log q(z_l), z_l ~ q, computed R times independently.

    ``baseline="none"`` uses b_l = 0; ``"leave_one_out"`` uses b_l = mean_{j≠l} f(z_j).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(*batch, D)``.
        loc: the means μ of q, shape ``(*batch, latent_dim)``.
        scale: the standard deviations σ of q, the shape of ``loc``.
        n_samples: draws L per estimate, ≥ 1 (≥ 2 for the leave-one-out baseline).
        n_estimates: independent estimates R, ≥ 1.
        baseline: ``"none"`` or ``"leave_one_out"``.

    Returns:
        The estimates, shape ``(R, *loc.shape)``.

    Raises:
        ValueError: a bad argument.
    """
    check_choice(baseline, "baseline", ("none", "leave_one_out"))
    n_samples = check_int(n_samples, "n_samples")
    if baseline == "leave_one_out" and n_samples < 2:
        raise ValueError(f"baseline='leave_one_out' needs n_samples >= 2, got {n_samples}")
    loc_rep, scale_rep = _prepare(model, x, loc, scale, n_samples, n_estimates)
    q = diagonal_gaussian(loc_rep, scale_rep)
    z = q.sample(torch.Size([n_samples]))  # no path gradient
    log_q = q.log_prob(z)
    with torch.no_grad():
        f = log_weights_at(model, x, z, log_q)
        if baseline == "leave_one_out":
            f = f - (f.sum(dim=0, keepdim=True) - f) / (n_samples - 1)
    surrogate = (f * log_q).mean(dim=0)
    (grad,) = torch.autograd.grad(surrogate.sum(), loc_rep)
    return grad


def exact_mean_gradient(
    model: ConjugateGaussian, x: torch.Tensor, loc: torch.Tensor
) -> torch.Tensor:
    """Exact ∇_μ ELBO for the conjugate Gaussian model.

    ∇_μ ELBO = E_q[∇_z log p(x, z)] (the entropy of q does not depend on μ), and log p(x, z) is
    quadratic in z, so its gradient is linear and the expectation is the gradient at z = μ —
    whatever σ is.

    Args:
        model: a :class:`~elbo_book.toy_models.ConjugateGaussian`.
        x: data of shape ``(*batch, D)``.
        loc: the means μ, shape ``(*batch, 1)``.

    Returns:
        The gradient, shape ``loc.shape``.

    Raises:
        ValueError: another model, or malformed tensors.
    """
    if not isinstance(model, ConjugateGaussian):
        raise ValueError("exact_mean_gradient is exact only for ConjugateGaussian models")
    check_tensor(loc, "loc", min_ndim=1, last_dim=1)
    check_tensor(x, "x", min_ndim=1, last_dim=model.data_dim)
    if loc.shape[:-1] != x.shape[:-1]:
        raise ValueError(
            f"loc's batch shape {tuple(loc.shape[:-1])} must equal x's {tuple(x.shape[:-1])}"
        )
    z = loc.detach().clone().requires_grad_(True)
    log_joint = model.likelihood(z).log_prob(x) + model.prior().log_prob(z)
    (grad,) = torch.autograd.grad(log_joint.sum(), z)
    return grad
