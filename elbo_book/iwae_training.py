"""Training a VAE on the K-sample importance-weighted bound, and the two numbers IWAE papers report.

:func:`fit_iwae` maximises the minibatch mean of log (1/K) Σ_k w_k with Adam, where
w_k = p(x, z_k)/q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016): it is
:func:`elbo_book.training.fit` with an :class:`elbo_book.importance.IWAEObjective` and
``torch.optim.Adam``'s default (unfused) implementation, so ``fit``'s one loop does the
training and its :class:`~elbo_book.training.History` records it (``train_objective``,
``held_out``).  K = 1 is the ordinary VAE trained on the one-draw Monte Carlo ELBO.  After every
epoch it evaluates the same bound L_K on a held-out set (K draws per image, 500 images at a
time, no gradients), and it stops once that held-out bound has converged
(:class:`elbo_book.stopping.Convergence`), so every model is compared at convergence of the
objective it was trained on.  To cache such runs, call :func:`elbo_book.training.cached_fit`
with the same objective and optimizer.

The two numbers are the held-out log-likelihood, the mean over images of the importance-sampled
log p(x) ≈ log (1/K) Σ_k w_k with K = 5000 by default and its standard error over images (sd/√N),
in nats per image (:func:`held_out_log_likelihood`; per image, paired across models:
:func:`log_likelihood_per_image`), and Burda et al.'s count of *active* latent units
(:func:`active_units`): unit u is active when A_u = Cov_x(E_{q(z|x)}[z_u]) > 10⁻², the variance
over the data of the encoder's mean.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from elbo_book.importance import IWAEObjective, log_evidence_estimate
from elbo_book.models import VAE
from elbo_book.stopping import Convergence
from elbo_book.training import History, fit
from elbo_book.validation import check_int, check_positive, check_tensor

__all__ = [
    "active_units",
    "fit_iwae",
    "held_out_log_likelihood",
    "log_likelihood_per_image",
]


def _check_vae(model: object) -> VAE:
    if not isinstance(model, VAE):
        raise ValueError(f"model must be an elbo_book.models.VAE, got {type(model).__name__}")
    return model


def _check_data(model: VAE, x: object, name: str) -> torch.Tensor:
    data = check_tensor(x, name, ndim=2)
    if data.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one example")
    model.check_data(data.to(model.dtype), name)
    return data


def fit_iwae(
    model: VAE,
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    *,
    n_samples: int,
    stopping: Convergence,
    max_epochs: int = 200,
    batch_size: int = 100,
    lr: float = 1e-3,
    estimator: Literal["standard", "dreg"] = "standard",
    seed: int = 0,
) -> History:
    """Train ``model`` with Adam on −L_K until the held-out L_K converges; return the history.

    Each step draws K latents per example and follows the gradient of −mean_n log (1/K)
    Σ_k w_{nk} (:func:`elbo_book.importance.iwae_loss` with ``estimator``).  This is
    ``fit(model, x_train, x_test, objective=IWAEObjective(n_samples, estimator=estimator),
    optimizer=torch.optim.Adam(model.parameters(), lr=lr), epochs=max_epochs, ...)`` on the
    model's device, seeded as :func:`elbo_book.training.fit` is.

    Args:
        model: the :class:`~elbo_book.models.VAE` to train (in place).
        x_train: training data, shape ``(N, data_dim)``, N ≥ 1.
        x_test: held-out data of the same layout, evaluated with L_K after every epoch.
        n_samples: K ≥ 1 (1: the VAE's one-draw ELBO).
        stopping: the rule on the held-out bound, e.g. ``Convergence(window=5, threshold=0.1)``.
        max_epochs: the epoch budget, ≥ 1.
        batch_size: examples per step, ≥ 1.
        lr: Adam's learning rate, > 0.
        estimator: ``"standard"`` (Burda et al.) or ``"dreg"`` (Tucker et al.).
        seed: the seed, an int in [0, 2**63).

    Returns:
        The :class:`~elbo_book.training.History`: ``train_objective`` (the epoch's mean
        minibatch bound) and ``held_out`` (the held-out bound) per epoch, and the stop record.

    Raises:
        ValueError: a bad argument (before any step).
        NonFiniteLossError: the loss became NaN or inf.
    """
    _check_vae(model)
    if not isinstance(stopping, Convergence):
        raise ValueError(f"stopping must be a Convergence, got {type(stopping).__name__}")
    max_epochs = check_int(max_epochs, "max_epochs")
    objective = IWAEObjective(n_samples, estimator=estimator)
    optimizer = torch.optim.Adam(model.parameters(), lr=check_positive(lr, "lr"))
    return fit(
        model,
        x_train,
        x_test,
        objective=objective,
        epochs=max_epochs,
        batch_size=batch_size,
        seed=seed,
        device=model.device,
        progress=False,
        optimizer=optimizer,
        stopping=stopping,
    )


def log_likelihood_per_image(
    model: VAE,
    x: torch.Tensor,
    *,
    n_samples: int = 5000,
    batch_size: int = 50,
) -> torch.Tensor:
    """The importance-sampled log p̂(x) = log (1/K) Σ_k w_k of every image of ``x``.

    K = ``n_samples`` draws from the encoder per image
    (:func:`elbo_book.importance.log_evidence_estimate`), in batches of ``batch_size`` images.
    Each value is biased low by about χ²(p(z|x)‖q)/(2K).  Two models evaluated on the same
    images give paired values, whose differences have a smaller standard error than the two
    means have.

    Args:
        model: the trained :class:`~elbo_book.models.VAE`.
        x: images, shape ``(N, data_dim)``, N ≥ 1.
        n_samples: K ≥ 1 importance draws per image.
        batch_size: images per pass, ≥ 1 (memory: batch_size × chunk of draws).

    Returns:
        The N estimates in nats, float64 on the CPU.

    Raises:
        ValueError: a bad argument.
    """
    _check_vae(model)
    data = _check_data(model, x, "x")
    n_samples = check_int(n_samples, "n_samples")
    batch_size = check_int(batch_size, "batch_size")
    model.eval()
    return torch.cat(
        [
            log_evidence_estimate(
                model, data[s : s + batch_size].to(model.device, model.dtype), n_samples=n_samples
            )
            .double()
            .cpu()
            for s in range(0, data.shape[0], batch_size)
        ]
    )


def held_out_log_likelihood(
    model: VAE,
    x: torch.Tensor,
    *,
    n_samples: int = 5000,
    batch_size: int = 50,
) -> tuple[float, float]:
    """Mean importance-sampled log p(x) over the images of ``x``, and its standard error.

    The mean over the N images of :func:`log_likelihood_per_image` and sd/√N, the standard
    error from the spread over images (the Monte Carlo error of each estimate is part of that
    spread).  Each estimate is biased low by about χ²(p(z|x)‖q)/(2K).

    Args:
        model: the trained :class:`~elbo_book.models.VAE`.
        x: images, shape ``(N, data_dim)``, N ≥ 2.
        n_samples: K ≥ 1 importance draws per image.
        batch_size: images per pass, ≥ 1 (memory: batch_size × chunk of draws).

    Returns:
        ``(mean, standard_error)`` in nats per image.

    Raises:
        ValueError: a bad argument.
    """
    _check_vae(model)
    data = _check_data(model, x, "x")
    if data.shape[0] < 2:
        raise ValueError("x needs at least 2 images for a standard error")
    values = log_likelihood_per_image(model, data, n_samples=n_samples, batch_size=batch_size)
    return float(values.mean()), float(values.std() / math.sqrt(values.numel()))


@torch.no_grad()
def active_units(
    model: VAE, x: torch.Tensor, *, threshold: float = 1e-2
) -> tuple[int, torch.Tensor]:
    """Burda et al.'s active units: A_u = Var_x(E_{q(z|x)}[z_u]) > ``threshold`` (10⁻²).

    A unit whose encoder mean barely moves across the data carries no information about x:
    its q(z_u|x) is (nearly) the same for every image.

    Args:
        model: a :class:`~elbo_book.models.VAE` with a Gaussian encoder.
        x: images, shape ``(N, data_dim)``, N ≥ 2.
        threshold: the activity threshold, > 0.

    Returns:
        ``(count, activity)``, the number of active units and A_u for every unit (float64,
        shape ``(latent_dim,)``; the variance uses 1/(N − 1)).

    Raises:
        ValueError: a bad argument.
    """
    _check_vae(model)
    data = _check_data(model, x, "x")
    if data.shape[0] < 2:
        raise ValueError("x needs at least 2 images for a covariance")
    threshold = check_positive(threshold, "threshold")
    model.eval()
    means = torch.cat(
        [
            model.encode(data[s : s + 1000].to(model.device, model.dtype)).mean.double().cpu()
            for s in range(0, data.shape[0], 1000)
        ]
    )
    activity = means.var(dim=0, correction=1)
    return int((activity > threshold).sum()), activity
