"""Signal-to-noise ratio of stochastic gradient estimators (Rainforth et al. 2018).

For a stochastic estimator Δ of a gradient, coordinate by coordinate::

    SNR_j = abs(E[Δ_j]) / sd[Δ_j]

estimated from R independent draws of Δ by the absolute sample mean over the sample standard
deviation (with the unbiased 1/(R − 1) variance).  A coordinate whose R draws are all equal
(sd = 0, e.g. the weight of a dead ReLU unit) has no defined SNR: it is NaN and summaries skip
it.

The *noise floor*.  If the true SNR of a coordinate is zero and its R draws are Gaussian, the
sample mean over the sample standard deviation times √R has Student's t distribution with
R − 1 degrees of freedom, so the estimated SNR is abs(T)/√R, T ~ t_{R−1}.  A summary over many such
coordinates tends to that variable's mean, E abs(T)/√R (→ √(2/π)/√R ≈ 0.798/√R), or to its median,
t_{R−1}⁻¹(3/4)/√R (→ Φ⁻¹(3/4)/√R ≈ 0.674/√R).  :func:`snr_noise_floor` computes both exactly.

For the K-sample importance-weighted bound L_K, Rainforth et al. (2018) show that the decoder's
(θ) SNR grows like √K while the encoder's (φ) SNR of the standard gradient *shrinks* like 1/√K;
the doubly reparameterised gradient (DReG, Tucker et al. 2019) restores a growing encoder SNR.
:func:`iwae_gradient_snr` measures both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import stats
from torch import nn

from elbo_book.importance import iwae_loss
from elbo_book.models import VAE, LatentVariableModel, diagonal_gaussian
from elbo_book.toy_models import LinearGaussianTestBed
from elbo_book.validation import (
    check_choice,
    check_int,
    check_scale,
    check_tensor,
)

__all__ = [
    "GradientSNR",
    "gradient_draws",
    "iwae_gradient_snr",
    "log_log_slope",
    "proposal_gradient_draws",
    "signal_to_noise",
    "snr_noise_floor",
]

SNRReduction = Literal["none", "mean", "median"]
Estimator = Literal["standard", "dreg", "stl"]
_ESTIMATORS = ("standard", "dreg", "stl")


def gradient_draws(
    loss_fn: Callable[[], torch.Tensor],
    params: Sequence[nn.Parameter],
    *,
    n_draws: int,
) -> torch.Tensor:
    """Call the stochastic ``loss_fn`` ``n_draws`` times; stack ∇ loss w.r.t. ``params`` flattened.

    A parameter the loss does not depend on contributes zeros.

    Args:
        loss_fn: a function of no arguments returning a scalar loss tensor (fresh noise each call).
        params: the tensors (requiring gradients) to differentiate with respect to.
        n_draws: the number R of draws, ≥ 2.

    Returns:
        A tensor of shape ``(R, P)``, P the total number of entries of ``params``.

    Raises:
        ValueError: ``n_draws`` < 2, ``params`` empty or not requiring gradients, or a loss that
            is not a scalar tensor.
    """
    check_int(n_draws, "n_draws", minimum=2)
    if not isinstance(params, list | tuple):
        raise ValueError(f"params must be a sequence of tensors, got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError("params must contain at least one parameter")
    if not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ValueError("params must be tensors that require gradients (e.g. nn.Parameters)")
    draws = []
    for _ in range(n_draws):
        loss = loss_fn()
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError("loss_fn must return a scalar tensor (reduce the loss over the batch)")
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        draws.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    return torch.stack(draws)


def signal_to_noise(draws: torch.Tensor, reduction: SNRReduction = "none") -> torch.Tensor:
    """SNR_j = abs(mean_r Δ_rj) / sd_r Δ_rj for draws of shape ``(R, P)``, R ≥ 2.

    Args:
        draws: finite gradient draws, shape ``(R, P)``.
        reduction: ``"none"`` (the P values, NaN where sd = 0 — documented, not an error),
            ``"mean"`` or ``"median"`` (over the defined values; NaN if none is defined).

    Returns:
        A float64 tensor of shape ``(P,)`` or a 0-d one.

    Raises:
        ValueError: malformed ``draws``, fewer than 2 rows, or an unknown reduction.
    """
    check_tensor(draws, "draws", ndim=2)
    check_choice(reduction, "reduction", ("none", "mean", "median"))
    if draws.shape[0] < 2:
        raise ValueError(f"draws needs at least 2 rows (independent draws), got {draws.shape[0]}")
    values = draws.double()
    sd = values.std(dim=0, correction=1)
    snr = torch.where(sd > 0, values.mean(dim=0).abs() / sd, torch.full_like(sd, float("nan")))
    return snr if reduction == "none" else _summarise(snr, reduction)


def _summarise(snr: torch.Tensor, reduction: Literal["mean", "median"]) -> torch.Tensor:
    defined = snr[~torch.isnan(snr)]
    if defined.numel() == 0:
        return torch.tensor(float("nan"), dtype=torch.float64)
    return defined.mean() if reduction == "mean" else defined.median()


@dataclass(frozen=True)
class GradientSNR:
    """Per-coordinate SNR (NaN where undefined) of the encoder's (φ) and decoder's (θ) gradients.

    Attributes:
        encoder: the encoder parameters' SNR, one value per coordinate.
        decoder: the decoder parameters' SNR, one value per coordinate.
    """

    encoder: torch.Tensor
    decoder: torch.Tensor

    def summary(self, reduction: Literal["mean", "median"] = "median") -> tuple[float, float]:
        """(encoder, decoder) SNR summarised over coordinates with a defined SNR.

        Args:
            reduction: ``"mean"`` or ``"median"``.

        Returns:
            Two floats (NaN where no coordinate has a defined SNR).

        Raises:
            ValueError: an unknown reduction.
        """
        check_choice(reduction, "reduction", ("mean", "median"))
        encoder = _summarise(self.encoder, reduction)
        return float(encoder), float(_summarise(self.decoder, reduction))


def iwae_gradient_snr(
    model: VAE | LinearGaussianTestBed,
    x: torch.Tensor,
    *,
    n_samples: int,
    n_draws: int = 100,
    estimator: Estimator = "standard",
) -> GradientSNR:
    """SNR of the gradient of −L_K (batch mean over ``x``) for K = ``n_samples`` importance draws.

    Encoder (φ) parameters are ``model.encoder``'s, decoder (θ) parameters ``model.decoder``'s.
    Each of the R = ``n_draws`` gradient draws uses fresh z's from the global torch RNG (seed it
    first).

    Args:
        model: a :class:`~elbo_book.models.VAE` or a
            :class:`~elbo_book.toy_models.LinearGaussianTestBed`.
        x: data of shape ``(B, D)``.
        n_samples: importance draws K, ≥ 1.
        n_draws: gradient draws R, ≥ 2.
        estimator: ``"standard"``, ``"dreg"`` or ``"stl"``, passed to
            :func:`elbo_book.importance.iwae_loss`.

    Returns:
        The :class:`GradientSNR` (NaN where a coordinate's draws are all equal).

    Raises:
        ValueError: a bad argument.
    """
    if not isinstance(model, VAE | LinearGaussianTestBed):
        raise ValueError(
            f"model must be a VAE or a LinearGaussianTestBed, got {type(model).__name__}"
        )
    check_int(n_samples, "n_samples")
    check_choice(estimator, "estimator", _ESTIMATORS)
    encoder = list(model.encoder.parameters())
    decoder = list(model.decoder.parameters())

    def loss() -> torch.Tensor:
        return iwae_loss(model, x, n_samples=n_samples, estimator=estimator, reduction="mean")

    draws = gradient_draws(loss, encoder + decoder, n_draws=n_draws)
    n_encoder = sum(p.numel() for p in encoder)
    return GradientSNR(
        encoder=signal_to_noise(draws[:, :n_encoder]),
        decoder=signal_to_noise(draws[:, n_encoder:]),
    )


def snr_noise_floor(n_draws: int, reduction: Literal["mean", "median"] = "median") -> float:
    """The summary over coordinates that the SNR estimate tends to when every true SNR is zero.

    With R Gaussian draws of zero mean, the estimated SNR is abs(T)/√R with T ~ t_{R−1}; a summary
    over many coordinates tends to the mean of that variable,

        E abs(T)/√R = 2 √ν Γ((ν + 1)/2) / (√π (ν − 1) Γ(ν/2)) / √R,   ν = R − 1 ≥ 2,

    or to its median, t_ν⁻¹(3/4)/√R.  For large R these are √(2/π)/√R and Φ⁻¹(3/4)/√R ≈
    0.674/√R; a median-over-coordinates SNR at or below the median floor cannot be told from
    zero with R draws.

    Args:
        n_draws: the number R of gradient draws (≥ 3 for the mean: t_1 has no mean; ≥ 2 for
            the median).
        reduction: ``"median"`` (default) or ``"mean"``.

    Returns:
        The floor, a float.

    Raises:
        ValueError: a bad ``n_draws`` or ``reduction``.
    """
    check_choice(reduction, "reduction", ("mean", "median"))
    n_draws = check_int(n_draws, "n_draws", minimum=3 if reduction == "mean" else 2)
    nu = n_draws - 1
    if reduction == "median":
        return float(stats.t.ppf(0.75, nu)) / math.sqrt(n_draws)
    log_mean = (
        math.log(2.0)
        + 0.5 * math.log(nu)
        + math.lgamma((nu + 1) / 2)
        - 0.5 * math.log(math.pi)
        - math.log(nu - 1)
        - math.lgamma(nu / 2)
    )
    return math.exp(log_mean) / math.sqrt(n_draws)


def proposal_gradient_draws(
    model: LatentVariableModel,
    x: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    *,
    n_samples: int,
    n_draws: int,
    estimator: Estimator = "standard",
) -> tuple[torch.Tensor, torch.Tensor]:
    """R independent estimates of ∇ log Ẑ_K with respect to q = N(μ, diag σ²)'s μ and log σ.

    log Ẑ_K = log (1/K) Σ_k p(x, z_k)/q(z_k) with z_k = μ + σ ⊙ ε_k; its gradient is estimated
    by ``estimator`` (:func:`elbo_book.importance.iwae_loss`): ``"standard"`` and ``"dreg"``
    are unbiased estimates of ∇ L_K, ``"stl"`` is not for K > 1.  The R estimates are computed
    in one vectorised pass (R replicates of x, each with its own draws from the global RNG).

    Args:
        model: anything with ``prior()`` and ``likelihood(z)``
            (a :class:`~elbo_book.models.LatentVariableModel`).
        x: one observation, shape ``(D,)``.
        loc: μ, shape ``(d,)``.
        scale: σ, shape ``(d,)``, each ≥ :data:`elbo_book.validation.MIN_SCALE`.
        n_samples: importance draws K ≥ 1.
        n_draws: independent estimates R ≥ 2.
        estimator: ``"standard"``, ``"dreg"`` or ``"stl"``.

    Returns:
        ``(grad_loc, grad_log_scale)``, each of shape ``(R, d)``.

    Raises:
        ValueError: a bad argument.
    """
    check_tensor(x, "x", ndim=1)
    check_tensor(loc, "loc", ndim=1)
    check_scale(scale, "scale", min_ndim=1)
    if scale.shape != loc.shape:
        raise ValueError(f"loc and scale must have one shape, got {loc.shape} and {scale.shape}")
    check_int(n_samples, "n_samples")
    n_draws = check_int(n_draws, "n_draws", minimum=2)
    check_choice(estimator, "estimator", _ESTIMATORS)
    loc_rep = loc.detach().expand(n_draws, -1).clone().requires_grad_(True)
    log_scale_rep = scale.detach().log().expand(n_draws, -1).clone().requires_grad_(True)
    q = diagonal_gaussian(loc_rep, log_scale_rep.exp())
    x_rep = x.expand(n_draws, -1)
    loss = iwae_loss(model, x_rep, q, n_samples=n_samples, estimator=estimator, reduction="sum")
    grad_loc, grad_log_scale = torch.autograd.grad(-loss, [loc_rep, log_scale_rep])
    return grad_loc, grad_log_scale


def log_log_slope(ks: Sequence[int], values: Sequence[float]) -> float:
    """Least-squares slope b of log v = a + b log K (1/2 for √K growth, −1/2 for 1/√K decay).

    Args:
        ks: at least two distinct positive K.
        values: one positive, finite value per K.

    Returns:
        The slope, a float.

    Raises:
        ValueError: fewer than two points, mismatched lengths, non-positive entries or all K
            equal.
    """
    k_array = np.asarray(ks, dtype=np.float64)
    v_array = np.asarray(values, dtype=np.float64)
    if k_array.ndim != 1 or k_array.shape != v_array.shape or k_array.size < 2:
        raise ValueError("ks and values must be two sequences of the same length, at least 2")
    if not (np.isfinite(v_array).all() and (v_array > 0).all() and (k_array > 0).all()):
        raise ValueError("ks and values must be positive and finite")
    if np.unique(k_array).size < 2:
        raise ValueError("ks must contain at least two distinct values")
    return float(np.polyfit(np.log(k_array), np.log(v_array), 1)[0])
