"""ELBO surgery: the aggregate posterior, the index-code mutual information, and their estimators.

Setting (Hoffman & Johnson 2016).  A data set x_1..x_N, a Gaussian encoder
q(z|n) ≡ q_φ(z|x_n) = N(z; μ_n, diag σ_n²), a uniform index distribution q(n) = 1/N, the joint
q(n, z) = q(n) q(z|n), the *aggregate posterior* and the *index posterior*

    q(z) = (1/N) Σ_n q(z|n),            q(n|z) = q(z|n) / (N q(z)).

Then (1/N) Σ_n KL(q(z|n) ‖ p(z)) = 𝕀_q(n; z) + KL(q(z) ‖ p(z)), with
𝕀_q(n; z) = E_{q(n,z)}[log q(z|n) − log q(z)] = log N − E_{q(z)} ℍ[q(n|z)] ≤ log N.
With a factorised prior p(z) = Π_j p(z_j), the β-TCVAE split (Chen et al. 2018) refines the
marginal KL into a total correlation and dimension-wise KLs:

    KL(q(z) ‖ p(z)) = KL(q(z) ‖ Π_j q(z_j)) + Σ_j KL(q(z_j) ‖ p(z_j)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch.distributions import Independent, Normal, kl_divergence
from tqdm import tqdm

from elbo_book.models import LatentVariableModel
from elbo_book.validation import (
    check_bool,
    check_choice,
    check_generator,
    check_int,
    check_scale,
    check_tensor,
)

__all__ = [
    "KLDecomposition",
    "SurgeryTerms",
    "encode_gaussian",
    "kl_decomposition",
    "log_aggregate_marginals",
    "log_aggregate_posterior",
    "minibatch_log_aggregate_posterior",
    "minibatch_weights",
    "surgery_terms",
]

Method = Literal["mws", "mss", "equal"]

_LOG_2PI = math.log(2.0 * math.pi)
#: Bounds on the rounding error (nats) of the expanded quadratic form of
#: :func:`log_aggregate_posterior`: above the first, float32/float16 inputs are computed in
#: float64; above the second, float64 uses the direct form.
_LOW_PRECISION_TOLERANCE = 1e-3
_EXPANSION_TOLERANCE = 1e-6


def _check_encoders(loc: torch.Tensor, scale: torch.Tensor) -> None:
    check_tensor(loc, "loc", ndim=2)
    check_scale(scale, "scale", ndim=2)
    if loc.shape != scale.shape:
        raise ValueError(
            f"loc and scale must both have shape (N, latent_dim), got {tuple(loc.shape)} "
            f"and {tuple(scale.shape)}"
        )
    if loc.shape[0] == 0 or loc.shape[1] == 0:
        raise ValueError(
            "loc and scale must describe at least one encoder of at least one coordinate "
            f"(N >= 1, latent_dim >= 1), got shape {tuple(loc.shape)}"
        )
    if loc.device != scale.device:
        raise ValueError(f"loc is on {loc.device} but scale on {scale.device}")


def _check_queries(z: torch.Tensor, latent_dim: int, device: torch.device) -> None:
    check_tensor(z, "z", min_ndim=1, last_dim=latent_dim)
    if z.device != device:
        raise ValueError(f"z is on {z.device} but loc and scale on {device}")


def log_aggregate_posterior(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, *, chunk_size: int = 256
) -> torch.Tensor:
    """Exact log q(z) = log (1/N) Σ_n N(z; μ_n, diag σ_n²) per query z, shape ``z.shape[:-1]``.

    ``loc`` and ``scale`` have shape ``(N, d)``; ``z`` has shape ``(..., d)``.  With precisions
    P_n = σ_n⁻², the log-density is expanded as

        log N(z; μ_n, σ_n) = Σ_j [−½ P_nj z_j² + P_nj μ_nj z_j] + c_n,
        c_n = −½ Σ_j P_nj μ_nj² − Σ_j log σ_nj − (d/2) log 2π,

    so a chunk of queries costs one ``(chunk, 2d) × (2d, N)`` matrix product plus a
    log-sum-exp over N; memory is O(chunk_size · N), never O(M · N).  Differentiable.  Queries
    and means are first shifted by the mean of ``loc`` (which leaves z − μ_n unchanged) to limit
    cancellation.

    Precision.  The expansion cancels terms of size P · z², so its rounding error is bounded
    by ε · max P · max ‖z − shift‖² with ε the dtype's machine epsilon.  Inputs in float32 (or
    lower) are computed in their own dtype while that bound is below 10⁻³ nats and in float64
    otherwise (small scales: float32 with σ = 10⁻⁴ would lose everything); the result is
    returned in the inputs' common dtype.  When even float64's bound exceeds 10⁻⁶ nats (scales
    far below the spread of the means), each chunk is computed in the direct form
    Σ_j P_nj (z_j − μ_nj)² instead (memory O(chunk_size · N · d)).

    Args:
        z: queries, shape ``(..., d)``, finite.
        loc: encoder means μ_n, shape ``(N, d)``, N ≥ 1.
        scale: encoder standard deviations σ_n, shape ``(N, d)``, each ≥
            :data:`elbo_book.validation.MIN_SCALE`.
        chunk_size: queries per chunk, ≥ 1.

    Returns:
        log q(z), shape ``z.shape[:-1]``, in the common dtype of the inputs.

    Raises:
        ValueError: a tensor is not finite floating point, shapes or devices disagree, or a
            scale is below the floor.
    """
    _check_encoders(loc, scale)
    _check_queries(z, loc.shape[1], loc.device)
    chunk_size = check_int(chunk_size, "chunk_size")
    return _log_aggregate_posterior(z, loc, scale, chunk_size, progress=False)


def _log_aggregate_posterior(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, chunk_size: int, *, progress: bool
) -> torch.Tensor:
    """:func:`log_aggregate_posterior` on checked inputs, with an optional progress bar."""
    out_dtype = torch.promote_types(torch.promote_types(z.dtype, loc.dtype), scale.dtype)
    n, d = loc.shape
    if z.numel() == 0:
        return torch.empty(z.shape[:-1], dtype=out_dtype, device=z.device)
    with torch.no_grad():  # the error bound (an overflow to inf just selects float64)
        centre = loc.mean(dim=0)
        spread = max(
            float((z.reshape(-1, d) - centre).square().sum(dim=1).amax()),
            float((loc - centre).square().sum(dim=1).amax()),
        )
        largest = spread / float(scale.amin()) ** 2
    low_precision_ok = largest * torch.finfo(out_dtype).eps <= _LOW_PRECISION_TOLERANCE
    dtype = out_dtype if out_dtype == torch.float64 or low_precision_ok else torch.float64
    z, loc, scale = z.to(dtype), loc.to(dtype), scale.to(dtype)
    shift = loc.mean(dim=0)
    mu = loc - shift
    precision = scale.pow(-2)
    queries = (z - shift).reshape(-1, d)
    out = torch.empty(queries.shape[0], dtype=dtype, device=z.device)
    bar = tqdm(total=queries.shape[0], disable=not progress, desc="log q(z)", unit="query")
    if dtype == torch.float64 and largest * torch.finfo(dtype).eps > _EXPANSION_TOLERANCE:
        normaliser = -scale.log().sum(dim=1) - 0.5 * d * _LOG_2PI - math.log(n)  # (N,)
        rows = max(1, chunk_size // d)
        for start in range(0, queries.shape[0], rows):
            chunk = queries[start : start + rows]
            squared = ((chunk.unsqueeze(1) - mu).square() * precision).sum(dim=-1)  # (rows, N)
            out[start : start + rows] = _log_sum_exp_rows(normaliser - 0.5 * squared)
            bar.update(chunk.shape[0])
        bar.close()
        return out.reshape(z.shape[:-1]).to(out_dtype)
    weights = torch.cat([-0.5 * precision, precision * mu], dim=1).T.contiguous()  # (2d, N)
    bias = (
        -0.5 * (precision * mu.square()).sum(dim=1)
        - scale.log().sum(dim=1)
        - 0.5 * d * _LOG_2PI
        - math.log(n)
    )  # (N,)
    for start in range(0, queries.shape[0], chunk_size):
        chunk = queries[start : start + chunk_size]
        logits = torch.addmm(bias, torch.cat([chunk.square(), chunk], dim=1), weights)
        out[start : start + chunk_size] = _log_sum_exp_rows(logits)
        del logits  # free this chunk's buffer before the next one is allocated
        bar.update(chunk.shape[0])
    bar.close()
    return out.reshape(z.shape[:-1]).to(out_dtype)


def _log_sum_exp_rows(logits: torch.Tensor) -> torch.Tensor:
    """log Σ_n exp(logits[:, n]) per row, with exponents clamped below at ½ log(tiny).

    Inputs near or below the underflow threshold make CPU ``exp`` many times slower, and most
    pairs of a trained encoder lie hundreds of nats below the row maximum.  Clamping changes
    the sum by at most N · √tiny relative to its largest term (≈ 10⁻¹⁴ for N = 60,000 in
    float32, below rounding).  Overwrites ``logits`` when autograd is not recording.
    """
    top = logits.amax(dim=1, keepdim=True)
    lowest = 0.5 * math.log(torch.finfo(logits.dtype).tiny)
    if logits.requires_grad:
        weights = (logits - top).clamp(min=lowest).exp()
    else:
        weights = logits.sub_(top).clamp_(min=lowest).exp_()
    return weights.sum(dim=1).log() + top.squeeze(1)


def log_aggregate_marginals(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, *, chunk_size: int = 256
) -> torch.Tensor:
    """Exact log q(z_j) = log (1/N) Σ_n N(z_j; μ_nj, σ_nj²) per coordinate j, shape ``z.shape``.

    Each coordinate's marginal of the aggregate posterior is itself a mixture of N
    one-dimensional Gaussians; see :func:`log_aggregate_posterior` for shapes, precision and
    memory.

    Args:
        z: queries, shape ``(..., d)``.
        loc: encoder means, shape ``(N, d)``.
        scale: encoder standard deviations, shape ``(N, d)``.
        chunk_size: queries per chunk, ≥ 1.

    Returns:
        log q(z_j) for every coordinate, shape ``z.shape``.

    Raises:
        ValueError: as :func:`log_aggregate_posterior`.
    """
    _check_encoders(loc, scale)
    _check_queries(z, loc.shape[1], loc.device)
    columns = [
        log_aggregate_posterior(
            z[..., j : j + 1], loc[:, j : j + 1], scale[:, j : j + 1], chunk_size=chunk_size
        )
        for j in range(loc.shape[1])
    ]
    return torch.stack(columns, dim=-1)


def minibatch_weights(
    batch_size: int,
    dataset_size: int,
    method: Method = "mss",
    *,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The ``(B, B)`` weights w_ij with log q(z_i) ≈ log Σ_j w_ij q(z_i | n_j) (Chen et al. 2018).

    - ``"mws"`` (minibatch weighted sampling): w_ij = 1 / (N B) for all i, j, as published.
    - ``"mss"`` (minibatch stratified sampling, Chen et al.'s weights): with M = B − 1 other
      batch members, w_ii = 1/N (z_i was drawn from q(z|n_i) itself), one other entry per row,
      w_{i,(i+1) mod B} = (N − M) / (N M), and w_ij = 1/M elsewhere.  Each row sums to 1.
    - ``"equal"`` (equal off-diagonal weights): w_ii = 1/N and w_ij = (N − 1) / (N M) for
      j ≠ i.  Each row sums to 1, and for B = N every weight is 1/N, so the estimate is q(z_i)
      exactly.

    For a batch drawn uniformly without replacement, E[Σ_j w_ij q(z|n_j) | n_i] = q(z) for MSS
    and for equal weights and every z (any off-diagonal weights summing to (N − 1)/N are
    unbiased, since each other member is uniform over the other N − 1 points); MWS's expectation
    is (q(z|n_i) + (B − 1) q_{−i}(z)) / (N B) with q_{−i} the mixture of the other N − 1
    encoders, which is not q(z).

    Args:
        batch_size: the minibatch size B (≥ 2 for MSS and equal weights, ≥ 1 for MWS).
        dataset_size: the data set size N ≥ B.
        method: ``"mss"``, ``"equal"`` or ``"mws"``.
        dtype: the floating dtype of the result.

    Returns:
        The ``(B, B)`` weight matrix.

    Raises:
        ValueError: a bad argument.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    check_choice(method, "method", ("mws", "mss", "equal"))
    batch_size = check_int(batch_size, "batch_size", minimum=1 if method == "mws" else 2)
    dataset_size = check_int(dataset_size, "dataset_size")
    if dataset_size < batch_size:
        raise ValueError(
            f"dataset_size must be >= batch_size (a minibatch is drawn without replacement), "
            f"got dataset_size={dataset_size} < batch_size={batch_size}"
        )
    n = dataset_size
    if method == "mws":
        return torch.full((batch_size, batch_size), 1.0 / (n * batch_size), dtype=dtype)
    m = batch_size - 1
    rows = torch.arange(batch_size)
    if method == "equal":
        weights = torch.full((batch_size, batch_size), (n - 1) / (n * m), dtype=dtype)
        weights[rows, rows] = 1.0 / n
        return weights
    weights = torch.full((batch_size, batch_size), 1.0 / m, dtype=dtype)
    weights[rows, (rows + 1) % batch_size] = (n - m) / (n * m)
    weights[rows, rows] = 1.0 / n
    return weights


def minibatch_log_aggregate_posterior(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    dataset_size: int,
    method: Method = "mss",
    per_dimension: bool = False,
) -> torch.Tensor:
    """MWS or MSS estimate of log q(z_i) for z_i ~ q(z|n_i), from one minibatch; shape ``(B,)``.

    ``z``, ``loc`` and ``scale`` have shape ``(B, d)``: row i is a draw from, and the parameters
    of, the encoder of the i-th batch member; the batch is drawn without replacement from a data
    set of ``dataset_size`` points.  The estimate is log Σ_j w_ij q(z_i|n_j) with the weights of
    :func:`minibatch_weights`; ``per_dimension=True`` instead estimates every log q(z_ij) of the
    aggregate marginals (shape ``(B, d)``), as the β-TCVAE objective needs.  Differentiable.

    Args:
        z: the draws, shape ``(B, d)``.
        loc: the batch members' encoder means, shape ``(B, d)``.
        scale: their standard deviations, shape ``(B, d)``.
        dataset_size: the data set size N ≥ B.
        method: ``"mss"`` (default), ``"equal"`` or ``"mws"``.
        per_dimension: whether to estimate every log q(z_ij) instead of log q(z_i) (a bool).

    Returns:
        Shape ``(B,)``, or ``(B, d)`` with ``per_dimension``.

    Raises:
        ValueError: a bad argument.
    """
    _check_encoders(loc, scale)
    per_dimension = check_bool(per_dimension, "per_dimension")
    check_tensor(z, "z", ndim=2, last_dim=loc.shape[1])
    if z.shape[0] != loc.shape[0]:
        raise ValueError(
            f"z must have one row per batch member: got {z.shape[0]} rows for "
            f"{loc.shape[0]} encoders"
        )
    log_w = minibatch_weights(loc.shape[0], dataset_size, method, dtype=z.dtype).log()
    log_q = Normal(loc.unsqueeze(0), scale.unsqueeze(0), validate_args=False).log_prob(
        z.unsqueeze(1)
    )  # (B, B, d): log q(z_ij | n_k) at [i, k, j]
    if per_dimension:
        return torch.logsumexp(log_q + log_w.unsqueeze(-1), dim=1)
    return torch.logsumexp(log_q.sum(dim=-1) + log_w, dim=1)


def _gaussian_parts(q: object) -> tuple[torch.Tensor, torch.Tensor]:
    if (
        not isinstance(q, Independent)
        or not isinstance(q.base_dist, Normal)
        or q.reinterpreted_batch_ndims != 1
    ):
        raise ValueError(
            "the model's encode(x) must return Independent(Normal(loc, scale), 1) "
            f"(a diagonal Gaussian), got {type(q).__name__}"
        )
    return q.base_dist.loc, q.base_dist.scale


@torch.no_grad()
def encode_gaussian(
    model: LatentVariableModel, x: torch.Tensor, *, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Means μ_n and scales σ_n of a diagonal-Gaussian encoder over ``x`` of shape ``(N, D)``.

    Args:
        model: a model with ``encode(x)`` returning ``Independent(Normal, 1)``.
        x: the data set, shape ``(N, D)``, N ≥ 1.
        batch_size: examples per encoder pass, ≥ 1.

    Returns:
        ``(loc, scale)``, each of shape ``(N, latent_dim)``.

    Raises:
        ValueError: a bad argument, no encoder, or a non-Gaussian one.
    """
    check_tensor(x, "x", ndim=2)
    if x.shape[0] == 0:
        raise ValueError("x must contain at least one data point, got shape (0, ...)")
    batch_size = check_int(batch_size, "batch_size")
    encode = getattr(model, "encode", None)
    if not callable(encode):
        raise ValueError(f"{type(model).__name__} has no encode(x); an encoder is needed")
    parts = [_gaussian_parts(encode(batch)) for batch in x.split(batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _draw(
    loc: torch.Tensor, scale: torch.Tensor, n_samples: int, generator: torch.Generator | None
) -> torch.Tensor:
    noise = torch.randn(
        (n_samples, *loc.shape), generator=generator, dtype=loc.dtype, device=loc.device
    )
    return loc + scale * noise  # (S, N, d): z[s, n] ~ q(z|n)


@dataclass(frozen=True)
class KLDecomposition:
    """The average KL split into three parts (nats per example), with p(z) = N(0, I).

    average_kl = mutual_information + total_correlation + dimensionwise_kl, where
    ``average_kl`` = (1/N) Σ_n KL(q(z|n) ‖ p(z)) is analytic and the three parts are Monte Carlo
    averages over the same draws z ~ q(z|n) with exact log q(z) and log q(z_j).

    The standard errors are those of the Monte Carlo averages, s / √(N·S) with s the sample
    standard deviation of the N·S integrands (the draws are independent given the encoders; the
    exact log q(z) adds no noise).

    Attributes:
        mutual_information: 𝕀_q(n; z), between 0 and log N.
        total_correlation: KL(q(z) ‖ Π_j q(z_j)).
        dimensionwise_kl: Σ_j KL(q(z_j) ‖ p(z_j)).
        average_kl: (1/N) Σ_n KL(q(z|n) ‖ p(z)).
        mutual_information_se: the standard error of ``mutual_information``.
        total_correlation_se: the standard error of ``total_correlation``.
        dimensionwise_kl_se: the standard error of ``dimensionwise_kl``.
    """

    mutual_information: float
    total_correlation: float
    dimensionwise_kl: float
    average_kl: float
    mutual_information_se: float
    total_correlation_se: float
    dimensionwise_kl_se: float

    @property
    def total(self) -> float:
        """mutual_information + total_correlation + dimensionwise_kl (≈ average_kl)."""
        return self.mutual_information + self.total_correlation + self.dimensionwise_kl


@torch.no_grad()
def kl_decomposition(
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    n_samples: int = 16,
    generator: torch.Generator | None = None,
    chunk_size: int = 256,
) -> KLDecomposition:
    """𝕀_q(n; z), TC = KL(q(z) ‖ Π_j q(z_j)) and Σ_j KL(q(z_j) ‖ p(z_j)) for p(z) = N(0, I).

    With ``n_samples`` = S draws z ~ q(z|n) per data point, each term is the average over the
    N·S draws of, respectively, log q(z|n) − log q(z), log q(z) − Σ_j log q(z_j) and
    Σ_j [log q(z_j) − log p(z_j)]; the three integrands telescope to log q(z|n) − log p(z).
    Each comes with its Monte Carlo standard error (NaN when N·S = 1).
    Computed in float64; the draws are z = μ + σ ⊙ ε with
    ε = ``torch.randn((S, N, d), generator=generator, dtype=torch.float64)``.

    Args:
        loc: encoder means, shape ``(N, d)``, N ≥ 1.
        scale: encoder standard deviations, shape ``(N, d)``, each ≥
            :data:`elbo_book.validation.MIN_SCALE`.
        n_samples: draws S per data point, ≥ 1.
        generator: a ``torch.Generator`` for ε, or None for torch's global one.
        chunk_size: queries per chunk of the exact aggregate posterior, ≥ 1.

    Returns:
        The :class:`KLDecomposition` (Python floats).

    Raises:
        ValueError: a bad argument.
    """
    _check_encoders(loc, scale)
    n_samples = check_int(n_samples, "n_samples")
    check_generator(generator)
    loc, scale = loc.double(), scale.double()
    z = _draw(loc, scale, n_samples, generator)
    log_q_cond = Independent(Normal(loc, scale), 1).log_prob(z)  # (S, N)
    log_qz = log_aggregate_posterior(z, loc, scale, chunk_size=chunk_size)
    log_marginals = log_aggregate_marginals(z, loc, scale, chunk_size=chunk_size).sum(dim=-1)
    log_prior = Normal(0.0, 1.0).log_prob(z).sum(dim=-1)
    prior = Independent(Normal(torch.zeros_like(loc), torch.ones_like(scale)), 1)
    average_kl = kl_divergence(Independent(Normal(loc, scale), 1), prior).mean()
    parts = [log_q_cond - log_qz, log_qz - log_marginals, log_marginals - log_prior]
    means = [float(p.mean()) for p in parts]
    count = parts[0].numel()
    errors = [float(p.std()) / math.sqrt(count) if count > 1 else math.nan for p in parts]
    return KLDecomposition(
        mutual_information=means[0],
        total_correlation=means[1],
        dimensionwise_kl=means[2],
        average_kl=float(average_kl),
        mutual_information_se=errors[0],
        total_correlation_se=errors[1],
        dimensionwise_kl_se=errors[2],
    )


@dataclass(frozen=True)
class SurgeryTerms:
    """ELBO surgery of one model on one data set, in nats per example (Hoffman & Johnson 2016).

    ``elbo`` = ``reconstruction`` − ``average_kl``, and
    ``average_kl`` = ``mutual_information`` + ``marginal_kl`` up to Monte Carlo error, with
    0 ≤ ``mutual_information`` ≤ ``log_n`` = log N.

    Attributes:
        elbo: the 1/N-averaged ELBO.
        reconstruction: (1/N) Σ_n E_{q(z|n)}[log p(x_n|z)].
        average_kl: (1/N) Σ_n KL(q(z|n) ‖ p(z)).
        mutual_information: 𝕀_q(n; z).
        marginal_kl: KL(q(z) ‖ p(z)).
        log_n: log N.
    """

    elbo: float
    reconstruction: float
    average_kl: float
    mutual_information: float
    marginal_kl: float
    log_n: float

    @property
    def identity_gap(self) -> float:
        """The difference average_kl − (mutual_information + marginal_kl), zero in exact math."""
        return self.average_kl - (self.mutual_information + self.marginal_kl)


@torch.no_grad()
def surgery_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    *,
    n_samples: int = 16,
    generator: torch.Generator | None = None,
    batch_size: int = 1024,
    chunk_size: int = 256,
    progress: bool = False,
) -> SurgeryTerms:
    """The averaged ELBO of ``model`` on the N rows of ``x``, split three ways.

    - ``reconstruction`` = (1/N) Σ_n E_{q(z|n)}[log p(x_n|z)], Monte Carlo with ``n_samples``
      draws per point;
    - ``average_kl`` = (1/N) Σ_n KL(q(z|n) ‖ p(z)), analytic; ``elbo`` = reconstruction −
      average_kl (the 1/N-averaged ELBO, a lower bound on (1/N) log p_θ(x_1..x_N));
    - ``mutual_information`` = E_{q(n,z)}[log q(z|n) − log q(z)] and
      ``marginal_kl`` = E_{q(z)}[log q(z) − log p(z)], Monte Carlo over the same draws with the
      exact aggregate posterior of :func:`log_aggregate_posterior` (float64);
    - ``log_n`` = log N, the largest possible 𝕀(n; z).

    The encoder must return ``Independent(Normal, 1)``; the prior may be any distribution with
    an analytic KL from that encoder.  With N = 1 the aggregate posterior is the one encoder, so
    𝕀(n; z) = 0 and KL(q(z) ‖ p(z)) = average_kl exactly, and those are returned (no Monte Carlo
    noise that could make the marginal KL negative).

    Args:
        model: a model with ``prior()``, ``likelihood(z)`` and a Gaussian ``encode(x)``.
        x: the data set, shape ``(N, D)``, N ≥ 1.
        n_samples: draws per data point, ≥ 1.
        generator: a ``torch.Generator`` for the draws, or None for torch's global one.
        batch_size: examples per encoder and decoder pass, ≥ 1.
        chunk_size: queries per chunk of the exact aggregate posterior, ≥ 1.
        progress: whether to show a progress bar over the N · n_samples queries of the
            aggregate posterior (the slow part: O(N² · n_samples · d)).

    Returns:
        The :class:`SurgeryTerms` (Python floats, nats per example).

    Raises:
        ValueError: a bad argument.
    """
    check_tensor(x, "x", ndim=2)
    n_samples = check_int(n_samples, "n_samples")
    batch_size = check_int(batch_size, "batch_size")
    chunk_size = check_int(chunk_size, "chunk_size")
    check_generator(generator)
    progress = check_bool(progress, "progress")
    n = x.shape[0]
    if n == 0:
        raise ValueError("x must contain at least one data point")
    loc, scale = encode_gaussian(model, x, batch_size=batch_size)
    z = _draw(loc.double(), scale.double(), n_samples, generator)  # (S, N, d)
    prior = model.prior()
    reconstruction = torch.zeros((), dtype=torch.float64)
    for start in range(0, n, batch_size):
        rows = slice(start, start + batch_size)
        z_batch = z[:, rows].to(loc.dtype)
        reconstruction += model.likelihood(z_batch).log_prob(x[rows]).double().sum() / n_samples
    encoder = Independent(Normal(loc, scale), 1)
    average_kl = kl_divergence(encoder, prior).double().mean()
    log_q_cond = Independent(Normal(loc.double(), scale.double()), 1).log_prob(z)
    log_qz = _log_aggregate_posterior(
        z, loc.double(), scale.double(), chunk_size, progress=progress
    )
    log_pz = prior.log_prob(z.to(loc.dtype)).double()
    reconstruction_mean = float(reconstruction / n)
    mutual_information = 0.0 if n == 1 else float((log_q_cond - log_qz).mean())
    marginal_kl = float(average_kl) if n == 1 else float((log_qz - log_pz).mean())
    return SurgeryTerms(
        elbo=reconstruction_mean - float(average_kl),
        reconstruction=reconstruction_mean,
        average_kl=float(average_kl),
        mutual_information=mutual_information,
        marginal_kl=marginal_kl,
        log_n=math.log(n),
    )
