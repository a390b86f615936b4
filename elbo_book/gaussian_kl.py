"""The KL divergence between two isotropic Gaussians in d dimensions, in closed form.

For q = N(μ_q, s_q² I_d) and p = N(μ_p, s_p² I_d) the general Gaussian KL,
½ [tr(Σ_p⁻¹ Σ_q) + (μ_q − μ_p)ᵀ Σ_p⁻¹ (μ_q − μ_p) − d + log(det Σ_p / det Σ_q)], has every term
in closed form: tr(Σ_p⁻¹ Σ_q) = d s_q²/s_p² and log(det Σ_p / det Σ_q) = d log(s_p²/s_q²).
Chapter 5 uses it to correct a source that writes the KL as proportional to
log(det Σ_q / det Σ_p) (:func:`isotropic_gaussian_kl` is tested against
``torch.distributions.kl_divergence``).
"""

from __future__ import annotations

import torch

from elbo_book.validation import check_tensor

__all__ = ["isotropic_gaussian_kl"]


def isotropic_gaussian_kl(
    mu_q: torch.Tensor, var_q: torch.Tensor, mu_p: torch.Tensor, var_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(μ_q, s_q² I_d) ‖ N(μ_p, s_p² I_d)), in closed form:

        ½ [d s_q²/s_p² + ‖μ_q − μ_p‖²/s_p² − d + d log(s_p²/s_q²)].

    Args:
        mu_q: the means of q, shape ``(..., d)``.
        var_q: the scalar variances s_q² > 0, shape ``(...)`` or broadcastable to it.
        mu_p: the means of p, shape ``(..., d)``.
        var_p: the scalar variances s_p² > 0, shape ``(...)`` or broadcastable to it.

    Returns:
        One KL per batch element, shape ``(...)``.

    Raises:
        ValueError: a tensor is not finite floating point, a variance is not positive, or the
            dimensions d differ.
    """
    check_tensor(mu_q, "mu_q", min_ndim=1)
    check_tensor(mu_p, "mu_p", min_ndim=1)
    for name, var in (("var_q", var_q), ("var_p", var_p)):
        check_tensor(var, name)
        if not bool((var > 0).all()):
            raise ValueError(f"{name} must be > 0 everywhere (a variance)")
    if mu_q.shape[-1] != mu_p.shape[-1]:
        raise ValueError(
            "mu_q and mu_p must have the same dimension d, "
            f"got {mu_q.shape[-1]} and {mu_p.shape[-1]}"
        )
    d = mu_q.shape[-1]
    squared_distance = ((mu_q - mu_p) ** 2).sum(dim=-1)
    return 0.5 * (d * var_q / var_p + squared_distance / var_p - d + d * torch.log(var_p / var_q))
