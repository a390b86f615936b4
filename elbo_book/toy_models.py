"""Toy latent-variable models whose posterior and evidence are known exactly.

Each has the interface of :class:`elbo_book.models.VAE` where it makes sense — ``prior()``,
``likelihood(z)`` — and ``log_evidence(x)``, so every objective in :mod:`elbo_book.objectives`
and :mod:`elbo_book.importance` runs on it and can be compared with the exact answer.

* :class:`ConjugateGaussian` and :class:`GaussianMixture` have no encoder (and have
  ``exact_posterior(x)``): pass the variational distribution ``q`` explicitly (e.g.
  :func:`elbo_book.models.diagonal_gaussian`, or a ``Categorical``).
* :class:`LinearGaussianTestBed` is Rainforth et al.'s test bed for gradient estimators: a
  learnable prior mean (its "decoder") and a linear Gaussian encoder, a ``torch.nn.Module``
  trained or differentiated like a VAE.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Independent, MultivariateNormal, Normal

from elbo_book.models import diagonal_gaussian
from elbo_book.validation import (
    MIN_SCALE,
    check_generator,
    check_int,
    check_nonnegative,
    check_positive,
    check_tensor,
)

__all__ = [
    "MIN_CONJUGATE_NOISE_SCALE",
    "ConjugateGaussian",
    "GaussianMixture",
    "LinearGaussianTestBed",
]

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


class LinearGaussianTestBed(nn.Module):
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

    @classmethod
    def near_optimum(
        cls,
        data: torch.Tensor,
        perturbation: float,
        *,
        generator: torch.Generator | None = None,
    ) -> LinearGaussianTestBed:
        """The model at the maximum-likelihood optimum for ``data``, then perturbed.

        For data x_1, …, x_N the optimum is θ* = mean_n x_n, A* = I/2 and b* = θ*/2 (then
        q is the exact posterior's mean with the wider variance 2/3); every entry of θ, A
        and b gets independent N(0, s²) noise, s = ``perturbation``, as in Rainforth et al.
        (2018, §4).

        Args:
            data: the data set, shape ``(N, D)`` with N ≥ 1.
            perturbation: the standard deviation of the noise, ≥ 0.
            generator: the random generator of the noise (None: the global one).

        Returns:
            The perturbed model, in ``data``'s dtype.

        Raises:
            ValueError: malformed ``data`` or a negative ``perturbation``.
        """
        check_tensor(data, "data", ndim=2)
        if data.shape[0] == 0:
            raise ValueError("data must contain at least one row")
        scale = check_nonnegative(perturbation, "perturbation")
        dim, dtype = data.shape[1], data.dtype

        def noise(*shape: int) -> torch.Tensor:
            return scale * torch.randn(*shape, generator=generator, dtype=dtype)

        theta = data.mean(dim=0)
        return cls(
            theta + noise(dim),
            0.5 * torch.eye(dim, dtype=dtype) + noise(dim, dim),
            theta / 2 + noise(dim),
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
