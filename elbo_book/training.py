"""Training a VAE by stochastic gradient ascent on the ELBO (or the β-objective).

Each step maximises E_q[log p(x|z)] − w · KL(q(z|x) ‖ p(z)) averaged over a minibatch, with
w = β, or w ramping linearly from 0 to β during a KL warm-up.  The history always records the
true ELBO (w = 1) and its two terms, so numbers from β-VAEs and warm-up epochs are comparable.

Public API:

- :class:`History` — per-epoch train and test ELBO, reconstruction and KL (a dataclass).
- :class:`NonFiniteLossError` — raised when a loss is NaN/inf, with the step and the terms.
- :func:`default_device` — CUDA when available, else CPU.
- :func:`train_step` — one optimiser step on one minibatch; returns the batch's terms.
- :func:`evaluate` — ELBO terms over a data set in minibatches, without gradients.
- :func:`fit` — seeded training loop with optional test set, warm-up, progress bar and
  stopping at convergence of the test-set ELBO (``elbo_book.stopping.Convergence``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from elbo_book.models import VAE
from elbo_book.objectives import ELBOTerms, _reconstruction_and_kl, elbo_terms
from elbo_book.stopping import Convergence
from elbo_book.validation import check_int, check_nonnegative, check_positive

__all__ = [
    "History",
    "NonFiniteLossError",
    "default_device",
    "evaluate",
    "fit",
    "train_step",
]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or inf; ``step`` and ``terms`` say where and which term."""

    def __init__(self, step: int | None, terms: dict[str, float]) -> None:
        self.step = step
        self.terms = terms
        where = "" if step is None else f" at step {step}"
        shown = ", ".join(f"{name}={value}" for name, value in terms.items())
        super().__init__(
            f"non-finite loss{where}: {shown}. Try a smaller learning rate, a KL warm-up or "
            "checking the data for NaN/inf"
        )


@dataclass
class History:
    """Per-epoch averages (nats per example).  Train values are averaged over the epoch's steps;
    test values (empty without a test set) are computed after each epoch.

    ``stop_reason`` says why training ended: ``"epochs"`` (the epoch budget ran out),
    ``"converged"`` (the stopping rule fired after epoch ``converged_epoch``) or ``"non-finite"``
    (a sweep's model whose loss became NaN/inf; :func:`fit` raises instead); ``stop_note`` is a
    sentence with the details.
    """

    elbo: list[float] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)
    kl_weight: list[float] = field(default_factory=list)
    test_elbo: list[float] = field(default_factory=list)
    test_reconstruction: list[float] = field(default_factory=list)
    test_kl: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    converged_epoch: int | None = None
    stop_note: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.elbo)


def default_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_step(
    model: VAE,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    *,
    kl_weight: float = 1.0,
    n_samples: int = 1,
    step: int | None = None,
    check_data: bool = True,
) -> ELBOTerms:
    """One step on the loss −mean_n [E_q log p(x_n|z) − kl_weight · KL_n]; returns batch means.

    The returned terms are detached.  A NaN/inf loss raises :class:`NonFiniteLossError` before
    the parameters are touched.  ``check_data=False`` skips the checks of ``x`` (shape, dtype,
    finiteness, binary values for a Bernoulli decoder); :func:`fit` checks its whole data set
    once and then passes False.
    """
    check_int(n_samples, "n_samples")
    q = model.encode(x, check=check_data)
    reconstruction, kl = _reconstruction_and_kl(model, x, q, n_samples, True)
    loss = (kl - reconstruction if kl_weight == 1.0 else kl_weight * kl - reconstruction).mean()
    reconstruction, kl = reconstruction.detach().mean(), kl.detach().mean()
    value = loss.item()
    if not math.isfinite(value):
        terms = {"loss": value, "reconstruction": float(reconstruction), "kl": float(kl)}
        raise NonFiniteLossError(step, terms)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return ELBOTerms(elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl)


@torch.no_grad()
def evaluate(
    model: VAE, x: torch.Tensor, *, batch_size: int = 512, n_samples: int = 1
) -> ELBOTerms:
    """Mean ELBO, reconstruction and KL per example over ``x`` (Python floats in tensors)."""
    check_int(batch_size, "batch_size")
    device = next(model.parameters()).device
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size].to(device)
        terms = elbo_terms(model, batch, n_samples=n_samples, reduction="sum")
        totals += torch.stack([t.double().cpu() for t in terms])
    means = totals / x.shape[0]
    return ELBOTerms(elbo=means[0], reconstruction=means[1], kl=means[2])


def fit(
    model: VAE,
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    beta: float = 1.0,
    kl_warmup_epochs: int = 0,
    n_samples: int = 1,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    stopping: Convergence | None = None,
) -> History:
    """Train ``model`` with Adam on the β-objective; return the per-epoch :class:`History`.

    Seeded: ``torch.manual_seed(seed)`` fixes the reparameterisation noise and a generator with
    the same seed fixes the minibatch order, so the same seed (and thread count) gives identical
    results.  ``kl_warmup_epochs`` > 0 ramps the KL weight linearly from 0 to β over that many
    epochs.  ``device`` defaults to :func:`default_device`; the model is moved there.
    ``stopping`` ends training early once the test-set ELBO has converged (it needs ``x_test``);
    ``epochs`` is then the budget.  The history records why training stopped.
    """
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    beta = check_nonnegative(beta, "beta")
    kl_warmup_epochs = check_int(kl_warmup_epochs, "kl_warmup_epochs", minimum=0)
    n_samples = check_int(n_samples, "n_samples")
    seed = check_int(seed, "seed", minimum=0)
    model.check_data(x_train, "x_train")
    if x_test is not None:
        model.check_data(x_test, "x_test")
    if stopping is not None and x_test is None:
        raise ValueError("stopping needs a held-out set: pass x_test")
    device = torch.device(device) if device is not None else default_device()

    torch.manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    model.to(device)
    model.train()
    data = x_train.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(data.shape[0] / batch_size)
    warmup_steps = kl_warmup_epochs * steps_per_epoch
    history = History()
    step = 0
    bar = tqdm(range(epochs), disable=not progress, desc="fit", unit="epoch")
    for _ in bar:
        order = torch.randperm(data.shape[0], generator=order_generator).to(device)
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        weight = beta
        for start in range(0, data.shape[0], batch_size):
            index = order[start : start + batch_size]
            weight = beta * min(1.0, step / warmup_steps) if warmup_steps else beta
            terms = train_step(
                model,
                optimizer,
                data[index],
                kl_weight=weight,
                n_samples=n_samples,
                step=step,
                check_data=False,
            )
            sums += torch.stack(terms).double() * index.numel()
            step += 1
        train = (sums / data.shape[0]).tolist()
        history.elbo.append(train[0])
        history.reconstruction.append(train[1])
        history.kl.append(train[2])
        history.kl_weight.append(weight)
        postfix = {"elbo": f"{train[0]:.2f}"}
        if x_test is not None:
            test = evaluate(model, x_test, n_samples=n_samples)
            history.test_elbo.append(float(test.elbo))
            history.test_reconstruction.append(float(test.reconstruction))
            history.test_kl.append(float(test.kl))
            postfix["test_elbo"] = f"{float(test.elbo):.2f}"
        bar.set_postfix(postfix)
        if stopping is not None and stopping.converged(history.test_elbo):
            history.stop_reason, history.converged_epoch = "converged", history.epochs
            history.stop_note = stopping.describe(history.test_elbo)
            bar.close()
            return history
    history.stop_reason = "epochs"
    if stopping is not None:
        history.stop_note = stopping.describe(history.test_elbo)
    return history
