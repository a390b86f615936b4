"""Toy latent-variable models whose posterior and evidence are known exactly.

Both models have the same interface as :class:`elbo_book.models.VAE` where it makes sense —
``prior()``, ``likelihood(z)`` — plus ``exact_posterior(x)`` and ``log_evidence(x)``, so every
objective in :mod:`elbo_book.objectives` and :mod:`elbo_book.importance` runs on them and can be
compared with the exact answer.  They have no encoder: pass the variational distribution ``q``
explicitly (e.g. :func:`elbo_book.models.diagonal_gaussian`, or a ``Categorical``).
"""

from __future__ import annotations

import torch
from torch.distributions import Categorical, Independent, MultivariateNormal, Normal

from elbo_book.validation import (
    MIN_SCALE,
    check_generator,
    check_int,
    check_positive,
    check_tensor,
)

__all__ = ["MIN_CONJUGATE_NOISE_SCALE", "ConjugateGaussian", "GaussianMixture"]

#: The smallest noise scale of :class:`ConjugateGaussian`.  Below it the evidence covariance
#: σ² I + 1 1ᵀ is too ill-conditioned for float32 (its small eigenvalues σ² vanish next to D).
MIN_CONJUGATE_NOISE_SCALE: float = 1e-3


def _check_noise_scale(value: object, floor: float) -> float:
    scale = check_positive(value, "noise_scale")
    if scale < floor:
        raise ValueError(f"noise_scale must be >= {floor:g}, got {value!r}")
    return scale


def _check_data(x: torch.Tensor, data_dim: int) -> torch.Tensor:
    check_tensor(x, "x", min_ndim=1, last_dim=data_dim)
    if x.numel() == 0:
        raise ValueError(f"x must contain at least one example, got shape {tuple(x.shape)}")
    return x


class ConjugateGaussian:
    """z ~ N(0, 1) and, given z, D independent observations x_d ~ N(z, σ²).

    Data ``x`` have shape ``(..., D)`` (any batch); latents ``z`` have shape ``(..., 1)``.
    The exact posterior is N(m, s²) with precision 1/s² = 1 + D/σ² and m = s² Σ_d x_d / σ²;
    the evidence is x ~ N(0, σ² I + 1 1ᵀ).

    The prior and :meth:`sample` are in ``dtype``; everything computed from given ``x`` or ``z``
    follows their dtype, as ``torch.distributions`` does. A float64 model needs no change of
    torch's global default dtype.

    Args:
        data_dim: the number D of observations per example, ≥ 1.
        noise_scale: the observation noise σ ≥ :data:`MIN_CONJUGATE_NOISE_SCALE`.
        dtype: the floating dtype of the prior and of the samples (default ``torch.float32``).

    Raises:
        ValueError: an argument out of range, or ``dtype`` not a floating dtype.
    """

    latent_dim: int = 1

    def __init__(
        self, data_dim: int = 1, noise_scale: float = 1.0, dtype: torch.dtype = torch.float32
    ) -> None:
        self.data_dim = check_int(data_dim, "data_dim")
        self.noise_scale = _check_noise_scale(noise_scale, MIN_CONJUGATE_NOISE_SCALE)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.dtype = dtype

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        return _check_data(x, self.data_dim)

    def prior(self) -> Independent:
        """p(z) = N(0, 1), event shape ``(1,)``.

        Returns:
            The prior.
        """
        return Independent(
            Normal(torch.zeros(1, dtype=self.dtype), torch.ones(1, dtype=self.dtype)), 1
        )

    def likelihood(self, z: torch.Tensor) -> Independent:
        """p(x|z) = Π_d N(x_d; z, σ²), batch shape ``z.shape[:-1]``, event shape ``(D,)``.

        Args:
            z: latents of shape ``(..., 1)``.

        Returns:
            The likelihood.

        Raises:
            ValueError: ``z`` is not a finite floating tensor of that shape.
        """
        check_tensor(z, "z", min_ndim=1, last_dim=1)
        loc = z.expand(*z.shape[:-1], self.data_dim)
        return Independent(Normal(loc, torch.full_like(loc, self.noise_scale)), 1)

    def exact_posterior(self, x: torch.Tensor) -> Independent:
        """p(z|x) = N(m, s²) with 1/s² = 1 + D/σ², m = s² Σ_d x_d / σ².

        Args:
            x: data of shape ``(..., D)`` with at least one example.

        Returns:
            The posterior, batch shape ``x.shape[:-1]``, event shape ``(1,)``.

        Raises:
            ValueError: ``x`` is malformed, non-finite or empty.
        """
        self._check_x(x)
        precision = 1.0 + self.data_dim / self.noise_scale**2
        variance = 1.0 / precision
        loc = variance * x.sum(dim=-1, keepdim=True) / self.noise_scale**2
        return Independent(Normal(loc, torch.full_like(loc, variance**0.5)), 1)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log N(x; 0, σ² I + 1 1ᵀ).

        Args:
            x: data of shape ``(..., D)`` with at least one example.

        Returns:
            The log-evidence, shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is malformed, non-finite or empty.
        """
        self._check_x(x)
        covariance = self.noise_scale**2 * torch.eye(self.data_dim, dtype=x.dtype) + torch.ones(
            self.data_dim, self.data_dim, dtype=x.dtype
        )
        evidence = MultivariateNormal(torch.zeros(self.data_dim, dtype=x.dtype), covariance)
        return evidence.log_prob(x)

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs (z, x) from p(z) p(x|z).

        Args:
            n: the number of pairs, ≥ 1.
            generator: a ``torch.Generator``, or None for torch's global one.

        Returns:
            ``(z, x)`` of shapes ``(n, 1)`` and ``(n, D)``.

        Raises:
            ValueError: a bad argument.
        """
        n = check_int(n, "n")
        check_generator(generator)
        z = torch.randn((n, 1), generator=generator, dtype=self.dtype)
        x = z + self.noise_scale * torch.randn(
            (n, self.data_dim), generator=generator, dtype=self.dtype
        )
        return z, x


class GaussianMixture:
    """A finite mixture: z ~ Categorical(π) on {0..K−1}, x | z = k ~ N(μ_k, σ² I).

    Data ``x`` have shape ``(..., D)``; latents are integer tensors of any shape.

    Args:
        weights: the mixture weights, shape ``(K,)``, positive (normalised internally).
        means: the component means, shape ``(K, D)``.
        noise_scale: the component standard deviation σ ≥
            :data:`elbo_book.validation.MIN_SCALE`.

    Raises:
        ValueError: a tensor is malformed or non-finite, a weight is not positive, or the shapes
            disagree.
    """

    def __init__(
        self, weights: torch.Tensor, means: torch.Tensor, noise_scale: float = 1.0
    ) -> None:
        check_tensor(weights, "weights", ndim=1)
        check_tensor(means, "means", ndim=2)
        if not bool((weights > 0).all()):
            raise ValueError("weights must be > 0 everywhere")
        if means.shape[0] != weights.shape[0]:
            raise ValueError(
                f"means must have one row per component: {weights.shape[0]} weights but "
                f"means of shape {tuple(means.shape)}"
            )
        self.weights = weights / weights.sum()
        self.means = means
        self.noise_scale = _check_noise_scale(noise_scale, MIN_SCALE)
        self.n_components, self.data_dim = means.shape

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        return _check_data(x, self.data_dim)

    def prior(self) -> Categorical:
        """p(z) = Categorical(π).

        Returns:
            The prior over the K components.
        """
        return Categorical(probs=self.weights)

    def likelihood(self, z: torch.Tensor) -> Independent:
        """p(x|z) = N(μ_z, σ² I), batch shape ``z.shape``, event shape ``(D,)``.

        Args:
            z: an integer tensor of component indices in 0..K−1.

        Returns:
            The likelihood.

        Raises:
            ValueError: ``z`` is not an integer tensor or an index is out of range.
        """
        if not isinstance(z, torch.Tensor) or z.is_floating_point() or z.is_complex():
            raise ValueError("z must be an integer tensor of component indices")
        if bool(((z < 0) | (z >= self.n_components)).any()):
            raise ValueError(f"z must lie in 0..{self.n_components - 1}")
        loc = self.means[z]
        return Independent(Normal(loc, torch.full_like(loc, self.noise_scale)), 1)

    def log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x, z = k) = log π_k + log N(x; μ_k, σ² I) for every k.

        Args:
            x: data of shape ``(..., D)`` with at least one example.

        Returns:
            Shape ``(..., K)``.

        Raises:
            ValueError: ``x`` is malformed, non-finite or empty.
        """
        self._check_x(x)
        components = torch.arange(self.n_components).reshape(-1, *([1] * (x.dim() - 1)))
        log_lik = self.likelihood(components).log_prob(x)  # (K, ...)
        return log_lik.movedim(0, -1) + self.weights.log()

    def exact_posterior(self, x: torch.Tensor) -> Categorical:
        """p(z|x) ∝ π_k N(x; μ_k, σ² I), by enumeration.

        Args:
            x: data of shape ``(..., D)`` with at least one example.

        Returns:
            A ``Categorical`` with batch shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is malformed, non-finite or empty.
        """
        return Categorical(logits=self.log_joint(x))

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = log Σ_k π_k N(x; μ_k, σ² I).

        Args:
            x: data of shape ``(..., D)`` with at least one example.

        Returns:
            Shape ``x.shape[:-1]``.

        Raises:
            ValueError: ``x`` is malformed, non-finite or empty.
        """
        return torch.logsumexp(self.log_joint(x), dim=-1)

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` pairs (z, x).

        Args:
            n: the number of pairs, ≥ 1.
            generator: a ``torch.Generator``, or None for torch's global one.

        Returns:
            ``(z, x)`` of shapes ``(n,)`` (integers) and ``(n, D)``.

        Raises:
            ValueError: a bad argument.
        """
        n = check_int(n, "n")
        check_generator(generator)
        z = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        x = self.means[z] + self.noise_scale * torch.randn(
            (n, self.data_dim), generator=generator, dtype=self.means.dtype
        )
        return z, x
