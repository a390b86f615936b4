"""The variational autoencoder (VAE) and the distribution helpers it is built from.

Everything is a :mod:`torch.distributions` object: the encoder returns
q_φ(z|x) = N(z; μ_φ(x), diag σ²_φ(x)), the decoder returns p_θ(x|z) (Bernoulli or Gaussian per
pixel) and the prior is p(z) = N(0, I).  Event dimensions are wrapped in ``Independent`` so that
``log_prob`` of one example is the *sum* over its pixels (or latent coordinates): one number per
example, never an average over pixels.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, cast, runtime_checkable

import torch
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F

from elbo_book.standard_normal import StandardNormal
from elbo_book.validation import (
    check_bool,
    check_choice,
    check_generator,
    check_int,
    check_positive,
    check_scale,
    check_tensor,
    is_binary,
)

__all__ = [
    "DEFAULT_GAUSSIAN_DECODER_SCALE",
    "LOGVAR_BOUNDS",
    "MIN_DECODER_SCALE",
    "VAE",
    "LatentVariableModel",
    "VAEConfig",
    "diagonal_gaussian",
    "diagonal_gaussian_from_logvar",
]

#: Log-variances are clamped to this interval before ``exp``: σ ∈ [3·10⁻⁷, 3·10⁶].  The clamp
#: is straight-through: values are clamped, gradients pass as if they were not, so an encoder
#: pushed past a bound still gets the gradient that brings it back.
LOGVAR_BOUNDS: tuple[float, float] = (-30.0, 30.0)
#: A learned Gaussian decoder scale is ``softplus(raw) + MIN_DECODER_SCALE``, and a fixed one
#: must be at least this (smaller fixed scales make log p(x|z) overflow to −inf).
MIN_DECODER_SCALE: float = 1e-3
#: The fixed decoder scale of a Gaussian VAE when none is given, in the API and the CLI alike.
#: It suits data in [0, 1] with a per-pixel spread well above 0.1, so the posterior does not
#: collapse (a scale of 1 does, on data whose variance is below 1).
DEFAULT_GAUSSIAN_DECODER_SCALE: float = 0.1

Likelihood = Literal["bernoulli", "gaussian"]
Activation = Literal["relu", "tanh", "softplus"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
}


@runtime_checkable
class LatentVariableModel(Protocol):
    """A generative model p(x, z) = p(z) p(x|z) given by two distribution factories (a protocol).

    ``prior()`` returns p(z); ``likelihood(z)`` returns p(x|z) for a batch of latents ``z``
    (leading sample/batch dimensions are broadcast).  Models with an encoder also have
    ``encode(x)`` returning q(z|x).  Any object with these methods qualifies; nothing is
    inherited.
    """

    def prior(self) -> Distribution:
        """p(z).

        Returns:
            The prior distribution.
        """
        ...

    def likelihood(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for latents ``z``.

        Args:
            z: latents with leading sample/batch dimensions.

        Returns:
            The likelihood, batch shape ``z``'s leading dimensions.

        Raises:
            ValueError: ``z`` is malformed (as each model documents).
        """
        ...


def _check_same_shape(loc: torch.Tensor, other: torch.Tensor, other_name: str) -> None:
    if loc.shape != other.shape or loc.dtype != other.dtype or loc.device != other.device:
        raise ValueError(
            f"loc and {other_name} must have the same shape, dtype and device, got "
            f"{tuple(loc.shape)} {loc.dtype} {loc.device} and {tuple(other.shape)} "
            f"{other.dtype} {other.device}"
        )


def diagonal_gaussian(loc: torch.Tensor, scale: torch.Tensor) -> Independent:
    """N(loc, diag scale²) with the last dimension as the event: ``Independent(Normal, 1)``.

    Args:
        loc: means, shape ``(..., d)``.
        scale: standard deviations of the same shape, dtype and device, each ``≥``
            :data:`elbo_book.validation.MIN_SCALE`.

    Returns:
        The distribution, batch shape ``loc.shape[:-1]`` and event shape ``(d,)``.

    Raises:
        ValueError: a tensor is not finite floating point, the shapes differ, or a scale is
            below the floor.
    """
    check_tensor(loc, "loc", min_ndim=1)
    check_scale(scale, "scale", min_ndim=1)
    _check_same_shape(loc, scale, "scale")
    return Independent(Normal(loc, scale, validate_args=False), 1)


def diagonal_gaussian_from_logvar(loc: torch.Tensor, logvar: torch.Tensor) -> Independent:
    """N(loc, diag exp(logvar)) with ``logvar`` clamped to :data:`LOGVAR_BOUNDS`.

    The clamp keeps σ = exp(logvar / 2) strictly positive and finite, so log-densities, samples
    and KL terms stay finite for any finite input (e.g. logvar = ±30 or ±1000).  It is
    straight-through: the gradient reaches ``logvar`` even where the value was clamped.

    Args:
        loc: means, shape ``(..., d)``.
        logvar: log-variances of the same shape, dtype and device.

    Returns:
        The distribution, batch shape ``loc.shape[:-1]`` and event shape ``(d,)``.

    Raises:
        ValueError: a tensor is not finite floating point or the shapes differ.
    """
    check_tensor(loc, "loc", min_ndim=1)
    check_tensor(logvar, "logvar", min_ndim=1)
    _check_same_shape(loc, logvar, "logvar")
    return _gaussian_from_logvar(loc, logvar)


def _gaussian_from_logvar(loc: torch.Tensor, logvar: torch.Tensor) -> Independent:
    clamped = logvar.clamp(*LOGVAR_BOUNDS)
    if logvar.requires_grad:
        # Straight-through: the clamped value, the identity's gradient.
        clamped = logvar + (clamped - logvar).detach()
    scale = clamped.mul(0.5).exp()
    return Independent(Normal(loc, scale, validate_args=False), 1)


def _check_hidden(hidden: object) -> tuple[int, ...]:
    if isinstance(hidden, str) or not isinstance(hidden, tuple | list):
        raise ValueError(
            f"hidden must be a non-empty tuple of layer widths, e.g. (256,) or (256, 128); got "
            f"{hidden!r}"
            + (f" (for one layer write ({hidden},))" if isinstance(hidden, int) else "")
        )
    if not hidden:
        raise ValueError("hidden must contain at least one layer width, got ()")
    return tuple(check_int(width, "each hidden width") for width in hidden)


@dataclass(frozen=True)
class VAEConfig:
    """Hyper-parameters of a :class:`VAE`; plain data so that checkpoints store it safely.

    Args:
        data_dim: the number D of data dimensions (pixels), ≥ 1.
        latent_dim: the number of latent coordinates, ≥ 1.
        hidden: the widths of the encoder's hidden layers (the decoder mirrors them).
        likelihood: ``"bernoulli"`` (binary data) or ``"gaussian"``.
        decoder_scale: the fixed standard deviation of a Gaussian decoder (≥
            :data:`MIN_DECODER_SCALE`), or ``"learned"`` for one learned scale per data
            dimension; None means :data:`DEFAULT_GAUSSIAN_DECODER_SCALE` for a Gaussian decoder
            and 1.0 (unused) for Bernoulli, where any other value is refused.
        activation: ``"relu"``, ``"tanh"`` or ``"softplus"``.

    Raises:
        ValueError: an argument is of the wrong type or out of range.
    """

    data_dim: int
    latent_dim: int
    hidden: tuple[int, ...] = (256,)
    likelihood: Likelihood = "bernoulli"
    decoder_scale: float | Literal["learned"] | None = None
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        # Normalise NumPy / tensor integers and the defaults, so that the stored config is plain.
        set_field = object.__setattr__
        set_field(self, "data_dim", check_int(self.data_dim, "data_dim"))
        set_field(self, "latent_dim", check_int(self.latent_dim, "latent_dim"))
        set_field(self, "hidden", _check_hidden(self.hidden))
        check_choice(self.likelihood, "likelihood", ("bernoulli", "gaussian"))
        check_choice(self.activation, "activation", tuple(_ACTIVATIONS))
        if self.decoder_scale is None:
            default = DEFAULT_GAUSSIAN_DECODER_SCALE if self.likelihood == "gaussian" else 1.0
            set_field(self, "decoder_scale", default)
        elif self.decoder_scale != "learned":
            scale = check_positive(self.decoder_scale, "decoder_scale")
            if scale < MIN_DECODER_SCALE:
                raise ValueError(
                    f"decoder_scale must be >= {MIN_DECODER_SCALE} (MIN_DECODER_SCALE), got "
                    f"{self.decoder_scale!r}; smaller scales make log p(x|z) overflow"
                )
            set_field(self, "decoder_scale", scale)
        if self.likelihood == "bernoulli" and self.decoder_scale != 1.0:
            raise ValueError(
                "decoder_scale applies to the gaussian likelihood only; leave it unset "
                f"for likelihood='bernoulli' (got {self.decoder_scale!r})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a dict of Python scalars, tuples and strings.

        Returns:
            The fields by name (``decoder_scale`` resolved, never None).
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        """Inverse of :meth:`to_dict`.

        Args:
            data: a dict with exactly the fields of :class:`VAEConfig`.

        Returns:
            The configuration.

        Raises:
            ValueError: ``data`` is not a dict, has unknown or missing keys, or a bad value.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a VAE configuration must be a dict, got {type(data).__name__}")
        expected = set(cls.__dataclass_fields__)
        if set(data) != expected:
            raise ValueError(
                f"VAE configuration keys {sorted(data)} do not match the expected "
                f"{sorted(expected)}"
            )
        values = dict(data)
        if isinstance(values["hidden"], list):
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)


def _mlp(sizes: Sequence[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """Linear layers ``sizes[0] → sizes[1] → … → sizes[-1]`` with ``activation()`` between them
    (none after the last), created in that order, so a seeded generator gives the same weights."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Variational autoencoder with MLP encoder and decoder and prior p(z) = N(0, I).

    - encoder: x ↦ (μ, log σ²) ∈ ℝ^{2·latent_dim}; q_φ(z|x) = N(μ, diag σ²), log σ² clamped
      to :data:`LOGVAR_BOUNDS`;
    - decoder: z ↦ logits (Bernoulli) or mean (Gaussian with fixed or learned σ per dimension);
    - ``likelihood`` is an alias of ``decode`` so the VAE is a :class:`LatentVariableModel`.

    Inputs are flat: ``x`` has shape ``(..., data_dim)``, with the model's dtype and device; a
    Bernoulli likelihood requires binary data (exactly 0 or 1), since for other values its
    "log-likelihood" is not a log-density.  The arguments are those of :class:`VAEConfig`.
    """

    _prior_loc: torch.Tensor  # a buffer (registered in __init__)

    def __init__(
        self,
        data_dim: int,
        latent_dim: int,
        hidden: tuple[int, ...] = (256,),
        likelihood: Likelihood = "bernoulli",
        decoder_scale: float | Literal["learned"] | None = None,
        activation: Activation = "relu",
    ) -> None:
        """Build the encoder, decoder and prior (float32, on the CPU; move with ``.to``).

        Args:
            data_dim: the number D of data dimensions (pixels), ≥ 1.
            latent_dim: the number of latent coordinates, ≥ 1.
            hidden: the encoder's hidden widths, e.g. ``(256,)``; the decoder mirrors them.
            likelihood: ``"bernoulli"`` (binary data) or ``"gaussian"``.
            decoder_scale: a Gaussian decoder's fixed standard deviation (≥
                :data:`MIN_DECODER_SCALE`) or ``"learned"``; None gives
                :data:`DEFAULT_GAUSSIAN_DECODER_SCALE` (Gaussian) or 1.0 (Bernoulli, unused).
            activation: ``"relu"``, ``"tanh"`` or ``"softplus"``.

        Raises:
            ValueError: an argument is of the wrong type or out of range.
        """
        super().__init__()
        self.config = VAEConfig(
            data_dim=data_dim,
            latent_dim=latent_dim,
            hidden=hidden,
            likelihood=likelihood,
            decoder_scale=decoder_scale,
            activation=activation,
        )
        data_dim, latent_dim, hidden = (
            self.config.data_dim,
            self.config.latent_dim,
            self.config.hidden,
        )
        self.encoder = _mlp([data_dim, *hidden, 2 * latent_dim], _ACTIVATIONS[activation])
        self.decoder = _mlp([latent_dim, *reversed(hidden), data_dim], _ACTIVATIONS[activation])
        self.decoder_raw_scale: nn.Parameter | None = None
        if likelihood == "gaussian" and decoder_scale == "learned":
            # softplus(0.5413) + 1e-3 ≈ 1.0: start from unit scale.
            self.decoder_raw_scale = nn.Parameter(torch.full((data_dim,), 0.5413))
        # The prior's mean (zeros); as a buffer it also follows the model's device and dtype.
        self.register_buffer("_prior_loc", torch.zeros(latent_dim))
        self._prior_cache: tuple[torch.Tensor, StandardNormal] | None = None

    @classmethod
    def from_config(cls, config: VAEConfig) -> VAE:
        """Build an (untrained) VAE from a :class:`VAEConfig`.

        Args:
            config: the hyper-parameters.

        Returns:
            A freshly initialised VAE.

        Raises:
            ValueError: ``config`` is not a :class:`VAEConfig`.
        """
        if not isinstance(config, VAEConfig):
            raise ValueError(f"config must be a VAEConfig, got {type(config).__name__}")
        return cls(**config.to_dict())

    @property
    def data_dim(self) -> int:
        """The number D of data dimensions."""
        return self.config.data_dim

    @property
    def latent_dim(self) -> int:
        """The number of latent coordinates."""
        return self.config.latent_dim

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point dtype of the parameters (float32 unless moved with ``.to``)."""
        return self._prior_loc.dtype

    @property
    def device(self) -> torch.device:
        """The device of the parameters."""
        return self._prior_loc.device

    def check_data(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Check that ``x`` is data this model can encode and decode.

        Args:
            x: a tensor of shape ``(..., data_dim)`` with at least one example.
            name: the argument's name, used in the error message.

        Returns:
            ``x`` unchanged.

        Raises:
            ValueError: ``x`` is not finite floating point, has the wrong last dimension, no
                examples, another dtype or device than the model, or (Bernoulli) non-binary
                values.
        """
        check_tensor(x, name, min_ndim=1, last_dim=self.data_dim, finite=False)
        if x.numel() == 0:
            raise ValueError(
                f"{name} must contain at least one example, got shape {tuple(x.shape)}"
            )
        if x.dtype != self.dtype:
            raise ValueError(
                f"{name} has dtype {x.dtype} but the model's parameters are {self.dtype}: "
                f"convert the data ({name}.to({self.dtype})) or the model (model.to({x.dtype}))"
            )
        if x.device != self.device:
            raise ValueError(
                f"{name} is on {x.device} but the model is on {self.device}: move one of them "
                f"({name}.to(model.device))"
            )
        check_tensor(x, name)  # finiteness, once the device is known to be the model's
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

        Returns:
            The prior, in the model's dtype and on its device.
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

        Args:
            x: data of shape ``(..., data_dim)`` (see :meth:`check_data`).
            check: False skips :meth:`check_data`, for data already checked (``fit`` checks the
                whole data set once, not every minibatch).

        Returns:
            The diagonal Gaussian q(z|x), event shape ``(latent_dim,)``.

        Raises:
            ValueError: ``x`` fails :meth:`check_data`.
        """
        if check_bool(check, "check"):
            self.check_data(x)
        loc, logvar = self.encoder(x).chunk(2, dim=-1)
        return _gaussian_from_logvar(loc, logvar)

    def forward(self, x: torch.Tensor) -> Independent:
        """Same as :meth:`encode` (with its checks).

        Args:
            x: data of shape ``(..., data_dim)``.

        Returns:
            q(z|x).

        Raises:
            ValueError: ``x`` fails :meth:`check_data`.
        """
        return self.encode(x)

    def decoder_scale(self) -> torch.Tensor:
        """The Gaussian decoder's standard deviation per data dimension.

        Returns:
            A tensor of shape ``(data_dim,)``.

        Raises:
            ValueError: the likelihood is Bernoulli.
        """
        if self.config.likelihood != "gaussian":
            raise ValueError("decoder_scale() exists only for likelihood='gaussian'")
        if self.decoder_raw_scale is not None:
            return F.softplus(self.decoder_raw_scale) + MIN_DECODER_SCALE
        return torch.full(
            (self.data_dim,),
            cast(float, self.config.decoder_scale),  # a number here, resolved by VAEConfig
            dtype=self._prior_loc.dtype,
            device=self._prior_loc.device,
        )

    def decode(self, z: torch.Tensor) -> Independent:
        """p_θ(x|z): independent Bernoulli (logits) or Normal per data dimension.

        Args:
            z: finite latents of shape ``(..., latent_dim)``, in the model's dtype and device.

        Returns:
            p(x|z), batch shape ``z.shape[:-1]`` and event shape ``(data_dim,)``.

        Raises:
            ValueError: ``z`` is not finite floating point of that shape, dtype and device.
        """
        check_tensor(z, "z", min_ndim=1, last_dim=self.latent_dim)
        self._check_placement(z, "z")
        return self._decode(z)

    def _check_placement(self, value: torch.Tensor, name: str) -> None:
        if value.dtype != self.dtype or value.device != self.device:
            raise ValueError(
                f"{name} must have the model's dtype {self.dtype} and device {self.device}, got "
                f"{value.dtype} on {value.device}"
            )

    def _decode(self, z: torch.Tensor) -> Independent:
        out = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=out, validate_args=False), 1)
        return Independent(Normal(out, self.decoder_scale(), validate_args=False), 1)

    def likelihood(self, z: torch.Tensor) -> Independent:
        """:meth:`decode` for latents drawn by the objectives (the :class:`LatentVariableModel`
        interface): checks shape and dtype but not finiteness, which samples from a q with
        finite parameters have by construction.

        Args:
            z: latents of shape ``(..., latent_dim)``.

        Returns:
            p(x|z), as :meth:`decode`.

        Raises:
            ValueError: ``z`` is not a floating-point tensor of that shape.
        """
        check_tensor(z, "z", min_ndim=1, last_dim=self.latent_dim, finite=False)
        return self._decode(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of p_θ(x|z) for ``n`` latents z ~ p(z): pixel probabilities or Gaussian means.

        Args:
            n: the number of samples, ≥ 1.
            generator: the random generator for z (on any device), or None for torch's global
                one.

        Returns:
            A tensor of shape ``(n, data_dim)``.

        Raises:
            ValueError: ``n`` is not a positive integer or ``generator`` not a Generator.
        """
        n = check_int(n, "n")
        check_generator(generator)
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
        """Mean of p_θ(x|z) at the encoder mean z = μ_φ(x).

        Args:
            x: data of shape ``(..., data_dim)`` (see :meth:`check_data`).

        Returns:
            The reconstructions, shape ``x.shape``.

        Raises:
            ValueError: ``x`` fails :meth:`check_data`.
        """
        return self.decode(self.encode(x).mean).mean
