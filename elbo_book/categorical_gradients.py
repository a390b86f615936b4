"""The score-function estimator of ∇ ELBO for a discrete latent, where no reparameterisation exists.

For z ∈ {0, …, K − 1} with q(z = k) = softmax(η)_k and f(z) = log p(x, z) − log q(z), the ELBO is
E_q[f(z)] = Σ_k q_k (log p(x, k) − log q_k). A draw z cannot be written as a differentiable
function of η and of noise free of η, so the pathwise estimator does not apply; the score function
does. With L draws z_l ~ q,

    ĝ = (1/L) Σ_l (f(z_l) − b_l) ∇_η log q(z_l),   ∇_η log q(z) = onehot(z) − q,

unbiased for any baseline b_l that does not depend on z_l (b_l = 0, or the leave-one-out mean
b_l = mean_{j≠l} f(z_j), which needs L ≥ 2). :func:`exact_categorical_gradient` enumerates the K
values for the exact gradient.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "Baseline",
    "exact_categorical_gradient",
    "score_function_categorical_gradient",
]

#: The baseline of the score-function estimator, none or the leave-one-out mean.
Baseline = Literal["none", "leave_one_out"]


def _check(log_joint: torch.Tensor, logits: torch.Tensor) -> None:
    for name, t in (("log_joint", log_joint), ("logits", logits)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 1 or t.numel() < 2:
            raise ValueError(
                f"{name} must be a vector with at least 2 entries, got {tuple(t.shape)}"
            )
    if log_joint.shape != logits.shape:
        raise ValueError(f"log_joint and logits differ in shape: {log_joint.shape}, {logits.shape}")
    if not torch.isfinite(logits).all() or not torch.isfinite(log_joint).all():
        raise ValueError("log_joint and logits must be finite (every value possible under p and q)")


def exact_categorical_gradient(log_joint: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """∇_η Σ_k q_k (log p(x, k) − log q_k) with q = softmax(η), by autograd on the exact sum.

    Args:
        log_joint: log p(x, z = k) for k = 0..K−1, shape ``(K,)``, finite.
        logits: η, shape ``(K,)``, finite.

    Returns:
        The gradient, shape ``(K,)``.

    Raises:
        TypeError: an argument is not a tensor.
        ValueError: shapes that are not matching vectors of length ≥ 2, or non-finite entries.
    """
    _check(log_joint, logits)
    eta = logits.detach().clone().requires_grad_(True)
    log_q = torch.log_softmax(eta, 0)
    (grad,) = torch.autograd.grad((log_q.exp() * (log_joint.detach() - log_q)).sum(), eta)
    return grad


def score_function_categorical_gradient(
    log_joint: torch.Tensor,
    logits: torch.Tensor,
    n_samples: int,
    n_estimates: int,
    baseline: Baseline = "none",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Independent score-function estimates of ∇_η ELBO for q = Categorical(softmax(η)).

    Args:
        log_joint: log p(x, z = k), shape ``(K,)``, finite.
        logits: η, shape ``(K,)``, finite.
        n_samples: draws L per estimate, ≥ 1 (≥ 2 for the leave-one-out baseline).
        n_estimates: the number of independent estimates, ≥ 1.
        baseline: ``"none"`` (b_l = 0) or ``"leave_one_out"`` (b_l = mean_{j≠l} f(z_j)).
        generator: the random generator for the draws (the global one when None).

    Returns:
        The estimates, shape ``(n_estimates, K)``.

    Raises:
        TypeError: a tensor argument is not a tensor, or a count is not an int.
        ValueError: bad shapes or values, counts below their minimum, or an unknown baseline.
    """
    _check(log_joint, logits)
    for name, v in (("n_samples", n_samples), ("n_estimates", n_estimates)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if baseline not in ("none", "leave_one_out"):
        raise ValueError(f"baseline must be 'none' or 'leave_one_out', got {baseline!r}")
    if baseline == "leave_one_out" and n_samples < 2:
        raise ValueError(f"baseline='leave_one_out' needs n_samples >= 2, got {n_samples}")
    log_q = torch.log_softmax(logits.detach(), 0)
    probs = log_q.exp()
    draws = torch.multinomial(
        probs.expand(n_estimates, -1), n_samples, replacement=True, generator=generator
    )  # (n_estimates, L)
    f = log_joint.detach()[draws] - log_q[draws]
    if baseline == "leave_one_out":
        f = f - (f.sum(dim=1, keepdim=True) - f) / (n_samples - 1)
    score = torch.nn.functional.one_hot(draws, probs.numel()).to(probs.dtype) - probs
    return (f.unsqueeze(-1) * score).mean(dim=1)
