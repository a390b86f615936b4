"""Training a VAE by stochastic gradient ascent on the ELBO (or the β-objective).

Each step maximises E_q[log p(x|z)] − w · KL(q(z|x) ‖ p(z)) averaged over a minibatch, with
w = β, or w ramping linearly from 0 to β during a KL warm-up.  The history always records the
true ELBO (w = 1) and its two terms, so numbers from β-VAEs and warm-up epochs are comparable.

Data sets (``x_train``, ``x_test``, the ``x`` of :func:`evaluate`) have shape ``(N, data_dim)``
with N ≥ 1: one example per row, so every value is in nats per example (flatten images first).
They may live on any device and have any floating dtype; each batch is moved to the model's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from elbo_book.models import VAE
from elbo_book.objectives import ELBOTerms, _reconstruction_and_kl, elbo_terms
from elbo_book.stopping import Convergence
from elbo_book.validation import (
    check_bool,
    check_int,
    check_nonnegative,
    check_positive,
    check_seed,
    check_tensor,
)

__all__ = [
    "History",
    "NonFiniteLossError",
    "adam",
    "default_device",
    "evaluate",
    "fit",
    "resolve_device",
    "train_step",
]


#: Devices on which :func:`adam` uses PyTorch's fused implementation.
FUSED_ADAM_DEVICES = frozenset({"cpu", "cuda"})


def adam(parameters: Iterable[torch.Tensor], lr: float) -> torch.optim.Adam:
    """The Adam optimiser :func:`fit` trains with (β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸, no decay).

    The update is Adam's, m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², θ ← θ − lr·m̂/(√v̂ + ε)
    with the bias corrections m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ).  On the CPU and on CUDA it
    uses PyTorch's fused implementation, one kernel for all parameters instead of about eight
    operations per parameter tensor: the same arithmetic per element, so the result does not
    depend on how the parameters are split into tensors (a stack of S models' weights is updated
    exactly as S separate optimisers would update them), and for a small model the step's
    fixed costs fall by more than half.  Elsewhere it is ``torch.optim.Adam``'s default.

    Args:
        parameters: the tensors to optimise (all on one device).
        lr: the learning rate, > 0.

    Returns:
        A ``torch.optim.Adam`` over ``parameters``.

    Raises:
        ValueError: ``lr`` is not a positive number, or ``parameters`` is empty.
    """
    lr = check_positive(lr, "lr")
    parameters = list(parameters)
    if not parameters:
        raise ValueError("adam needs at least one parameter")
    fused = all(
        p.device.type in FUSED_ADAM_DEVICES and p.dtype.is_floating_point for p in parameters
    )
    return torch.optim.Adam(parameters, lr=lr, fused=fused or None)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or inf; ``step`` and ``terms`` say where and which term.

    Args:
        step: the optimiser step (from 0), or None when unknown.
        terms: the loss and its terms at that step.
    """

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
    """Per-epoch averages (nats per example), as Python floats.

    Train values (``elbo``, ``reconstruction``, ``kl``) are averaged over the epoch's examples
    as they were seen during the epoch; ``kl_weight`` is the mean KL weight of the epoch's steps
    (β, or less during a warm-up); test values (empty without a test set) are computed after
    each epoch.

    Attributes:
        elbo: the train ELBO per epoch.
        reconstruction: the train E_q[log p(x|z)] per epoch.
        kl: the train KL(q(z|x) ‖ p(z)) per epoch.
        kl_weight: the mean KL weight of each epoch's steps.
        test_elbo: the test ELBO after each epoch.
        test_reconstruction: the test reconstruction term after each epoch.
        test_kl: the test KL after each epoch.
        stop_reason: why training ended: ``"epochs"`` (the epoch budget ran out),
            ``"converged"`` (the stopping rule fired after epoch ``converged_epoch``) or
            ``"non-finite"`` (a sweep's model whose loss became NaN/inf; :func:`fit` raises
            instead).
        converged_epoch: the epoch after which the stopping rule fired, or None.
        stop_note: a sentence with the details of the stop.
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

    def test_objective(self, beta: float) -> list[float]:
        """The held-out value of the objective trained with KL weight β, after each epoch:
        test_reconstruction − β · test_kl, which for β = 1 is ``test_elbo`` itself (returned
        as recorded).  This is what a stopping rule watches: for β ≠ 1 the ELBO is not the
        trained objective, and it can fall while the β-objective still improves.

        Args:
            beta: the KL weight β ≥ 0 the model was trained with.

        Returns:
            one value per evaluated epoch (empty without a test set).

        Raises:
            ValueError: ``beta`` is not a finite number ≥ 0.
        """
        beta = check_nonnegative(beta, "beta")
        if beta == 1.0:
            return list(self.test_elbo)
        return [r - beta * k for r, k in zip(self.test_reconstruction, self.test_kl, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """The history as a dict (for checkpoints and JSON).

        Returns:
            One list of floats per per-epoch field, and the three stop fields as they are.
        """
        data: dict[str, Any] = {key: list(getattr(self, key)) for key in _EPOCH_FIELDS}
        data.update(
            stop_reason=self.stop_reason,
            converged_epoch=self.converged_epoch,
            stop_note=self.stop_note,
        )
        return data

    @classmethod
    def from_dict(cls, data: object) -> History:
        """Inverse of :meth:`to_dict`.

        Args:
            data: a dict with the per-epoch fields of :class:`History`, each a list of numbers,
                and optionally its stop fields (absent in checkpoints written before they
                existed).

        Returns:
            The history.

        Raises:
            ValueError: keys are missing or unknown, or a value has the wrong type.
        """
        required, optional = set(_EPOCH_FIELDS), {"stop_reason", "converged_epoch", "stop_note"}
        if not isinstance(data, dict) or not required <= set(data) <= required | optional:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"a History must be a dict with keys {sorted(required)} (and optionally "
                f"{sorted(optional)}), got {keys}"
            )
        values: dict[str, Any] = {}
        for key in _EPOCH_FIELDS:
            column = data[key]
            if not isinstance(column, list) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in column
            ):
                raise ValueError(f"History field {key!r} must be a list of numbers")
            values[key] = [float(v) for v in column]
        reason = data.get("stop_reason")
        if reason not in (None, *STOP_REASONS):
            raise ValueError(f"History stop_reason must be None or one of {STOP_REASONS}")
        epoch = data.get("converged_epoch")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
            raise ValueError("History converged_epoch must be None or an int")
        note = data.get("stop_note", "")
        if not isinstance(note, str):
            raise ValueError("History stop_note must be a str")
        return cls(**values, stop_reason=reason, converged_epoch=epoch, stop_note=note)


#: The per-epoch fields of :class:`History`, each a list of floats.
_EPOCH_FIELDS = (
    "elbo",
    "reconstruction",
    "kl",
    "kl_weight",
    "test_elbo",
    "test_reconstruction",
    "test_kl",
)

#: The values of :attr:`History.stop_reason` (besides None: not finished).
STOP_REASONS = ("epochs", "converged", "non-finite")


def default_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``.

    Returns:
        The device.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: object) -> torch.device:
    """A checked device: None gives :func:`default_device`.

    Args:
        device: None, a ``torch.device`` or a name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``.

    Returns:
        The ``torch.device``.

    Raises:
        ValueError: the name is not a device, or names CUDA (or MPS) where it is not available.
    """
    if device is None:
        return default_device()
    if not isinstance(device, str | torch.device):
        raise ValueError(f"device must be None, a str or a torch.device, got {device!r}")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device {device!r} is not a device name (e.g. 'cpu', 'cuda')") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asks for CUDA, which is not available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} asks for MPS, which is not available here")
    elif resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r}: use 'cpu' or 'cuda'")
    return resolved


def _check_model(model: object) -> VAE:
    if not isinstance(model, VAE):
        raise ValueError(
            f"model must be an elbo_book.models.VAE, got {type(model).__name__} (for other "
            "models write the loop with elbo_book.objectives)"
        )
    return model


def _check_dataset(model: VAE, x: object, name: str) -> torch.Tensor:
    """``x`` as a checked ``(N, D)`` data set, N ≥ 1 (any device and floating dtype)."""
    data = check_tensor(x, name, finite=False)
    if data.dim() != 2:
        hint = " (flatten images: x.reshape(len(x), -1))" if data.dim() > 2 else ""
        raise ValueError(
            f"{name} must have shape (N, data_dim) = (N, {model.data_dim}), one example per "
            f"row, got shape {tuple(data.shape)}{hint}"
        )
    if data.shape[0] == 0:
        raise ValueError(f"{name} must contain at least one example, got shape (0, ...)")
    if data.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (no data); load the data first")
    model.check_data(data.to(model.device, model.dtype), name)
    return data


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

    Args:
        model: the VAE to update.
        optimizer: an optimiser over ``model``'s parameters.
        x: a minibatch of shape ``(B, data_dim)`` in the model's dtype and device.
        kl_weight: the weight w ≥ 0 of the KL term (1 = ELBO, β for a β-VAE).
        n_samples: Monte Carlo draws per example, ≥ 1.
        step: the step number, only used in the message of :class:`NonFiniteLossError`.
        check_data: False skips the checks of ``x`` (shape, dtype, finiteness, binary values
            for a Bernoulli decoder); :func:`fit` checks its whole data set once and then
            passes False.

    Returns:
        The batch-mean ELBO, reconstruction and KL (detached 0-d tensors).

    Raises:
        ValueError: a bad argument.
        NonFiniteLossError: the loss is NaN or inf (raised before the parameters change).
    """
    _check_model(model)
    check_int(n_samples, "n_samples")
    kl_weight = check_nonnegative(kl_weight, "kl_weight")
    check_data = check_bool(check_data, "check_data")
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
    """Mean ELBO, reconstruction and KL per example over the N rows of ``x``, without gradients.

    Args:
        model: the VAE.
        x: the data set, shape ``(N, data_dim)`` with N ≥ 1 (any device and floating dtype;
            batches are moved to the model's).
        batch_size: examples per forward pass, ≥ 1.
        n_samples: Monte Carlo draws per example, ≥ 1.

    Returns:
        :class:`~elbo_book.objectives.ELBOTerms` of 0-d float64 CPU tensors (nats per
        example); ``float(terms.elbo)`` is the number.

    Raises:
        ValueError: a bad argument (wrong model class, shape, empty or non-finite data, ...).
    """
    _check_model(model)
    batch_size = check_int(batch_size, "batch_size")
    n_samples = check_int(n_samples, "n_samples")
    _check_dataset(model, x, "x")
    return _evaluate(model, x, batch_size, n_samples)


@torch.no_grad()
def _evaluate(model: VAE, x: torch.Tensor, batch_size: int, n_samples: int) -> ELBOTerms:
    """:func:`evaluate` on checked arguments."""
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch_size):
        batch = x[start : start + batch_size].to(model.device, model.dtype)
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
    optimizer: torch.optim.Optimizer | None = None,
    history: History | None = None,
    stopping: Convergence | None = None,
) -> History:
    """Train ``model`` with Adam on the β-objective; return the per-epoch :class:`History`.

    Seeded: ``torch.manual_seed(seed)`` fixes the reparameterisation noise and a generator with
    the same seed fixes the minibatch order, so the same seed (and thread count) gives identical
    results.  To continue an earlier run, pass its ``optimizer`` and ``history``: the history
    is extended by ``epochs`` more epochs, the warm-up continues where it stopped, and the
    random streams are seeded with ``seed + history.epochs`` (reproducible, though not the same
    draws as one uninterrupted run).  ``stopping`` ends training early once the held-out
    value of the trained objective (:meth:`History.test_objective`: the test ELBO for β = 1,
    the β-objective otherwise) has converged (it needs ``x_test``); ``epochs`` is then the
    budget, and the history records why training stopped.

    Args:
        model: the VAE to train (moved to ``device``).
        x_train: training data, shape ``(N, data_dim)``, N ≥ 1 (any floating dtype and device;
            it is moved to the model's).
        x_test: optional held-out data of the same layout, evaluated after every epoch.
        epochs: epochs to train (in this call), ≥ 1.
        batch_size: examples per step, ≥ 1 (the last step of an epoch may be smaller).
        lr: Adam's learning rate, > 0 (ignored when ``optimizer`` is given).
        beta: the KL weight β ≥ 0 (1 = the ELBO).
        kl_warmup_epochs: ≥ 0; when > 0 the KL weight ramps linearly from 0 to β over that many
            epochs.
        n_samples: Monte Carlo draws per example and step, ≥ 1.
        seed: the seed, an int in [0, 2**63).
        device: ``"cpu"``, ``"cuda"``, a ``torch.device`` or None for :func:`default_device`.
        progress: whether to show a progress bar (a bool).
        optimizer: an optimiser over ``model``'s parameters to continue with, or None for a new
            :func:`adam`.
        history: the history of the run being continued (extended in place), or None.
        stopping: a :class:`~elbo_book.stopping.Convergence` rule on the held-out objective
            (:meth:`History.test_objective` with this ``beta``), or None
            to train for all ``epochs``.

    Returns:
        The :class:`History` (``history`` itself when given).

    Raises:
        ValueError: a bad argument, raised before any training step.
        NonFiniteLossError: the loss became NaN or inf.
    """
    _check_model(model)
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    beta = check_nonnegative(beta, "beta")
    kl_warmup_epochs = check_int(kl_warmup_epochs, "kl_warmup_epochs", minimum=0)
    n_samples = check_int(n_samples, "n_samples")
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    device = resolve_device(device)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    if history is not None and not isinstance(history, History):
        raise ValueError(f"history must be a History or None, got {type(history).__name__}")
    _check_dataset(model, x_train, "x_train")
    if x_test is not None:
        _check_dataset(model, x_test, "x_test")
    if stopping is not None and not isinstance(stopping, Convergence):
        raise ValueError(f"stopping must be a Convergence or None, got {type(stopping).__name__}")
    if stopping is not None and x_test is None:
        raise ValueError("stopping needs a held-out set: pass x_test")
    model.to(device)

    history = History() if history is None else history
    done = history.epochs
    if done:
        seed = (seed + done) % (2**63)
    torch.manual_seed(seed)
    order_generator = torch.Generator().manual_seed(seed)
    model.train()
    data = x_train.to(device, model.dtype)
    if optimizer is None:
        optimizer = adam(model.parameters(), lr)
    steps_per_epoch = math.ceil(data.shape[0] / batch_size)
    warmup_steps = kl_warmup_epochs * steps_per_epoch
    step = done * steps_per_epoch
    bar = tqdm(range(epochs), disable=not progress, desc="fit", unit="epoch")
    for _ in bar:
        order = torch.randperm(data.shape[0], generator=order_generator).to(device)
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        weight_sum = 0.0
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
            weight_sum += weight
            step += 1
        train = (sums / data.shape[0]).tolist()
        history.elbo.append(train[0])
        history.reconstruction.append(train[1])
        history.kl.append(train[2])
        history.kl_weight.append(weight_sum / steps_per_epoch)
        postfix = {"elbo": f"{train[0]:.2f}"}
        if x_test is not None:
            test = _evaluate(model, x_test, 512, n_samples)
            history.test_elbo.append(float(test.elbo))
            history.test_reconstruction.append(float(test.reconstruction))
            history.test_kl.append(float(test.kl))
            postfix["test_elbo"] = f"{float(test.elbo):.2f}"
        bar.set_postfix(postfix)
        if stopping is not None and stopping.converged(history.test_objective(beta)):
            history.stop_reason, history.converged_epoch = "converged", history.epochs
            history.stop_note = stopping.describe(history.test_objective(beta))
            bar.close()
            return history
    history.stop_reason = "epochs"
    if stopping is not None:
        history.stop_note = stopping.describe(history.test_objective(beta))
    return history
