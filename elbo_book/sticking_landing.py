"""The "sticking the landing" gradient estimator (Roeder, Wu & Duvenaud 2017).

For q_φ = N(μ, diag σ²), z = μ + σ ⊙ ε and f(z) = log p(x, z) − log q_φ(z), the reparameterised
gradient of the single-sample estimate f(z) with respect to φ = (μ, σ) has two parts:

    ∇_φ f(z(φ)) = [∇_z log p(x, z) − ∇_z log q_φ(z)] ∂z/∂φ  −  ∂_φ log q_φ(z)   (z held fixed).

The last term is a score function: its mean under q is zero, but not its variance. The
sticking-the-landing (STL) estimator drops it, by evaluating log q with parameters detached from
the graph. Both estimators are unbiased. At q = p(z | x) the first bracket is zero for every z
(log p(x, z) − log q(z) is the constant log p(x)), so the STL gradient is exactly zero while the
total gradient still has the score term's variance.
"""

from __future__ import annotations

import torch

from elbo_book.importance import log_weights_at
from elbo_book.models import LatentVariableModel, diagonal_gaussian
from elbo_book.validation import check_bool, check_gaussian_q, check_int

__all__ = ["reparameterised_elbo_gradients"]


def reparameterised_elbo_gradients(
    model: LatentVariableModel,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    sticking_the_landing: bool,
    n_samples: int = 1,
    n_estimates: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent reparameterised estimates of ∇_μ ELBO and ∇_σ ELBO, with or without STL.

    Each estimate is (1/L) Σ_l ∇_φ [log p(x, z_l) − log q(z_l)], z_l = μ + σ ⊙ ε_l; with
    ``sticking_the_landing`` the log q term is evaluated with (μ, σ) detached, which removes the
    zero-mean score term ∂_φ log q_φ(z) at fixed z.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(*batch, D)``.
        loc: the means μ of q, shape ``(*batch, latent_dim)``.
        scale: the standard deviations σ of q, the shape of ``loc``, each ≥
            :data:`elbo_book.validation.MIN_SCALE`.
        sticking_the_landing: drop the score term (True) or keep the total gradient (False).
        n_samples: draws L per estimate, ≥ 1.
        n_estimates: independent estimates R, ≥ 1.
        generator: the random generator for ε (the global one when None).

    Returns:
        ``(grad_loc, grad_scale)``, each of shape ``(R, *loc.shape)``.

    Raises:
        ValueError: a model without ``prior()`` and ``likelihood(z)``, shapes that do not match,
            or bad counts, scales or flags.
    """
    if not isinstance(model, LatentVariableModel):
        raise ValueError("model must provide prior() and likelihood(z)")
    check_gaussian_q(x, loc, scale)
    check_bool(sticking_the_landing, "sticking_the_landing")
    check_int(n_samples, "n_samples")
    check_int(n_estimates, "n_estimates")
    loc_rep = loc.detach().expand(n_estimates, *loc.shape).clone().requires_grad_(True)
    scale_rep = scale.detach().expand(n_estimates, *scale.shape).clone().requires_grad_(True)
    eps = torch.randn(
        (n_samples, *loc_rep.shape), dtype=loc.dtype, device=loc.device, generator=generator
    )
    z = loc_rep + scale_rep * eps
    q_for_log_prob = (
        diagonal_gaussian(loc_rep.detach(), scale_rep.detach())
        if sticking_the_landing
        else diagonal_gaussian(loc_rep, scale_rep)
    )
    f = log_weights_at(model, x, z, q_for_log_prob.log_prob(z))
    grad_loc, grad_scale = torch.autograd.grad(f.mean(dim=0).sum(), (loc_rep, scale_rep))
    return grad_loc, grad_scale
