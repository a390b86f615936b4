"""Training a VAE on the K-sample importance-weighted bound, and the two numbers IWAE papers report.

:func:`fit_iwae` maximises the minibatch mean of log (1/K) Σ_k w_k with Adam, where
w_k = p(x, z_k)/q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016).  K = 1 is the ordinary VAE trained
on the one-draw Monte Carlo ELBO.  After every epoch it evaluates the same bound L_K on a
held-out set (K draws per image, 500 images at a time, no gradients), and it stops once
that held-out bound has converged (:class:`elbo_book.stopping.Convergence`), so every model is
compared at convergence of the objective it was trained on.

The two numbers are the held-out log-likelihood, the mean over images of the importance-sampled
log p(x) ≈ log (1/K) Σ_k w_k with K = 5000 by default and its standard error over images (sd/√N),
in nats per image (:func:`held_out_log_likelihood`; per image, paired across models:
:func:`log_likelihood_per_image`), and Burda et al.'s count of *active* latent units
(:func:`active_units`): unit u is active when A_u = Cov_x(E_{q(z|x)}[z_u]) > 10⁻², the variance
over the data of the encoder's mean.

:func:`cached_fit_iwae` wraps :func:`fit_iwae` in an
:class:`~elbo_book.experiment_cache.ExperimentCache`, keyed by the model's configuration, its
initial weights, the data and the settings, so that a second execution of a chapter loads the
trained weights instead of retraining.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from elbo_book.experiment_cache import ExperimentCache, tensor_digest
from elbo_book.importance import iwae_loss, log_evidence_estimate
from elbo_book.models import VAE
from elbo_book.stopping import Convergence
from elbo_book.validation import check_choice, check_int, check_positive, check_seed, check_tensor

__all__ = [
    "BoundHistory",
    "active_units",
    "cached_fit_iwae",
    "fit_iwae",
    "held_out_log_likelihood",
    "log_likelihood_per_image",
]


@dataclass
class BoundHistory:
    """Per-epoch averages of the K-sample bound (nats per example) and the stop record.

    Attributes:
        n_samples: the K of the bound that was trained and evaluated.
        train_bound: the minibatch bound averaged over each epoch's examples, as they were seen.
        test_bound: the held-out bound after each epoch.
        stop_reason: ``"converged"`` (the rule fired) or ``"epochs"`` (the budget ran out).
        converged_epoch: the epoch after which the rule fired, or None.
        stop_note: a sentence with the details of the stop.
    """

    n_samples: int
    train_bound: list[float] = field(default_factory=list)
    test_bound: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    converged_epoch: int | None = None
    stop_note: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_bound)

    def to_dict(self) -> dict[str, Any]:
        """The history as a dict of plain values (for the experiment cache).

        Returns:
            The fields by name.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> BoundHistory:
        """Inverse of :meth:`to_dict`.

        Args:
            data: a dict with exactly the fields of :class:`BoundHistory`.

        Returns:
            The history.

        Raises:
            ValueError: ``data`` is not such a dict.
        """
        expected = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or set(data) != expected:
            raise ValueError(f"a BoundHistory must be a dict with keys {sorted(expected)}")
        return cls(**data)


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


@torch.no_grad()
def _held_out_bound(model: VAE, x: torch.Tensor, n_samples: int, batch_size: int) -> float:
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size].to(model.device, model.dtype)
        total += float(log_evidence_estimate(model, batch, n_samples=n_samples, reduction="sum"))
    return total / x.shape[0]


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
) -> BoundHistory:
    """Train ``model`` with Adam on −L_K until the held-out L_K converges; return the history.

    Each step draws K latents per example and follows the gradient of −mean_n log (1/K)
    Σ_k w_{nk} (:func:`elbo_book.importance.iwae_loss` with ``estimator``).  Seeded like
    :func:`elbo_book.training.fit`: ``torch.manual_seed(seed)`` for the draws and a generator
    with the same seed for the minibatch order.  Trains on the model's device, in its dtype.

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
        The :class:`BoundHistory`.

    Raises:
        ValueError: a bad argument (before any step), or a loss that became NaN or inf.
    """
    _check_vae(model)
    n_samples = check_int(n_samples, "n_samples")
    if not isinstance(stopping, Convergence):
        raise ValueError(f"stopping must be a Convergence, got {type(stopping).__name__}")
    max_epochs = check_int(max_epochs, "max_epochs")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    check_choice(estimator, "estimator", ("standard", "dreg"))
    seed = check_seed(seed)
    train = _check_data(model, x_train, "x_train").to(model.device, model.dtype)
    _check_data(model, x_test, "x_test")
    torch.manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = BoundHistory(n_samples=n_samples)
    for _ in range(max_epochs):
        model.train()
        order = torch.randperm(train.shape[0], generator=order_generator)
        total = 0.0
        for start in range(0, train.shape[0], batch_size):
            batch = train[order[start : start + batch_size]]
            loss = iwae_loss(model, batch, n_samples=n_samples, estimator=estimator)
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"non-finite loss {value} in epoch {history.epochs + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total -= value * batch.shape[0]
        history.train_bound.append(total / train.shape[0])
        model.eval()
        history.test_bound.append(_held_out_bound(model, x_test, n_samples, 500))
        if stopping.converged(history.test_bound):
            history.stop_reason, history.converged_epoch = "converged", history.epochs
            history.stop_note = stopping.describe(history.test_bound)
            return history
    history.stop_reason = "epochs"
    history.stop_note = stopping.describe(history.test_bound)
    return history


def cached_fit_iwae(
    model: VAE,
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    *,
    cache: ExperimentCache | None = None,
    **settings: Any,
) -> tuple[BoundHistory, bool]:
    """:func:`fit_iwae`, or the stored result of an identical earlier run.

    The key covers the model's configuration, a digest of its *initial* weights (so the seed
    of the initialisation counts), digests of both data sets and every setting; the stopping
    rule enters through :meth:`~elbo_book.stopping.Convergence.to_dict`.  A hit loads the
    trained weights into ``model``.

    Args:
        model: the freshly initialised :class:`~elbo_book.models.VAE`.
        x_train: training data, as for :func:`fit_iwae`.
        x_test: held-out data, as for :func:`fit_iwae`.
        cache: the cache; None for ``ExperimentCache()`` (its default folder).
        settings: the keyword arguments of :func:`fit_iwae` (``n_samples`` and ``stopping``
            required).

    Returns:
        ``(history, hit)``, the run's history and whether it came from the cache.

    Raises:
        ValueError: a bad argument (as :func:`fit_iwae`).
    """
    _check_vae(model)
    cache = ExperimentCache() if cache is None else cache
    if not isinstance(cache, ExperimentCache):
        raise ValueError(f"cache must be an ExperimentCache or None, got {type(cache).__name__}")
    stopping = settings.get("stopping")
    if not isinstance(stopping, Convergence):
        raise ValueError("settings must include stopping=Convergence(...)")
    initial = torch.cat([p.detach().reshape(-1).cpu() for p in model.state_dict().values()])
    description = {
        "kind": "elbo_book.iwae_training.fit_iwae",
        "config": model.config.to_dict(),
        "initial_weights": tensor_digest(initial),
        "x_train": tensor_digest(x_train),
        "x_test": tensor_digest(x_test),
        "settings": {**settings, "stopping": stopping.to_dict()},
    }
    key = ExperimentCache.key(**description)
    payload = cache.load(key)
    if payload is not None:
        model.load_state_dict(payload["state"])
        return BoundHistory.from_dict(payload["history"]), True
    history = fit_iwae(model, x_train, x_test, **settings)
    cache.save(key, {"state": model.state_dict(), "history": history.to_dict()})
    return history, False


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
