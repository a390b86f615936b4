"""Minibatch estimators of the β-TCVAE terms, and the tools that expose their biases.

Setting as :mod:`elbo_book.surgery`: N Gaussian encoders q(z|n), the aggregate posterior
q(z) = (1/N) Σ_n q(z|n) with marginals q(z_j), a prior p(z) = N(0, I).  A minibatch of B
indices n_1..n_B is drawn uniformly without replacement, with z_i ~ q(z|n_i), and a weight
matrix w (:func:`elbo_book.surgery.minibatch_weights`, or :func:`index_bug_mss_weights`)
gives the estimates

    log q̂(z_i)  = log Σ_k w_ik q(z_i | n_k),      log q̂(z_ij) = log Σ_k w_ik q(z_ij | n_k),

plugged into the three terms of Chen et al. (2018):

    𝕀(n; z) ≈ mean_i [log q(z_i|n_i) − log q̂(z_i)],
    TC       ≈ mean_i [log q̂(z_i) − Σ_j log q̂(z_ij)],
    DWKL     ≈ mean_i Σ_j [log q̂(z_ij) − log p(z_ij)].

Minibatch weighted sampling (w = 1/(N B)) underestimates each density by a factor ≈ N once the
batch is large enough that Σ_k q(z|n_k)/B ≈ q(z): log q̂(z) ≈ log q(z) − log N for the joint
and for each of the d marginals, so its TC estimate is ≈ TC + (d − 1) log N.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch.distributions import Normal

from elbo_book.validation import check_int, check_scale, check_tensor

__all__ = [
    "MinibatchTerms",
    "expected_minibatch_density",
    "index_bug_mss_weights",
    "minibatch_kl_terms",
]

#: The largest number of ordered batches :func:`expected_minibatch_density` enumerates.
MAX_ENUMERATED_BATCHES = 200_000


def index_bug_mss_weights(
    batch_size: int, dataset_size: int, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """The MSS weight matrix with the index bug of widely copied β-TCVAE code, shape ``(B, B)``.

    With M = B − 1, the construction fills the matrix with 1/M and then writes 1/N and the
    stratified weight (N − M)/(N M) through the flattened matrix with a stride of M + 1 = B
    (not B + 1), which walks down column 0 (respectively column 1) instead of the diagonal,
    and finally sets entry (M − 1, 0) to the stratified weight.  Only row 0 equals
    :func:`elbo_book.surgery.minibatch_weights` ``(B, N, "mss")``; the other rows give the own
    encoder 1/M instead of 1/N, so the estimate of q(z_i) is biased.  Use it only to reproduce
    that bug.

    Args:
        batch_size: B ≥ 3 (for B = 2 the flattened writes overlap the other row).
        dataset_size: N ≥ B.
        dtype: the floating dtype of the result.

    Returns:
        The ``(B, B)`` matrix.

    Raises:
        ValueError: a bad argument.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    batch_size = check_int(batch_size, "batch_size", minimum=3)
    dataset_size = check_int(dataset_size, "dataset_size")
    if dataset_size < batch_size:
        raise ValueError(
            f"dataset_size must be >= batch_size, got dataset_size={dataset_size} < "
            f"batch_size={batch_size}"
        )
    n, m = dataset_size, batch_size - 1
    weights = torch.full((batch_size, batch_size), 1.0 / m, dtype=dtype)
    flat = weights.view(-1)
    flat[:: m + 1] = 1.0 / n
    flat[1 :: m + 1] = (n - m) / (n * m)
    weights[m - 1, 0] = (n - m) / (n * m)
    return weights


def expected_minibatch_density(weights: torch.Tensor, densities: torch.Tensor) -> torch.Tensor:
    """E[Σ_k w_ik q(z|n_k) | n_i = n] for every row i and data point n, by enumeration.

    ``densities[n]`` = q(z|n) at one fixed point z, for the N data points.  Every ordered batch
    (n_1..n_B) of distinct indices is equally likely; for each (i, n) the estimate is averaged
    over the batches with n_i = n.  An unbiased weight matrix gives q(z) = mean(densities) in
    every entry.

    Args:
        weights: the ``(B, B)`` weight matrix, B ≥ 1.
        densities: the N ≥ B values q(z|n), shape ``(N,)``, non-negative.

    Returns:
        Shape ``(B, N)``: entry (i, n) is the conditional expectation, in float64.

    Raises:
        ValueError: bad shapes, negative densities, or more than
            ``MAX_ENUMERATED_BATCHES`` ordered batches.
    """
    check_tensor(weights, "weights", ndim=2)
    check_tensor(densities, "densities", ndim=1)
    b = weights.shape[0]
    n = densities.shape[0]
    if weights.shape != (b, b) or b == 0:
        raise ValueError(f"weights must be a non-empty square matrix, got {tuple(weights.shape)}")
    if n < b:
        raise ValueError(f"need at least B = {b} densities, got {n}")
    if bool((densities < 0).any()):
        raise ValueError("densities must be non-negative")
    count = math.perm(n, b)
    if count > MAX_ENUMERATED_BATCHES:
        raise ValueError(
            f"{count} ordered batches of {b} from {n} points exceed the limit "
            f"{MAX_ENUMERATED_BATCHES}; enumerate a smaller example"
        )
    batches = torch.tensor(list(itertools.permutations(range(n), b)), dtype=torch.long)
    estimates = densities.double()[batches] @ weights.double().T  # (batches, B): row i's estimate
    totals = torch.zeros(b, n, dtype=torch.float64)
    for i in range(b):
        totals[i].index_add_(0, batches[:, i], estimates[:, i])
    return totals / (count / n)  # each (i, n) occurs in count / N batches


@dataclass(frozen=True)
class MinibatchTerms:
    """Minibatch estimates of 𝕀(n; z), the total correlation and the dimension-wise KL (nats).

    Attributes:
        mutual_information: mean_i [log q(z_i|n_i) − log q̂(z_i)].
        total_correlation: mean_i [log q̂(z_i) − Σ_j log q̂(z_ij)].
        dimensionwise_kl: mean_i Σ_j [log q̂(z_ij) − log p(z_ij)], p = N(0, 1).
    """

    mutual_information: torch.Tensor
    total_correlation: torch.Tensor
    dimensionwise_kl: torch.Tensor


def minibatch_kl_terms(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, weights: torch.Tensor
) -> MinibatchTerms:
    """The three β-TCVAE terms of one minibatch with weight matrix ``weights``; differentiable.

    Row i of ``z``, ``loc`` and ``scale`` is the draw from, and the parameters of, the encoder
    of batch member i.  With log q̂ as in the module docstring (weights w_ik on q(· | n_k)),
    returns the means over the batch of log q(z_i|n_i) − log q̂(z_i),
    log q̂(z_i) − Σ_j log q̂(z_ij) and Σ_j [log q̂(z_ij) − log N(z_ij; 0, 1)].  The three add
    up to mean_i [log q(z_i|n_i) − log p(z_i)] for any weights.

    Args:
        z: the draws, shape ``(B, d)``.
        loc: the batch members' encoder means, shape ``(B, d)``.
        scale: their standard deviations, shape ``(B, d)``.
        weights: the ``(B, B)`` weights, positive.

    Returns:
        The :class:`MinibatchTerms` (0-dimensional tensors).

    Raises:
        ValueError: shapes disagree, a tensor is not finite, or a weight is not positive.
    """
    check_tensor(loc, "loc", ndim=2)
    check_scale(scale, "scale", ndim=2)
    check_tensor(z, "z", ndim=2)
    check_tensor(weights, "weights", ndim=2)
    b, d = loc.shape
    if z.shape != (b, d) or scale.shape != (b, d) or b == 0 or d == 0:
        raise ValueError(
            "z, loc and scale must all have the same non-empty shape (B, d), got "
            f"{tuple(z.shape)}, {tuple(loc.shape)} and {tuple(scale.shape)}"
        )
    if weights.shape != (b, b):
        raise ValueError(f"weights must have shape ({b}, {b}), got {tuple(weights.shape)}")
    if not bool((weights > 0).all()):
        raise ValueError("weights must be positive")
    log_w = weights.to(z.dtype).log()
    log_q = Normal(loc.unsqueeze(0), scale.unsqueeze(0), validate_args=False).log_prob(
        z.unsqueeze(1)
    )  # (B, B, d): log q(z_ij | n_k) at [i, k, j]
    log_q_joint = torch.logsumexp(log_q.sum(dim=-1) + log_w, dim=1)  # (B,)
    log_q_marginals = torch.logsumexp(log_q + log_w.unsqueeze(-1), dim=1)  # (B, d)
    log_q_own = torch.diagonal(log_q.sum(dim=-1))  # log q(z_i | n_i)
    log_prior = Normal(0.0, 1.0).log_prob(z)
    return MinibatchTerms(
        mutual_information=(log_q_own - log_q_joint).mean(),
        total_correlation=(log_q_joint - log_q_marginals.sum(dim=-1)).mean(),
        dimensionwise_kl=(log_q_marginals - log_prior).sum(dim=-1).mean(),
    )
