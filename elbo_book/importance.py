"""Importance weighting: the IWAE bound, the importance-sampled log p(x), and DReG gradients.

With K draws z_k ~ q(z|x) and weights w_k = p(x, z_k) / q(z_k|x),

    L_K(x) = E[ log (1/K) Σ_k w_k ] ≤ log p(x)              (Burda et al. 2016)

L_1 is the ELBO, L_K is non-decreasing in K, and the single-draw estimate log (1/K) Σ_k w_k
tends to log p(x) as K → ∞.  Everything is computed in log space with a stable log-mean-exp.

Gradients.  ``iwae_loss(..., estimator="standard")`` differentiates −L_K directly (its gradient
is −Σ_k w̃_k ∇ log w_k with normalised weights w̃_k = w_k / Σ_j w_j, which autograd produces from
the log-sum-exp — no weight is ever used as a constant by mistake).  ``estimator="dreg"``
gives the doubly reparameterised gradient of Tucker et al. (2019): log q is evaluated with the
encoder's parameters *detached* (only the path through z carries φ-gradient), the decoder gets
Σ_k w̃_k ∇_θ log w_k and the encoder gets Σ_k w̃_k² ∂ log w_k/∂z_k · ∂z_k/∂φ, with w̃ detached.
The loss *value* is −L_K in both cases; only the gradient differs.

Public API:

- :func:`log_mean_exp` — log (1/K) Σ_k exp(a_k) along a dimension, stably.
- :func:`log_importance_weights` — log w_k for K draws, shape ``(K, *batch)``.
- :func:`iwae_bound` — the K-sample bound, in chunks of draws.
- :func:`log_evidence_estimate` — the importance-sampled log p(x) without gradients, in bounded
  memory (K = 5000 by default).
- :func:`iwae_loss` — −L_K with the standard or the DReG gradient.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.distributions import Distribution, Independent, Normal

from elbo_book.models import LatentVariableModel
from elbo_book.objectives import encode_or_check
from elbo_book.validation import Reduction, check_choice, check_int, check_reduction, reduce

__all__ = [
    "iwae_bound",
    "iwae_loss",
    "log_evidence_estimate",
    "log_importance_weights",
    "log_mean_exp",
]


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log((1/K) Σ_k exp(values_k)) along ``dim`` (K = its size), via ``torch.logsumexp``."""
    if values.shape[dim] == 0:
        raise ValueError("log_mean_exp needs at least one value along dim")
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def _log_weights(
    model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor, q: Distribution
) -> torch.Tensor:
    return model.likelihood(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)


def log_importance_weights(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 1,
) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x) for z_k ~ q, shape ``(K, *batch)``."""
    check_int(n_samples, "n_samples")
    q = encode_or_check(model, x, q)
    shape = torch.Size([n_samples])
    z = q.rsample(shape) if q.has_rsample else q.sample(shape)
    return _log_weights(model, x, z, q)


def iwae_bound(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 1,
    chunk_size: int | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """log (1/K) Σ_k w_k, a single-draw estimate of L_K(x), per example then reduced.

    Draws are processed ``chunk_size`` at a time (all at once when None) and combined with a
    running log-sum-exp; without gradient tracking (``torch.no_grad()``) memory then grows with
    ``chunk_size``, not with K.  With gradients, autograd keeps every chunk's graph.
    """
    check_reduction(reduction)
    check_int(n_samples, "n_samples")
    chunk = n_samples if chunk_size is None else check_int(chunk_size, "chunk_size")
    q = encode_or_check(model, x, q)
    total: torch.Tensor | None = None
    done = 0
    while done < n_samples:
        size = min(chunk, n_samples - done)
        shape = torch.Size([size])
        z = q.rsample(shape) if q.has_rsample else q.sample(shape)
        part = torch.logsumexp(_log_weights(model, x, z, q), dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        done += size
    assert total is not None
    return reduce(total - math.log(n_samples), reduction)


def log_evidence_estimate(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 5000,
    chunk_size: int = 500,
    reduction: Reduction = "none",
) -> torch.Tensor:
    """Importance-sampled log p(x) ≈ log (1/K) Σ_k w_k with q as proposal, no gradients.

    A stochastic lower bound in expectation (Jensen) that tends to log p(x) as K grows; memory
    is bounded by ``chunk_size`` draws at a time.
    """
    with torch.no_grad():
        return iwae_bound(
            model, x, q, n_samples=n_samples, chunk_size=chunk_size, reduction=reduction
        )


def _detached_gaussian(q: Distribution) -> Independent:
    if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
        raise ValueError(
            "estimator='dreg' needs a reparameterised diagonal Gaussian q "
            f"(Independent(Normal)), got {type(q).__name__}"
        )
    base = q.base_dist
    return Independent(
        Normal(base.loc.detach(), base.scale.detach(), validate_args=False),
        q.reinterpreted_batch_ndims,
    )


def iwae_loss(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 1,
    estimator: Literal["standard", "dreg"] = "standard",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """A loss whose value is −(log (1/K) Σ_k w_k) and whose gradient is the chosen estimator's.

    ``estimator="standard"``: autograd through the log-sum-exp (Burda et al. 2016).
    ``estimator="dreg"``: the doubly reparameterised gradient (Tucker et al. 2019), see the
    module docstring; needs a diagonal Gaussian q.
    """
    check_reduction(reduction)
    check_int(n_samples, "n_samples")
    check_choice(estimator, "estimator", ("standard", "dreg"))
    q = encode_or_check(model, x, q)
    if not q.has_rsample:
        raise ValueError(f"iwae_loss needs a reparameterisable q (with rsample), got {q!r}")
    if estimator == "standard":
        z = q.rsample(torch.Size([n_samples]))
        bound = log_mean_exp(_log_weights(model, x, z, q), dim=0)
        return reduce(-bound, reduction)
    q_stopped = _detached_gaussian(q)
    z = q.rsample(torch.Size([n_samples]))
    log_w = _log_weights(model, x, z, q_stopped)  # (K, *batch)
    bound = log_mean_exp(log_w, dim=0)
    normalised = torch.softmax(log_w, dim=0).detach()
    if z.requires_grad:
        # The path gradient reaching z is Σ-weighted by w̃ below; scaling it by w̃ once more
        # gives the encoder its w̃² weights while the decoder keeps w̃.
        factor = normalised.reshape(*normalised.shape, *([1] * (z.dim() - normalised.dim())))
        z.register_hook(lambda grad: grad * factor)
    surrogate = (normalised * log_w).sum(dim=0)
    value_with_dreg_grad = bound.detach() + surrogate - surrogate.detach()
    return reduce(-value_with_dreg_grad, reduction)
