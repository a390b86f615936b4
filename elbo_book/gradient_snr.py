"""Signal-to-noise ratio of stochastic gradient estimators (Rainforth et al. 2018).

For a stochastic estimator Δ of a gradient, coordinate by coordinate::

    SNR_j = abs(E[Δ_j]) / sd[Δ_j]

estimated from R independent draws of Δ by the absolute sample mean over the sample standard
deviation (with the unbiased 1/(R − 1) variance).  A coordinate whose R draws are all equal
(sd = 0, e.g. the weight of a dead ReLU unit) has no defined SNR: it is NaN and summaries skip
it.

For the K-sample importance-weighted bound L_K, Rainforth et al. (2018) show that the decoder's
(θ) SNR grows like √K while the encoder's (φ) SNR of the standard gradient *shrinks* like 1/√K;
the doubly reparameterised gradient (DReG, Tucker et al. 2019) restores a growing encoder SNR.
:func:`iwae_gradient_snr` measures both.

Public API:

- :func:`gradient_draws` — R independent flattened gradients of a stochastic loss, shape ``(R, P)``.
- :func:`signal_to_noise` — per-coordinate SNR of such draws, optionally reduced (mean/median).
- :class:`GradientSNR` — the encoder's and the decoder's per-coordinate SNR (a frozen dataclass).
- :class:`LinearGaussianModel` — Rainforth et al.'s Gaussian test bed, where the asymptotics hold.
- :func:`iwae_gradient_snr` — both SNRs, for the IWAE loss with the standard or the DReG
  estimator, on a :class:`elbo_book.models.VAE` or a :class:`LinearGaussianModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.distributions import Independent, Normal

from elbo_book.importance import iwae_loss
from elbo_book.models import VAE, diagonal_gaussian
from elbo_book.validation import check_choice, check_int, check_positive, check_tensor

__all__ = [
    "GradientSNR",
    "LinearGaussianModel",
    "gradient_draws",
    "iwae_gradient_snr",
    "signal_to_noise",
]

SNRReduction = Literal["none", "mean", "median"]


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


class LinearGaussianModel(nn.Module):
    """The Gaussian test bed of Rainforth et al. (2018, §4), with a learnable prior mean.

    p_θ(z) = N(θ, I), p(x|z) = N(z, I) on ℝ^D and q_φ(z|x) = N(A x + b, σ_q² I) with
    φ = (A, b) and a fixed σ_q (2/3 in the paper, wider than the exact posterior's 1/2, so
    the importance weights have finite variance).  The exact posterior is N((θ + x)/2, I/2) and
    the evidence is x ~ N(θ, 2 I).  ``encoder`` holds φ and ``decoder`` holds θ, as in a VAE.

    Args:
        theta: the prior mean θ, shape ``(D,)``.
        weight: the encoder matrix A, shape ``(D, D)``.
        bias: the encoder offset b, shape ``(D,)``.
        q_variance: the encoder variance σ_q² > 0.

    Raises:
        ValueError: malformed tensors or a non-positive variance.
    """

    def __init__(
        self,
        theta: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        q_variance: float = 2.0 / 3.0,
    ) -> None:
        super().__init__()
        check_tensor(theta, "theta", ndim=1)
        dim = theta.shape[0]
        check_tensor(weight, "weight", ndim=2)
        check_tensor(bias, "bias", ndim=1)
        if weight.shape != (dim, dim) or bias.shape != (dim,):
            raise ValueError(
                f"weight must have shape ({dim}, {dim}) and bias ({dim},) to match theta; got "
                f"{tuple(weight.shape)} and {tuple(bias.shape)}"
            )
        self.q_scale = check_positive(q_variance, "q_variance") ** 0.5
        self.decoder = nn.ParameterDict({"theta": nn.Parameter(theta.clone())})
        self.encoder = nn.ParameterDict(
            {"weight": nn.Parameter(weight.clone()), "bias": nn.Parameter(bias.clone())}
        )

    def prior(self) -> Independent:
        """p_θ(z) = N(θ, I).

        Returns:
            The prior, event shape ``(D,)``.
        """
        theta = self.decoder["theta"]
        return Independent(Normal(theta, torch.ones_like(theta)), 1)

    def likelihood(self, z: torch.Tensor) -> Independent:
        """p(x|z) = N(z, I).

        Args:
            z: latents of shape ``(..., D)``.

        Returns:
            The likelihood, batch shape ``z.shape[:-1]``.

        Raises:
            ValueError: ``z`` is not a floating tensor of that shape.
        """
        return Independent(Normal(z, torch.ones_like(z)), 1)

    def encode(self, x: torch.Tensor) -> Independent:
        """q_φ(z|x) = N(A x + b, σ_q² I).

        Args:
            x: data of shape ``(..., D)``.

        Returns:
            q(z|x), batch shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is not a finite floating tensor of that shape.
        """
        check_tensor(x, "x", min_ndim=1, last_dim=self.decoder["theta"].shape[0])
        loc = x @ self.encoder["weight"].T + self.encoder["bias"]
        return diagonal_gaussian(loc, torch.full_like(loc, self.q_scale))

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """log p_θ(x) = log N(x; θ, 2 I).

        Args:
            x: data of shape ``(..., D)``.

        Returns:
            Shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is not a finite floating tensor of that shape.
        """
        theta = self.decoder["theta"]
        return Independent(Normal(theta, torch.full_like(theta, 2.0**0.5)), 1).log_prob(x)


def iwae_gradient_snr(
    model: VAE | LinearGaussianModel,
    x: torch.Tensor,
    *,
    n_samples: int,
    n_draws: int = 100,
    estimator: Literal["standard", "dreg"] = "standard",
) -> GradientSNR:
    """SNR of the gradient of −L_K (batch mean over ``x``) for K = ``n_samples`` importance draws.

    Encoder (φ) parameters are ``model.encoder``'s, decoder (θ) parameters ``model.decoder``'s.
    Each of the R = ``n_draws`` gradient draws uses fresh z's from the global torch RNG (seed it
    first).

    Args:
        model: a :class:`~elbo_book.models.VAE` or a :class:`LinearGaussianModel`.
        x: data of shape ``(B, D)``.
        n_samples: importance draws K, ≥ 1.
        n_draws: gradient draws R, ≥ 2.
        estimator: ``"standard"`` or ``"dreg"``, passed to :func:`elbo_book.importance.iwae_loss`.

    Returns:
        The :class:`GradientSNR` (NaN where a coordinate's draws are all equal).

    Raises:
        ValueError: a bad argument.
    """
    if not isinstance(model, VAE | LinearGaussianModel):
        raise ValueError(
            f"model must be a VAE or a LinearGaussianModel, got {type(model).__name__}"
        )
    check_int(n_samples, "n_samples")
    check_choice(estimator, "estimator", ("standard", "dreg"))
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
