"""The variational autoencoder (VAE) and the distribution helpers it is built from.

Everything is a :mod:`torch.distributions` object: the encoder returns
q_φ(z|x) = N(z; μ_φ(x), diag σ²_φ(x)), the decoder returns p_θ(x|z) (Bernoulli or Gaussian per
pixel) and the prior is p(z) = N(0, I).  Event dimensions are wrapped in ``Independent`` so that
``log_prob`` of one example is the *sum* over its pixels (or latent coordinates): one number per
example, never an average over pixels.

Public API:

- :class:`LatentVariableModel` — the protocol every model here satisfies (``prior``,
  ``likelihood``); objectives in :mod:`elbo_book.objectives` accept any such model.
- :class:`VAEConfig` — the VAE's hyper-parameters (a frozen dataclass, saved in checkpoints).
- :class:`VAE` — MLP encoder and decoder; ``encode``, ``decode`` (alias ``likelihood``),
  ``prior``, ``sample``, ``reconstruct``.
- :func:`diagonal_gaussian` — ``Independent(Normal(loc, scale), 1)`` with checked inputs.
- :func:`diagonal_gaussian_from_logvar` — the same from a log-variance, clamped to
  :data:`LOGVAR_BOUNDS` so that extreme values stay finite.
- :data:`LOGVAR_BOUNDS`, :data:`MIN_DECODER_SCALE`.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F

from elbo_book.standard_normal import StandardNormal
from elbo_book.validation import (
    check_choice,
    check_int,
    check_positive,
    check_tensor,
    is_binary,
)

__all__ = [
    "LOGVAR_BOUNDS",
    "MIN_DECODER_SCALE",
    "VAE",
    "LatentVariableModel",
    "VAEConfig",
    "diagonal_gaussian",
    "diagonal_gaussian_from_logvar",
]

#: Log-variances are clamped to this interval before ``exp``: σ ∈ [3·10⁻⁷, 3·10⁶].
LOGVAR_BOUNDS: tuple[float, float] = (-30.0, 30.0)
#: A learned Gaussian decoder scale is ``softplus(raw) + MIN_DECODER_SCALE``.
MIN_DECODER_SCALE: float = 1e-3

Likelihood = Literal["bernoulli", "gaussian"]
Activation = Literal["relu", "tanh", "softplus"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


@runtime_checkable
class LatentVariableModel(Protocol):
    """A generative model p(x, z) = p(z) p(x|z) given by two distribution factories.

    ``prior()`` returns p(z); ``likelihood(z)`` returns p(x|z) for a batch of latents ``z``
    (leading sample/batch dimensions are broadcast).  Models with an encoder also have
    ``encode(x)`` returning q(z|x).
    """

    def prior(self) -> Distribution: ...

    def likelihood(self, z: torch.Tensor) -> Distribution: ...


def diagonal_gaussian(loc: torch.Tensor, scale: torch.Tensor) -> Independent:
    """N(loc, diag scale²) with the last dimension as the event: ``Independent(Normal, 1)``."""
    check_tensor(loc, "loc", min_ndim=1)
    check_tensor(scale, "scale", min_ndim=1)
    if not bool((scale > 0).all()):
        raise ValueError("scale must be > 0 everywhere")
    return Independent(Normal(loc, scale, validate_args=False), 1)


def diagonal_gaussian_from_logvar(loc: torch.Tensor, logvar: torch.Tensor) -> Independent:
    """N(loc, diag exp(logvar)) with ``logvar`` clamped to :data:`LOGVAR_BOUNDS`.

    The clamp keeps σ = exp(logvar / 2) strictly positive and finite, so log-densities, samples
    and KL terms stay finite for any finite input (e.g. logvar = ±30 or ±1000).
    """
    check_tensor(loc, "loc", min_ndim=1)
    check_tensor(logvar, "logvar", min_ndim=1)
    return _gaussian_from_logvar(loc, logvar)


def _gaussian_from_logvar(loc: torch.Tensor, logvar: torch.Tensor) -> Independent:
    scale = logvar.clamp(*LOGVAR_BOUNDS).mul(0.5).exp()
    return Independent(Normal(loc, scale, validate_args=False), 1)


@dataclass(frozen=True)
class VAEConfig:
    """Hyper-parameters of a :class:`VAE`; plain data so that checkpoints store it safely.

    ``decoder_scale`` is the fixed standard deviation of a Gaussian decoder, or ``"learned"``
    for one learned scale per data dimension; it is ignored (must stay 1.0) for Bernoulli.
    """

    data_dim: int
    latent_dim: int
    hidden: tuple[int, ...] = (256,)
    likelihood: Likelihood = "bernoulli"
    decoder_scale: float | Literal["learned"] = 1.0
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        check_int(self.data_dim, "data_dim")
        check_int(self.latent_dim, "latent_dim")
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ValueError(f"hidden must be a non-empty tuple of ints, got {self.hidden!r}")
        for width in self.hidden:
            check_int(width, "each hidden width")
        check_choice(self.likelihood, "likelihood", ("bernoulli", "gaussian"))
        check_choice(self.activation, "activation", tuple(_ACTIVATIONS))
        if self.decoder_scale != "learned":
            check_positive(self.decoder_scale, "decoder_scale")
        if self.likelihood == "bernoulli" and self.decoder_scale != 1.0:
            raise ValueError(
                "decoder_scale applies to the gaussian likelihood only; leave it at 1.0 "
                f"for likelihood='bernoulli' (got {self.decoder_scale!r})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a dict of Python scalars, tuples and strings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"a VAE configuration must be a dict, got {type(data).__name__}")
        expected = set(cls.__dataclass_fields__)
        if set(data) != expected:
            raise ValueError(
                f"VAE configuration keys {sorted(data)} do not match the expected "
                f"{sorted(expected)}"
            )
        values = dict(data)
        values["hidden"] = tuple(values["hidden"])
        return cls(**values)


def _mlp(sizes: list[int], activation: Activation) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Variational autoencoder with MLP encoder and decoder and prior p(z) = N(0, I).

    - encoder: x ↦ (μ, log σ²) ∈ ℝ^{2·latent_dim}; q_φ(z|x) = N(μ, diag σ²), log σ² clamped
      to :data:`LOGVAR_BOUNDS`;
    - decoder: z ↦ logits (Bernoulli) or mean (Gaussian with fixed or learned σ per dimension);
    - ``likelihood`` is an alias of ``decode`` so the VAE is a :class:`LatentVariableModel`.

    Inputs are flat: ``x`` has shape ``(..., data_dim)``; a Bernoulli likelihood requires binary
    data (exactly 0 or 1), since for other values its "log-likelihood" is not a log-density.
    """

    _prior_loc: torch.Tensor  # a buffer (registered in __init__)

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: tuple[int, ...] = (256,),
        likelihood: Likelihood = "bernoulli",
        decoder_scale: float | Literal["learned"] = 1.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        self.config = VAEConfig(
            data_dim=data_dim,
            latent_dim=latent_dim,
            hidden=tuple(hidden),
            likelihood=likelihood,
            decoder_scale=decoder_scale,
            activation=activation,
        )
        self.encoder = _mlp([data_dim, *hidden, 2 * latent_dim], activation)
        self.decoder = _mlp([latent_dim, *reversed(hidden), data_dim], activation)
        self.decoder_raw_scale: nn.Parameter | None = None
        if likelihood == "gaussian" and decoder_scale == "learned":
            # softplus(0.5413) + 1e-3 ≈ 1.0: start from unit scale.
            self.decoder_raw_scale = nn.Parameter(torch.full((data_dim,), 0.5413))
        # The prior's mean (zeros); as a buffer it also follows the model's device and dtype.
        self.register_buffer("_prior_loc", torch.zeros(latent_dim))
        self._prior_cache: tuple[torch.Tensor, StandardNormal] | None = None

    @classmethod
    def from_config(cls, config: VAEConfig) -> VAE:
        """Build an (untrained) VAE from a :class:`VAEConfig`."""
        return cls(**config.to_dict())

    @property
    def data_dim(self) -> int:
        return self.config.data_dim

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def check_data(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Check that ``x`` is finite float data of shape ``(..., data_dim)`` fit for decoding."""
        check_tensor(x, name, min_ndim=1, last_dim=self.data_dim)
        if self.config.likelihood == "bernoulli" and not is_binary(x):
            raise ValueError(
                f"{name} must be binary (0 or 1) for likelihood='bernoulli'; binarise it "
                "(e.g. elbo_book.data.load_digits(binarize=True)) or use likelihood='gaussian'"
            )
        return x

    def prior(self) -> StandardNormal:
        """p(z) = N(0, I) on ℝ^latent_dim, a :class:`~elbo_book.standard_normal.StandardNormal`.

        So ``kl_divergence(q, model.prior())`` takes the closed form
        ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²).  The object is built once and reused until the model
        moves to another device or dtype (every training step asks for it).
        """
        key = self._prior_loc  # replaced by a new tensor whenever .to() changes device or dtype
        cached = self._prior_cache
        if cached is None or cached[0] is not key:
            prior = StandardNormal(self.latent_dim, dtype=key.dtype, device=key.device)
            cached = (key, prior)
            self._prior_cache = cached
        return cached[1]

    def encode(self, x: torch.Tensor, *, check: bool = True) -> Independent:
        """q_φ(z|x) = N(μ_φ(x), diag exp(logvar_φ(x))), batch shape ``x.shape[:-1]``.

        ``check=False`` skips :meth:`check_data`, for data already checked (``fit`` checks the
        whole data set once, not every minibatch).
        """
        if check:
            self.check_data(x)
        loc, logvar = self.encoder(x).chunk(2, dim=-1)
        return _gaussian_from_logvar(loc, logvar)

    def forward(self, x: torch.Tensor) -> Independent:
        """Same as :meth:`encode`."""
        return self.encode(x)

    def decoder_scale(self) -> torch.Tensor:
        """The Gaussian decoder's standard deviation per data dimension."""
        if self.config.likelihood != "gaussian":
            raise ValueError("decoder_scale() exists only for likelihood='gaussian'")
        if self.decoder_raw_scale is not None:
            return F.softplus(self.decoder_raw_scale) + MIN_DECODER_SCALE
        return torch.full(
            (self.data_dim,),
            float(self.config.decoder_scale),
            dtype=self._prior_loc.dtype,
            device=self._prior_loc.device,
        )

    def decode(self, z: torch.Tensor) -> Independent:
        """p_θ(x|z): independent Bernoulli (logits) or Normal per data dimension."""
        check_tensor(z, "z", min_ndim=1, last_dim=self.latent_dim)
        return self._decode(z)

    def _decode(self, z: torch.Tensor) -> Independent:
        out = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=out, validate_args=False), 1)
        return Independent(Normal(out, self.decoder_scale(), validate_args=False), 1)

    def likelihood(self, z: torch.Tensor) -> Independent:
        """:meth:`decode` for latents drawn by the objectives (the :class:`LatentVariableModel`
        interface): checks shape and dtype but not finiteness, which samples from a q with
        finite parameters have by construction."""
        check_tensor(z, "z", min_ndim=1, last_dim=self.latent_dim, finite=False)
        return self._decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of p_θ(x|z) for ``n`` latents z ~ p(z): pixel probabilities or Gaussian means."""
        check_int(n, "n")
        device = self._prior_loc.device
        z = torch.randn(
            (n, self.latent_dim),
            generator=generator,
            dtype=self._prior_loc.dtype,
            device=generator.device if generator is not None else device,
        )
        return self.decode(z.to(device)).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of p_θ(x|z) at the encoder mean z = μ_φ(x)."""
        return self.decode(self.encode(x).mean).mean
