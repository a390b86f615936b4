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
``estimator="stl"`` ("sticking the landing", Roeder et al. 2017) also detaches the encoder's
parameters inside log q but keeps the weights w̃_k: the encoder gets Σ_k w̃_k ∂ log w_k/∂z_k ·
∂z_k/∂φ.  It drops the score-function term −Σ_k w̃_k ∇_φ log q_φ(z_k|x) (z_k held fixed) of the
standard gradient.  That term has mean zero only at K = 1 (there w̃_1 = 1 and E_q[∇_φ log q] = 0);
for K > 1 its weights depend on the draws and its mean is not zero, so STL is *biased* for K > 1.
DReG instead *replaces* the term by its reparameterised equivalent, which is where the extra
factor w̃_k comes from (Tucker et al. 2019), and stays unbiased.
The loss *value* is −L_K in every case; only the gradient differs.

Reweighted wake-sleep.  :func:`rws_loss` trains the two networks on different objectives
(Bornschein & Bengio 2015, with the wake-phase encoder update that Le et al. 2019 recommend):
the decoder follows the IWAE gradient Σ_k w̃_k ∇_θ log p_θ(x, z_k), and the encoder ascends
Σ_k w̃_k ∇_φ log q_φ(z_k|x) with the draws z_k and the weights w̃_k held fixed, a self-normalised
importance-sampling estimate of ∇_φ E_{p_θ(z|x)}[log q_φ(z|x)] = −∇_φ KL(p_θ(z|x) ‖ q_φ(z|x)).
The encoder thus minimises the *inclusive* KL, no bound at all; its gradient has no
reparameterised path and is biased for finite K (by O(1/K)).  At K = 1 (w̃_1 = 1) it is the
score ∇_φ log q_φ(z_1|x), whose mean is zero: the encoder does not learn.

Encoder quality.  log p(x) − ELBO measures the exclusive KL(q ‖ p(z|x)), the divergence the ELBO
penalises; :func:`inclusive_kl_estimate` estimates the inclusive KL(p(z|x) ‖ q), the one RWS's
encoder is trained to reduce, from the same kind of K draws.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.special import gammaln
from torch.distributions import Distribution, Independent, Normal
from tqdm import tqdm

from elbo_book.models import LatentVariableModel
from elbo_book.objectives import variational_distribution
from elbo_book.validation import (
    Reduction,
    check_bool,
    check_choice,
    check_int,
    check_reduction,
    check_tensor,
    reduce,
)

__all__ = [
    "DEFAULT_PAIRS_PER_CHUNK",
    "CIWAEObjective",
    "IWAEObjective",
    "MIWAEObjective",
    "PIWAEObjective",
    "RWSObjective",
    "exact_iwae_bound",
    "inclusive_kl_estimate",
    "iwae_bound",
    "iwae_loss",
    "log_evidence_estimate",
    "log_importance_weights",
    "log_mean_exp",
    "log_weights_at",
    "rws_loss",
]


#: Default number of (draw, example) pairs per chunk in :func:`iwae_bound`: each pair holds one
#: decoder pass, so memory stays at tens of MB for the book's models whatever K is.
DEFAULT_PAIRS_PER_CHUNK = 2**16


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log((1/K) Σ_k exp(values_k)) along ``dim`` (K = its size), via ``torch.logsumexp``.

    Args:
        values: a floating-point tensor (``-inf`` entries allowed: weights of zero).
        dim: the dimension to average over, ``-values.dim() <= dim < values.dim()``.

    Returns:
        The tensor with ``dim`` removed.

    Raises:
        ValueError: ``values`` is not a floating tensor with at least one dimension, contains
            NaN or +inf, ``dim`` is out of range, or the dimension is empty.
    """
    check_tensor(values, "values", min_ndim=1, finite=False)
    if bool((torch.isnan(values) | (values == math.inf)).any()):
        raise ValueError("values must not contain NaN or +inf (-inf, a zero weight, is allowed)")
    dim = check_int(dim, "dim", minimum=-values.dim(), maximum=values.dim() - 1)
    if values.shape[dim] == 0:
        raise ValueError("log_mean_exp needs at least one value along dim")
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def log_weights_at(
    model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor, log_q: torch.Tensor
) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) − log q(z|x) at given draws z (no checks: an inner call).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(*batch, data_dim)``.
        z: draws of shape ``(*sample, *batch, latent_dim)``.
        log_q: log q(z|x) at those draws, shape ``(*sample, *batch)``.

    Returns:
        The log-weights, shape ``(*sample, *batch)``.

    Raises:
        RuntimeError: from torch, when ``x``, ``z`` and ``log_q`` do not broadcast (nothing is
            checked here: the estimators that call it check their inputs first).
    """
    return model.likelihood(z).log_prob(x) + model.prior().log_prob(z) - log_q


def _log_weights(
    model: LatentVariableModel, x: torch.Tensor, z: torch.Tensor, q: Distribution
) -> torch.Tensor:
    return log_weights_at(model, x, z, q.log_prob(z))


def log_importance_weights(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 1,
) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x) for z_k ~ q, shape ``(K, *batch)``.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: the proposal q(z|x) (batch shape ``x.shape[:-1]``), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1.

    Returns:
        The log-weights, shape ``(K, *x.shape[:-1])``.

    Raises:
        ValueError: a bad argument.
    """
    check_int(n_samples, "n_samples")
    q = variational_distribution(model, x, q)
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

    Draws are processed ``chunk_size`` at a time and combined with a running log-sum-exp;
    without gradient tracking (``torch.no_grad()``) memory then grows with ``chunk_size``, not
    with K.  With gradients, autograd keeps every chunk's graph.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: the proposal q(z|x), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1.
        chunk_size: draws per chunk, ≥ 1; None picks one so that a chunk holds at most
            :data:`DEFAULT_PAIRS_PER_CHUNK` (draw, example) pairs.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the examples.

    Returns:
        The reduced bound (0-d) or per-example values (``x.shape[:-1]``).

    Raises:
        ValueError: a bad argument.
    """
    return _iwae_bound(model, x, q, n_samples, chunk_size, reduction, progress=False)


def _iwae_bound(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None,
    n_samples: int,
    chunk_size: int | None,
    reduction: Reduction,
    *,
    progress: bool,
) -> torch.Tensor:
    check_reduction(reduction)
    n_samples = check_int(n_samples, "n_samples")
    q = variational_distribution(model, x, q)
    if chunk_size is None:
        examples = max(1, math.prod(q.batch_shape))
        chunk = max(1, min(n_samples, DEFAULT_PAIRS_PER_CHUNK // examples))
    else:
        chunk = check_int(chunk_size, "chunk_size")
    total: torch.Tensor | None = None
    done = 0
    bar = tqdm(total=n_samples, disable=not progress, desc="log p(x)", unit="draw")
    while done < n_samples:
        size = min(chunk, n_samples - done)
        shape = torch.Size([size])
        z = q.rsample(shape) if q.has_rsample else q.sample(shape)
        part = torch.logsumexp(_log_weights(model, x, z, q), dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        done += size
        bar.update(size)
    bar.close()
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
    progress: bool = False,
) -> torch.Tensor:
    """Importance-sampled log p(x) ≈ log (1/K) Σ_k w_k with q as proposal, no gradients.

    A stochastic lower bound in expectation (Jensen) that tends to log p(x) as K grows; memory
    is bounded by ``chunk_size`` draws at a time.  Its ``reduction`` defaults to ``"none"``
    (per-example estimates), unlike the objectives, because it is an evaluation tool.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: the proposal q(z|x), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1.
        chunk_size: draws per chunk, ≥ 1.
        reduction: ``"none"`` (default), ``"mean"`` or ``"sum"`` over the examples.
        progress: whether to show a progress bar over the draws.

    Returns:
        Per-example estimates (``x.shape[:-1]``) or their mean or sum (0-d).

    Raises:
        ValueError: a bad argument.
    """
    progress = check_bool(progress, "progress")
    with torch.no_grad():
        return _iwae_bound(model, x, q, n_samples, chunk_size, reduction, progress=progress)


def inclusive_kl_estimate(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int = 5000,
    chunk_size: int = 500,
    reduction: Reduction = "none",
) -> torch.Tensor:
    """Self-normalised estimate of the inclusive KL(p(z|x) ‖ q(z|x)), no gradients.

    KL(p(z|x) ‖ q) = E_{p(z|x)}[log w(z)] − log p(x) with w = p(x, z)/q(z|x).  Importance
    sampling with K draws z_k ~ q estimates the expectation by Σ_k w̃_k log w_k (normalised
    weights w̃_k = w_k / Σ_j w_j) and log p(x) by log (1/K) Σ_k w_k, so the estimate is

        Σ_k w̃_k log w_k − log (1/K) Σ_k w_k  =  Σ_k w̃_k log (K w̃_k)  =  KL(w̃ ‖ uniform),

    which lies in [0, log K]: it is consistent as K → ∞ but biased for finite K (by O(1/K) when
    the weights have a finite variance), and it can never exceed log K, so it *underestimates* a
    divergence comparable to log K.  Draws are processed ``chunk_size`` at a time with a running
    log-sum-exp and a running weighted sum, so memory grows with ``chunk_size``, not with K.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: the proposal q(z|x), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1 (K = 1 gives 0).
        chunk_size: draws per chunk, ≥ 1.
        reduction: ``"none"`` (default), ``"mean"`` or ``"sum"`` over the examples.

    Returns:
        Per-example estimates in nats (``x.shape[:-1]``) or their mean or sum (0-d).

    Raises:
        ValueError: a bad argument.
    """
    check_reduction(reduction)
    n_samples = check_int(n_samples, "n_samples")
    chunk = check_int(chunk_size, "chunk_size")
    with torch.no_grad():
        q = variational_distribution(model, x, q)
        log_total: torch.Tensor | None = None  # log Σ_k w_k over the draws so far
        weighted: torch.Tensor | None = None  # Σ_k (w_k / Σ_j w_j) log w_k over the same draws
        done = 0
        while done < n_samples:
            size = min(chunk, n_samples - done)
            shape = torch.Size([size])
            z = q.rsample(shape) if q.has_rsample else q.sample(shape)
            log_w = _log_weights(model, x, z, q)
            part = torch.logsumexp(log_w, dim=0)
            part_weighted = (torch.softmax(log_w, dim=0) * log_w).sum(0)
            if log_total is None or weighted is None:
                log_total, weighted = part, part_weighted
            else:
                new_total = torch.logaddexp(log_total, part)
                weighted = (
                    torch.exp(log_total - new_total) * weighted
                    + torch.exp(part - new_total) * part_weighted
                )
                log_total = new_total
            done += size
        assert log_total is not None and weighted is not None
        return reduce(weighted - (log_total - math.log(n_samples)), reduction)


def _detached_gaussian(q: Distribution) -> Independent:
    if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
        raise ValueError(
            "estimator='dreg' or 'stl' needs a reparameterised diagonal Gaussian q "
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
    estimator: Literal["standard", "dreg", "stl"] = "standard",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """A loss whose value is −(log (1/K) Σ_k w_k) and whose gradient is the chosen estimator's.

    ``estimator="standard"``: autograd through the log-sum-exp (Burda et al. 2016).
    ``estimator="dreg"``: the doubly reparameterised gradient (Tucker et al. 2019), see the
    module docstring; needs a diagonal Gaussian q.
    ``estimator="stl"``: the path-only gradient that drops the score-function term ("sticking
    the landing"); biased for K > 1 (see the module docstring), needs a diagonal Gaussian q.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: the reparameterisable q(z|x), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1 (all in one pass: the gradient needs them).
        estimator: ``"standard"``, ``"dreg"`` or ``"stl"``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the examples.

    Returns:
        The loss, reduced (0-d) or per example.

    Raises:
        ValueError: a bad argument, or a q without ``rsample`` (or not Gaussian for DReG and
            STL).
    """
    check_reduction(reduction)
    check_int(n_samples, "n_samples")
    check_choice(estimator, "estimator", ("standard", "dreg", "stl"))
    q = variational_distribution(model, x, q)
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
    if estimator == "stl":
        return reduce(-bound, reduction)
    normalised = torch.softmax(log_w, dim=0).detach()
    if z.requires_grad:
        # The path gradient reaching z is Σ-weighted by w̃ below; scaling it by w̃ once more
        # gives the encoder its w̃² weights while the decoder keeps w̃.
        factor = normalised.reshape(*normalised.shape, *([1] * (z.dim() - normalised.dim())))
        z.register_hook(lambda grad: grad * factor)
    surrogate = (normalised * log_w).sum(dim=0)
    value_with_dreg_grad = bound.detach() + surrogate - surrogate.detach()
    return reduce(-value_with_dreg_grad, reduction)


def _compositions(total: int, parts: int) -> np.ndarray:
    """Every vector of ``parts`` non-negative integers summing to ``total``, one per row."""
    if parts == 1:
        return np.array([[total]], dtype=np.int64)
    blocks = []
    for first in range(total + 1):
        rest = _compositions(total - first, parts - 1)
        blocks.append(np.column_stack([np.full(len(rest), first, dtype=np.int64), rest]))
    return np.concatenate(blocks, axis=0)


def exact_iwae_bound(
    weights: np.ndarray | torch.Tensor,
    probabilities: np.ndarray | torch.Tensor,
    n_samples: int,
) -> float:
    """L_K exactly for a latent on a finite support {1, …, S}, by enumerating the draws' counts.

    With q(z = s | x) = q_s and weights w_s = p(x, s) / q_s, the K draws enter log Ẑ_K only
    through their counts c = (c_1, …, c_S), Σ_s c_s = K, which are multinomial::

        L_K = Σ_c  K! / (c_1! ⋯ c_S!) · Π_s q_s^{c_s} · log( (1/K) Σ_s c_s w_s ).

    There are C(K + S − 1, S − 1) count vectors, so this is practical for small S (S = 3 and
    K = 200: 20,301 terms).  L_1 = Σ_s q_s log w_s is the ELBO.

    Args:
        weights: the S importance weights w_s, positive and finite (a 1-D array or tensor).
        probabilities: the S encoder probabilities q_s, positive, summing to 1 (within 1e-9).
        n_samples: the number K ≥ 1 of draws.

    Returns:
        L_K in nats, a float (computed in float64).

    Raises:
        TypeError: ``weights`` or ``probabilities`` is not a numpy array or torch tensor.
        ValueError: mismatched or empty shapes, non-positive or non-finite entries,
            probabilities that do not sum to 1, or a bad ``n_samples``.
    """
    n_samples = check_int(n_samples, "n_samples")
    arrays = []
    for name, value in (("weights", weights), ("probabilities", probabilities)):
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be a numpy array or a torch tensor, got {value!r}")
        array = value.astype(np.float64)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"{name} must be 1-D and non-empty, got shape {array.shape}")
        if not (np.isfinite(array).all() and (array > 0).all()):
            raise ValueError(f"{name} must be finite and positive")
        arrays.append(array)
    w, q = arrays
    if w.shape != q.shape:
        raise ValueError(f"weights and probabilities differ in shape: {w.shape} vs {q.shape}")
    if abs(float(q.sum()) - 1.0) > 1e-9:
        raise ValueError(f"probabilities must sum to 1, got {float(q.sum())!r}")
    counts = _compositions(n_samples, w.size)
    log_prob = gammaln(n_samples + 1) - gammaln(counts + 1).sum(axis=1) + counts @ np.log(q)
    return float(np.sum(np.exp(log_prob) * np.log(counts @ w / n_samples)))


def rws_loss(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Reweighted wake-sleep: value −(log (1/K) Σ_k w_k), the decoder's IWAE gradient and the
    encoder's wake-phase gradient (module docstring).

    With K draws z_k ~ q(z|x) (no gradient through them) and w̃ = softmax_k(log w_k) held
    fixed, the loss is −log (1/K) Σ_k w_k in value, and its gradient is

    * −Σ_k w̃_k ∇_θ log p_θ(x, z_k) for the model's parameters (the IWAE gradient, since z_k
      does not depend on θ), and
    * −Σ_k w̃_k ∇_φ log q_φ(z_k|x) for q's parameters (minus the wake-φ update).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x) (batch shape ``x.shape[:-1]``), or None for ``model.encode(x)``.
        n_samples: the number K of draws, ≥ 1 (K = 1 gives the encoder a zero-mean gradient).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the examples.

    Returns:
        The loss, reduced (0-d) or per example.

    Raises:
        ValueError: a bad argument.
    """
    check_reduction(reduction)
    check_int(n_samples, "n_samples")
    q = variational_distribution(model, x, q)
    with torch.no_grad():  # the draws iwae_loss would make, without their path to φ
        z = q.rsample(torch.Size([n_samples])) if q.has_rsample else q.sample((n_samples,))
    log_q = q.log_prob(z)  # φ's only path: z and the weights are constants
    log_w = log_weights_at(model, x, z, log_q.detach())  # θ's only path
    bound = log_mean_exp(log_w, dim=0)
    wake = (torch.softmax(log_w, dim=0).detach() * log_q).sum(dim=0)
    surrogate = bound + wake
    return reduce(-(bound.detach() + surrogate - surrogate.detach()), reduction)


def _held_out_bound(
    model: LatentVariableModel, x: torch.Tensor, n_samples: int, batch_size: int
) -> float:
    """The mean over the rows of ``x`` of log (1/K) Σ_k w_k, ``batch_size`` rows at a time."""
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size].to(_device(model), _dtype(model))
        total += float(log_evidence_estimate(model, batch, n_samples=n_samples, reduction="sum"))
    return total / x.shape[0]


def _device(model: LatentVariableModel) -> torch.device:
    return next(iter(model.parameters())).device  # type: ignore[attr-defined]


def _dtype(model: LatentVariableModel) -> torch.dtype:
    return next(iter(model.parameters())).dtype  # type: ignore[attr-defined]


def _grouped_log_weights(
    model: LatentVariableModel, x: torch.Tensor, n_outer: int, n_inner: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """log w for M·K reparameterised draws, as ``(M·K, *batch)`` and ``(M, K, *batch)``."""
    q = variational_distribution(model, x, None)
    if not q.has_rsample:
        raise ValueError(f"the objective needs a reparameterisable q (with rsample), got {q!r}")
    z = q.rsample(torch.Size([n_outer * n_inner]))
    log_w = _log_weights(model, x, z, q)
    return log_w, log_w.reshape(n_outer, n_inner, *log_w.shape[1:])


def _check_batch(x: object) -> torch.Tensor:
    data = check_tensor(x, "x", ndim=2)
    if data.shape[0] == 0:
        raise ValueError("x must contain at least one example")
    return data


class _Parametrised:
    """An objective whose ``config()`` is the attributes named in ``_config_fields``."""

    _config_fields: tuple[str, ...] = ()

    def config(self) -> dict[str, object]:
        """The parameters, for cache keys.

        Returns:
            Each constructor parameter of the objective, by name.
        """
        return {name: getattr(self, name) for name in self._config_fields}


class _GroupedDraws(_Parametrised):
    """The parameters of an objective on M groups of K draws per row (MIWAE, PIWAE)."""

    _config_fields = ("n_outer", "n_inner", "eval_batch_size")

    def __init__(self, n_outer: int, n_inner: int, *, eval_batch_size: int = 500) -> None:
        self.n_outer = check_int(n_outer, "n_outer")
        self.n_inner = check_int(n_inner, "n_inner")
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size")


class _KDrawHeldOut(_Parametrised):
    """An objective on K draws per row whose held-out value is the IWAE bound L_K (IWAE, RWS)."""

    n_samples: int
    eval_batch_size: int

    def held_out(self, model: LatentVariableModel, x: torch.Tensor) -> float:
        """L_K on the held-out rows of ``x``, their mean in nats.

        Args:
            model: the model (with an encoder).
            x: held-out data, shape ``(N, data_dim)``, N ≥ 1.

        Returns:
            The mean bound.

        Raises:
            ValueError: a bad argument.
        """
        return _held_out_bound(model, _check_batch(x), self.n_samples, self.eval_batch_size)


class IWAEObjective(_KDrawHeldOut):
    """The K-sample importance-weighted bound as a training objective (Burda et al. 2016).

    ``loss`` is :func:`iwae_loss`, −mean_n log (1/K) Σ_k w_{nk}, with the ``"standard"`` or the
    ``"dreg"`` gradient; ``held_out`` is the same bound L_K on held-out data (K draws per row,
    ``eval_batch_size`` rows at a time, no gradients).  K = 1 trains the VAE on the one-draw
    Monte Carlo ELBO.  An :class:`~elbo_book.training.Objective` for
    :func:`elbo_book.training.fit`.

    Args:
        n_samples: K ≥ 1.
        estimator: ``"standard"`` (Burda et al.) or ``"dreg"`` (Tucker et al. 2019).
        eval_batch_size: rows per pass of ``held_out``, ≥ 1.

    Raises:
        ValueError: a bad argument.
    """

    _config_fields = ("n_samples", "estimator", "eval_batch_size")

    def __init__(
        self,
        n_samples: int,
        *,
        estimator: Literal["standard", "dreg"] = "standard",
        eval_batch_size: int = 500,
    ) -> None:
        self.n_samples = check_int(n_samples, "n_samples")
        check_choice(estimator, "estimator", ("standard", "dreg"))
        self.estimator: Literal["standard", "dreg"] = estimator
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size")

    def loss(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """−L_K estimated on the minibatch ``x`` (a mean over its rows).

        Args:
            model: the model (with an encoder).
            x: a minibatch, shape ``(B, data_dim)``.

        Returns:
            The 0-d loss, with the chosen estimator's gradient.

        Raises:
            ValueError: a bad argument.
        """
        return iwae_loss(model, x, n_samples=self.n_samples, estimator=self.estimator)


class _RowBoundObjective:
    """An objective built on a per-row bound: ``loss`` is minus its minibatch mean, ``held_out``
    its mean over held-out rows (``eval_batch_size`` at a time, no gradients)."""

    eval_batch_size: int

    def bound(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """Minus the bound estimated on the minibatch ``x`` (a mean over its rows).

        Args:
            model: the model (with an encoder).
            x: a minibatch, shape ``(B, data_dim)``.

        Returns:
            The 0-d loss.

        Raises:
            ValueError: a bad argument.
        """
        return -self.bound(model, x).mean()

    def held_out(self, model: LatentVariableModel, x: torch.Tensor) -> float:
        """The bound on the held-out rows of ``x``, their mean in nats.

        Args:
            model: the model (with an encoder).
            x: held-out data, shape ``(N, data_dim)``, N ≥ 1.

        Returns:
            The mean bound.

        Raises:
            ValueError: a bad argument.
        """
        data = _check_batch(x)
        total = 0.0
        with torch.no_grad():
            for start in range(0, data.shape[0], self.eval_batch_size):
                batch = data[start : start + self.eval_batch_size]
                total += float(self.bound(model, batch.to(_device(model), _dtype(model))).sum())
        return total / data.shape[0]


class MIWAEObjective(_GroupedDraws, _RowBoundObjective):
    """The multiply importance-weighted bound of Rainforth et al. (2018), M groups of K draws.

    With M·K draws z_{mk} ~ q(z|x) and weights w_{mk},

        L_{M,K}(x) = E[ (1/M) Σ_m log (1/K) Σ_k w_{mk} ],

    the average of M independent K-sample bounds: its value is L_K, but its gradient averages M
    independent estimates, which raises the encoder's gradient SNR.  M = 1 is the IWAE bound
    L_K, K = 1 the ELBO estimated with M draws.  ``held_out`` is L_{M,K} on held-out data.
    An :class:`~elbo_book.training.Objective` for :func:`elbo_book.training.fit`.

    Args:
        n_outer: M ≥ 1.
        n_inner: K ≥ 1.
        eval_batch_size: rows per pass of ``held_out``, ≥ 1.

    Raises:
        ValueError: a bad argument.
    """

    def bound(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """The single-draw estimate (1/M) Σ_m log (1/K) Σ_k w_{mk} of every row of ``x``.

        Args:
            model: the model (with an encoder).
            x: data, shape ``(B, data_dim)``, B ≥ 1.

        Returns:
            Shape ``(B,)``, differentiable (the standard reparameterised gradient).

        Raises:
            ValueError: a bad argument.
        """
        _, grouped = _grouped_log_weights(model, _check_batch(x), self.n_outer, self.n_inner)
        return log_mean_exp(grouped, dim=1).mean(dim=0)


class CIWAEObjective(_Parametrised, _RowBoundObjective):
    """The combination bound of Rainforth et al. (2018): β · ELBO + (1 − β) · IWAE, same draws.

    With K draws z_k ~ q(z|x) and weights w_k,

        L^CIWAE_β(x) = E[ β · (1/K) Σ_k log w_k + (1 − β) · log (1/K) Σ_k w_k ],

    a lower bound on log p(x) for every β in [0, 1]: β = 1 is the ELBO (estimated with K
    draws), β = 0 the IWAE bound L_K.  ``held_out`` is the same combination on held-out data.
    An :class:`~elbo_book.training.Objective` for :func:`elbo_book.training.fit`.

    Args:
        n_samples: K ≥ 1.
        beta: β in [0, 1].
        eval_batch_size: rows per pass of ``held_out``, ≥ 1.

    Raises:
        ValueError: a bad argument.
    """

    _config_fields = ("n_samples", "beta", "eval_batch_size")

    def __init__(self, n_samples: int, beta: float, *, eval_batch_size: int = 500) -> None:
        self.n_samples = check_int(n_samples, "n_samples")
        if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta <= 1:
            raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
        self.beta = float(beta)
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size")

    def bound(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """The single-draw estimate β · mean_k log w_k + (1 − β) · log mean_k w_k per row.

        Args:
            model: the model (with an encoder).
            x: data, shape ``(B, data_dim)``, B ≥ 1.

        Returns:
            Shape ``(B,)``, differentiable (the standard reparameterised gradient).

        Raises:
            ValueError: a bad argument.
        """
        log_w, _ = _grouped_log_weights(model, _check_batch(x), 1, self.n_samples)
        return self.beta * log_w.mean(dim=0) + (1 - self.beta) * log_mean_exp(log_w, dim=0)


class PIWAEObjective(_GroupedDraws):
    """Partially importance-weighted training (Rainforth et al. 2018): two bounds, one draw set.

    From M·K draws z_{mk} ~ q(z|x), the decoder (θ: every parameter outside ``model.encoder``)
    follows the gradient of the IWAE bound with all M·K draws, log (1/(MK)) Σ_{mk} w_{mk}, and
    the encoder (φ: ``model.encoder``'s parameters) the gradient of the MIWAE bound
    (1/M) Σ_m log (1/K) Σ_k w_{mk} of the same draws.  ``loss`` computes both gradients with
    ``torch.autograd.grad`` and returns a surrogate whose value is −IWAE_{MK} and whose gradient
    with respect to each parameter group is that group's gradient (minus the bound's), so
    ``loss.backward()`` delivers both.  ``held_out`` is the IWAE bound with M·K draws (the
    decoder's objective, the tighter of the two).  An
    :class:`~elbo_book.training.Objective` for :func:`elbo_book.training.fit`.

    Args:
        n_outer: M ≥ 1.
        n_inner: K ≥ 1.
        eval_batch_size: rows per pass of ``held_out``, ≥ 1.

    Raises:
        ValueError: a bad argument.
    """

    def loss(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """A surrogate with value −IWAE_{MK}(x) and the two groups' gradients (see above).

        Args:
            model: a model with an ``encoder`` module (e.g. :class:`~elbo_book.models.VAE`).
            x: a minibatch, shape ``(B, data_dim)``.

        Returns:
            The 0-d surrogate loss.

        Raises:
            ValueError: a bad argument, or a model without an ``encoder`` module.
        """
        encoder_module = getattr(model, "encoder", None)
        if not isinstance(encoder_module, torch.nn.Module):
            raise ValueError(f"{type(model).__name__} has no encoder module")
        encoder = [p for p in encoder_module.parameters() if p.requires_grad]
        ids = {id(p) for p in encoder}
        decoder = [
            p
            for p in model.parameters()  # type: ignore[attr-defined]
            if p.requires_grad and id(p) not in ids
        ]
        log_w, grouped = _grouped_log_weights(model, _check_batch(x), self.n_outer, self.n_inner)
        iwae = log_mean_exp(log_w, dim=0).mean()
        miwae = log_mean_exp(grouped, dim=1).mean(dim=0).mean()
        decoder_grads = torch.autograd.grad(-iwae, decoder, retain_graph=True, allow_unused=True)
        encoder_grads = torch.autograd.grad(-miwae, encoder, allow_unused=True)
        surrogate = sum(
            (
                (grad * p).sum()
                for p, grad in zip(decoder + encoder, decoder_grads + encoder_grads, strict=True)
                if grad is not None
            ),
            start=torch.zeros((), dtype=log_w.dtype, device=log_w.device),
        )
        return -iwae.detach() + surrogate - surrogate.detach()

    def held_out(self, model: LatentVariableModel, x: torch.Tensor) -> float:
        """The IWAE bound with M·K draws on the held-out rows of ``x``, their mean in nats.

        Args:
            model: the model (with an encoder).
            x: held-out data, shape ``(N, data_dim)``, N ≥ 1.

        Returns:
            The mean bound.

        Raises:
            ValueError: a bad argument.
        """
        return _held_out_bound(
            model, _check_batch(x), self.n_outer * self.n_inner, self.eval_batch_size
        )


class RWSObjective(_KDrawHeldOut):
    """Reweighted wake-sleep (Bornschein & Bengio 2015) with the wake-phase encoder update.

    ``loss`` is :func:`rws_loss`: the decoder follows the gradient of the IWAE bound L_K, the
    encoder the self-normalised estimate of −∇_φ KL(p_θ(z|x) ‖ q_φ(z|x)) from the same K draws;
    its value is −L_K.  ``held_out`` is L_K on held-out data (the decoder's objective; the
    encoder's has no value to track).  An :class:`~elbo_book.training.Objective` for
    :func:`elbo_book.training.fit`.

    Args:
        n_samples: K ≥ 1 (K = 1 leaves the encoder without a learning signal).
        eval_batch_size: rows per pass of ``held_out``, ≥ 1.

    Raises:
        ValueError: a bad argument.
    """

    _config_fields = ("n_samples", "eval_batch_size")

    def __init__(self, n_samples: int, *, eval_batch_size: int = 500) -> None:
        self.n_samples = check_int(n_samples, "n_samples")
        self.eval_batch_size = check_int(eval_batch_size, "eval_batch_size")

    def loss(self, model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
        """The RWS surrogate on the minibatch ``x`` (a mean over its rows; value −L_K).

        Args:
            model: the model (with an encoder).
            x: a minibatch, shape ``(B, data_dim)``.

        Returns:
            The 0-d loss, with the decoder's IWAE and the encoder's wake-phase gradients.

        Raises:
            ValueError: a bad argument.
        """
        return rws_loss(model, _check_batch(x), n_samples=self.n_samples)
