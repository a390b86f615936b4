"""The ELBO, the β-objective, and the rate and distortion terms — per example, explicitly reduced.

For one example x, an encoder q(z|x) and a model p(z) p(x|z):

    ELBO(x)       = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))        (reconstruction − KL)
    β-objective   = E_q[log p(x|z)] − β · KL(q(z|x) ‖ p(z))     (β ≥ 0; β = 1 is the ELBO)
    rate R        = KL(q(z|x) ‖ p(z))                           (Alemi et al. 2018)
    distortion D  = −E_q[log p(x|z)]                            so that ELBO = −(D + R).

Both terms are *sums* over the example's pixels and latent coordinates (``Independent``
distributions), so they are on the same scale; ``reduction`` then applies the same mean or sum
over the batch to both — never a per-pixel mean for one and a per-example sum for the other.

The expectation E_q[log p(x|z)] is a Monte Carlo average over ``n_samples`` reparameterised
draws z ~ q (plain draws if q has no ``rsample``), or exact enumeration when ``n_samples=None``
and q has finite support (e.g. a ``Categorical``).  The KL is analytic
(``torch.distributions.kl_divergence``) when ``analytic_kl=True``, else the Monte Carlo average
of log q(z) − log p(z) over the same draws.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.distributions import Distribution, kl_divergence

from elbo_book.models import LatentVariableModel
from elbo_book.validation import (
    Reduction,
    check_bool,
    check_int,
    check_nonnegative,
    check_reduction,
    check_tensor,
    reduce,
)

__all__ = [
    "ELBOTerms",
    "beta_elbo",
    "distortion",
    "elbo",
    "elbo_terms",
    "rate",
    "variational_distribution",
]


class ELBOTerms(NamedTuple):
    """The ELBO and its two terms, tensors in nats per example (a named tuple).

    ``elbo`` = ``reconstruction`` − ``kl``, with ``reconstruction`` = E_q[log p(x|z)] and
    ``kl`` = KL(q(z|x) ‖ p(z)).
    """

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def variational_distribution(
    model: LatentVariableModel, x: torch.Tensor, q: Distribution | None
) -> Distribution:
    """Return ``q`` (checked against ``x``'s batch shape), or ``model.encode(x)`` if None.

    ``x`` is checked here when ``q`` is given; ``model.encode`` checks it otherwise.

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)`` with at least one example.
        q: a distribution with batch shape ``x.shape[:-1]``, or None.

    Returns:
        The variational distribution to use.

    Raises:
        ValueError: ``model`` lacks ``prior``/``likelihood`` (or ``encode`` when ``q`` is None),
            ``x`` is malformed or empty, or ``q``'s batch shape does not match.
    """
    if not (
        callable(getattr(model, "prior", None)) and callable(getattr(model, "likelihood", None))
    ):
        raise ValueError(
            "model must provide prior() and likelihood(z) (a LatentVariableModel), "
            f"got {type(model).__name__}"
        )
    if q is None:
        encode = getattr(model, "encode", None)
        if encode is None:
            raise ValueError(
                f"{type(model).__name__} has no encoder: pass the variational distribution q"
            )
        return encode(x)
    check_tensor(x, "x", min_ndim=1)
    if x.numel() == 0:
        raise ValueError(f"x must contain at least one example, got shape {tuple(x.shape)}")
    if not isinstance(q, Distribution):
        raise ValueError(f"q must be a torch.distributions.Distribution, got {type(q).__name__}")
    if tuple(q.batch_shape) != tuple(x.shape[:-1]):
        raise ValueError(
            f"q's batch shape {tuple(q.batch_shape)} must equal x's batch shape "
            f"{tuple(x.shape[:-1])} (one q(z|x) per example)"
        )
    return q


def _draw(q: Distribution, shape: torch.Size) -> torch.Tensor:
    return q.rsample(shape) if q.has_rsample else q.sample(shape)


def elbo_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int | None = 1,
    analytic_kl: bool = True,
    reduction: Reduction = "mean",
    check: bool = True,
) -> ELBOTerms:
    """Reconstruction E_q[log p(x|z)], KL(q(z|x) ‖ p(z)) and the ELBO = reconstruction − KL.

    ``x`` has shape ``(..., data_dim)``; per-example values have shape ``x.shape[:-1]`` before
    the ``reduction`` (``"none"``, ``"mean"`` or ``"sum"`` over the batch).  ``n_samples=None``
    enumerates a finite-support q exactly (then the KL is analytic as well).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x) with batch shape ``x.shape[:-1]``, or None for ``model.encode(x)``.
        n_samples: Monte Carlo draws ≥ 1, or None for exact enumeration.
        analytic_kl: whether the KL is closed-form (True) or Monte Carlo (a bool).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.
        check: False skips the checks of ``x`` and of a given ``q`` against it (shape,
            finiteness, batch shape), as :meth:`elbo_book.models.VAE.encode` does: for a
            training loop that checked its whole data set once. The other arguments are
            always checked.

    Returns:
        :class:`ELBOTerms` of tensors (0-d, or ``x.shape[:-1]`` for ``"none"``).

    Raises:
        ValueError: a bad argument.
    """
    check_reduction(reduction)
    analytic_kl = check_bool(analytic_kl, "analytic_kl")
    if check_bool(check, "check") or q is None:
        q = variational_distribution(model, x, q)
    if n_samples is not None:
        check_int(n_samples, "n_samples")
    reconstruction, kl = _reconstruction_and_kl(model, x, q, n_samples, analytic_kl)
    reconstruction = reduce(reconstruction, reduction)
    kl = reduce(kl.expand_as(reconstruction) if reduction == "none" else kl, reduction)
    return ELBOTerms(
        elbo=reconstruction - kl,
        reconstruction=reconstruction,
        kl=kl,
    )


def _reconstruction_and_kl(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution,
    n_samples: int | None,
    analytic_kl: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example E_q[log p(x|z)] and KL(q ‖ p(z)), unreduced, on checked inputs."""
    prior = model.prior()
    if n_samples is None:
        if not q.has_enumerate_support:
            raise ValueError(
                "n_samples=None (exact enumeration) needs a q with finite support, "
                f"got {type(q).__name__}; pass n_samples >= 1 for Monte Carlo"
            )
        support = q.enumerate_support(expand=True)  # (S, *batch)
        weights = q.log_prob(support).exp()
        reconstruction = (weights * model.likelihood(support).log_prob(x)).sum(dim=0)
        return reconstruction, kl_divergence(q, prior)
    # One draw needs no sample dimension (and no mean over it).
    single = n_samples == 1
    z = _draw(q, torch.Size([] if single else [n_samples]))  # ([L], *batch, *event)
    reconstruction = model.likelihood(z).log_prob(x)
    kl = kl_divergence(q, prior) if analytic_kl else q.log_prob(z) - prior.log_prob(z)
    if not single:
        reconstruction = reconstruction.mean(dim=0)
        kl = kl if analytic_kl else kl.mean(dim=0)
    return reconstruction, kl


def elbo(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int | None = 1,
    analytic_kl: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """ELBO(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ log p(x).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x), or None for ``model.encode(x)``.
        n_samples: Monte Carlo draws ≥ 1, or None for exact enumeration.
        analytic_kl: closed-form (True) or Monte Carlo KL.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.

    Returns:
        The ELBO, reduced or per example.

    Raises:
        ValueError: a bad argument (see :func:`elbo_terms`).
    """
    return elbo_terms(
        model, x, q, n_samples=n_samples, analytic_kl=analytic_kl, reduction=reduction
    ).elbo


def beta_elbo(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    beta: float = 1.0,
    n_samples: int | None = 1,
    analytic_kl: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The β-objective E_q[log p(x|z)] − β · KL(q(z|x) ‖ p(z)), β ≥ 0 (Higgins et al. 2017).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x), or None for ``model.encode(x)``.
        beta: the KL weight β ≥ 0.
        n_samples: Monte Carlo draws ≥ 1, or None for exact enumeration.
        analytic_kl: closed-form (True) or Monte Carlo KL.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.

    Returns:
        The objective, reduced or per example.

    Raises:
        ValueError: a bad argument (see :func:`elbo_terms`).
    """
    beta = check_nonnegative(beta, "beta")
    terms = elbo_terms(
        model, x, q, n_samples=n_samples, analytic_kl=analytic_kl, reduction=reduction
    )
    return terms.reconstruction - beta * terms.kl


def rate(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int | None = 1,
    analytic_kl: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The rate R = KL(q(z|x) ‖ p(z)), in nats per example (Alemi et al. 2018).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x), or None for ``model.encode(x)``.
        n_samples: Monte Carlo draws ≥ 1 (used by a Monte Carlo KL), or None.
        analytic_kl: closed-form (True) or Monte Carlo KL.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.

    Returns:
        The rate, reduced or per example.

    Raises:
        ValueError: a bad argument (see :func:`elbo_terms`).
    """
    return elbo_terms(
        model, x, q, n_samples=n_samples, analytic_kl=analytic_kl, reduction=reduction
    ).kl


def distortion(
    model: LatentVariableModel,
    x: torch.Tensor,
    q: Distribution | None = None,
    *,
    n_samples: int | None = 1,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """The distortion D = −E_q[log p(x|z)], in nats per example (Alemi et al. 2018).

    Args:
        model: a :class:`~elbo_book.models.LatentVariableModel`.
        x: data of shape ``(..., data_dim)``.
        q: q(z|x), or None for ``model.encode(x)``.
        n_samples: Monte Carlo draws ≥ 1, or None for exact enumeration.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` over the batch.

    Returns:
        The distortion, reduced or per example.

    Raises:
        ValueError: a bad argument (see :func:`elbo_terms`).
    """
    return -elbo_terms(model, x, q, n_samples=n_samples, reduction=reduction).reconstruction
