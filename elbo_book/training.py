"""Training a VAE by stochastic gradient ascent on the ELBO (or the β-objective, or any objective).

By default each step maximises E_q[log p(x|z)] − w · KL(q(z|x) ‖ p(z)) averaged over a
minibatch, with w = β, or w ramping linearly from 0 to β during a KL warm-up.  The history then
records the true ELBO (w = 1) and its two terms, so numbers from β-VAEs and warm-up epochs are
comparable.  With an :class:`Objective` (``fit(..., objective=...)``) each step minimises that
objective's minibatch loss instead (an importance-weighted bound, a β-TCVAE objective, …), and
the history records minus the loss and the objective's own held-out value.

Data sets (``x_train``, ``x_test``, the ``x`` of :func:`evaluate`) have shape ``(N, data_dim)``
with N ≥ 1: one example per row, so every value is in nats per example (flatten images first).
They may live on any device and have any floating dtype; each batch is moved to the model's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from tqdm import tqdm

from elbo_book.experiment_cache import ExperimentCache, tensor_digest
from elbo_book.models import VAE
from elbo_book.objectives import ELBOTerms, elbo_terms
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
    "Objective",
    "adam",
    "cached_fit",
    "default_device",
    "evaluate",
    "fit",
    "objective_key",
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


@runtime_checkable
class Objective(Protocol):
    """What :func:`fit` can train: a minibatch loss to minimise and a held-out value to watch.

    An objective is any object with these two methods (a structural protocol: no base class is
    needed).  To be cached by :func:`cached_fit` it also needs ``config()``, a JSON-serialisable
    dict of all its parameters (the cache key holds the objective's class and that dict).  An
    objective with its own auxiliary network (e.g. FactorVAE's discriminator) updates that
    network inside ``loss`` with its own optimiser, and says so in its docstring; if it also has
    ``state_dict()`` and ``load_state_dict(state)``, :func:`cached_fit` stores that state with
    the trained model and restores it on a cache hit.
    """

    def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
        """The scalar to minimise for the minibatch ``x`` (a mean over its rows).

        Random draws come from torch's global generator (which :func:`fit` seeds).

        Args:
            model: the model being trained.
            x: a minibatch, shape ``(B, data_dim)``, in the model's dtype and on its device.

        Returns:
            A 0-d tensor that ``backward()`` differentiates with respect to ``model``.

        Raises:
            ValueError: ``x`` does not suit the objective (an implementation's choice).
        """
        ...

    def held_out(self, model: VAE, x: torch.Tensor) -> float:
        """The value to monitor on held-out data, larger is better.

        :func:`fit` calls it after every epoch with the model in eval mode and under
        ``torch.no_grad()``.

        Args:
            model: the model being trained.
            x: the held-out set, shape ``(N, data_dim)`` (any device and floating dtype).

        Returns:
            The value (e.g. a bound in nats per example).

        Raises:
            ValueError: ``x`` does not suit the objective (an implementation's choice).
        """
        ...


@dataclass
class History:
    """Per-epoch averages (nats per example), as Python floats.

    Train values (``elbo``, ``reconstruction``, ``kl``) are averaged over the epoch's examples
    as they were seen during the epoch; ``kl_weight`` is the mean KL weight of the epoch's steps
    (β, or less during a warm-up); test values (empty without a test set) are computed after
    each epoch.  A run trained on an :class:`Objective` records only ``train_objective`` and
    ``held_out`` (the other lists stay empty); a run of the β-objective leaves those two empty.

    Attributes:
        elbo: the train ELBO per epoch.
        reconstruction: the train E_q[log p(x|z)] per epoch.
        kl: the train KL(q(z|x) ‖ p(z)) per epoch.
        kl_weight: the mean KL weight of each epoch's steps.
        test_elbo: the test ELBO after each epoch.
        test_reconstruction: the test reconstruction term after each epoch.
        test_kl: the test KL after each epoch.
        train_objective: with an :class:`Objective`, minus the epoch's mean minibatch loss
            (each batch weighted by its number of examples).
        held_out: with an :class:`Objective` and a test set, ``objective.held_out(model,
            x_test)`` after each epoch.
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
    train_objective: list[float] = field(default_factory=list)
    held_out: list[float] = field(default_factory=list)
    stop_reason: str | None = None
    converged_epoch: int | None = None
    stop_note: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_objective) if self.train_objective else len(self.elbo)

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
                and optionally its stop fields and ``train_objective``/``held_out`` (absent in
                checkpoints written before they existed).

        Returns:
            The history.

        Raises:
            ValueError: keys are missing or unknown, or a value has the wrong type.
        """
        required = set(_EPOCH_FIELDS) - set(_OBJECTIVE_FIELDS)
        optional = {"stop_reason", "converged_epoch", "stop_note", *_OBJECTIVE_FIELDS}
        if not isinstance(data, dict) or not required <= set(data) <= required | optional:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"a History must be a dict with keys {sorted(required)} (and optionally "
                f"{sorted(optional)}), got {keys}"
            )
        values: dict[str, Any] = {}
        for key in _EPOCH_FIELDS:
            column = data.get(key, [])
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
    "train_objective",
    "held_out",
)

#: The per-epoch fields of a run trained on an :class:`Objective` (optional in ``from_dict``).
_OBJECTIVE_FIELDS = ("train_objective", "held_out")

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
    per_example = elbo_terms(model, x, q, n_samples=n_samples, reduction="none", check=False)
    reconstruction, kl = per_example.reconstruction, per_example.kl
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
    objective: Objective | None = None,
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
    """Train ``model`` with Adam on the β-objective or on ``objective``; return the
    per-epoch :class:`History`.

    Seeded: ``torch.manual_seed(seed)`` fixes the reparameterisation noise and a generator with
    the same seed fixes the minibatch order, so the same seed (and thread count) gives identical
    results.  To continue an earlier run, pass its ``optimizer`` and ``history``: the history
    is extended by ``epochs`` more epochs, the warm-up continues where it stopped, and the
    random streams are seeded with ``seed + history.epochs`` (reproducible, though not the same
    draws as one uninterrupted run).  ``stopping`` ends training early once the held-out
    value of the trained objective has converged (it needs ``x_test``); ``epochs`` is then the
    budget, and the history records why training stopped.

    Without ``objective`` each step minimises −mean_n [E_q log p(x_n|z) − w · KL_n] with the KL
    weight w of ``beta`` and ``kl_warmup_epochs`` (:func:`train_step`), and the held-out value
    is :meth:`History.test_objective` (the test ELBO for β = 1, the β-objective otherwise).
    With ``objective`` each step minimises ``objective.loss(model, batch)`` (the same seeding,
    minibatch order and optimiser, so an objective that computes the β-objective exactly as
    :func:`train_step` does reproduces the default path bit for bit), the history records
    ``train_objective`` (minus the epoch's mean loss) and, with ``x_test``, ``held_out``
    (``objective.held_out(model, x_test)`` in eval mode under ``torch.no_grad()``), and
    ``stopping`` watches ``held_out``.

    Args:
        model: the VAE to train (moved to ``device``).
        x_train: training data, shape ``(N, data_dim)``, N ≥ 1 (any floating dtype and device;
            it is moved to the model's).
        x_test: optional held-out data of the same layout, evaluated after every epoch.
        objective: an :class:`Objective` to minimise instead of the β-objective, or None.
            With one, ``beta``, ``kl_warmup_epochs`` and ``n_samples`` must keep their defaults
            (the objective holds its own parameters).
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
        history: the history of the run being continued (extended in place), or None.  It
            must come from a run of the same kind (with or without an objective).
        stopping: a :class:`~elbo_book.stopping.Convergence` rule on the held-out value
            (:meth:`History.test_objective` with this ``beta``, or ``History.held_out`` with an
            objective), or None to train for all ``epochs``.

    Returns:
        The :class:`History` (``history`` itself when given).

    Raises:
        ValueError: a bad argument, raised before any training step; or an objective whose
            loss is not a one-element tensor.
        NonFiniteLossError: the loss became NaN or inf (raised before the parameters change).
    """
    _check_model(model)
    if objective is not None and not isinstance(objective, Objective):
        raise ValueError(
            "objective must be None or an Objective (an object with loss(model, x) and "
            f"held_out(model, x) methods), got {type(objective).__name__}"
        )
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_positive(lr, "lr")
    beta = check_nonnegative(beta, "beta")
    kl_warmup_epochs = check_int(kl_warmup_epochs, "kl_warmup_epochs", minimum=0)
    n_samples = check_int(n_samples, "n_samples")
    if objective is not None:
        changed = [
            name
            for name, value, default in (
                ("beta", beta, 1.0),
                ("kl_warmup_epochs", kl_warmup_epochs, 0),
                ("n_samples", n_samples, 1),
            )
            if value != default
        ]
        if changed:
            raise ValueError(
                f"with an objective, {', '.join(changed)} must keep the default (the objective "
                "holds its own parameters)"
            )
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    device = resolve_device(device)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    if history is not None and not isinstance(history, History):
        raise ValueError(f"history must be a History or None, got {type(history).__name__}")
    if history is not None and history.epochs:
        if objective is None and history.train_objective:
            raise ValueError("history comes from a run with an objective: pass that objective")
        if objective is not None and history.elbo:
            raise ValueError("history comes from a run without an objective: pass objective=None")
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
        if objective is not None:
            total = 0.0
            for start in range(0, data.shape[0], batch_size):
                index = order[start : start + batch_size]
                total += _objective_step(objective, model, optimizer, data[index], step)
                step += 1
            history.train_objective.append(-total / data.shape[0])
            postfix = {"objective": f"{history.train_objective[-1]:.2f}"}
            if x_test is not None:
                model.eval()
                with torch.no_grad():
                    history.held_out.append(float(objective.held_out(model, x_test)))
                model.train()
                postfix["held_out"] = f"{history.held_out[-1]:.2f}"
            watched = history.held_out
        else:
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
            watched = history.test_objective(beta)
        bar.set_postfix(postfix)
        if stopping is not None and stopping.converged(watched):
            history.stop_reason, history.converged_epoch = "converged", history.epochs
            history.stop_note = stopping.describe(watched)
            bar.close()
            return history
    history.stop_reason = "epochs"
    if stopping is not None:
        history.stop_note = stopping.describe(
            history.held_out if objective is not None else history.test_objective(beta)
        )
    return history


def _objective_step(
    objective: Objective,
    model: VAE,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    step: int,
) -> float:
    """One optimiser step on ``objective.loss(model, x)``; returns loss · len(x) (a float)."""
    loss = objective.loss(model, x)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError(
            f"{type(objective).__name__}.loss must return a one-element tensor (the minibatch "
            f"mean), got {type(loss).__name__}"
            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else "")
        )
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLossError(step, {"loss": value})
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value * x.shape[0]


def objective_key(objective: Objective) -> dict[str, Any]:
    """The part of a cache key that names an objective: its class and its ``config()``.

    Args:
        objective: an :class:`Objective` with a ``config()`` method returning a
            JSON-serialisable dict of all its parameters.

    Returns:
        ``{"class": "<module>.<qualified name>", "config": objective.config()}``.

    Raises:
        ValueError: ``objective`` is not an :class:`Objective`, has no ``config()``, or its
            ``config()`` is not a dict.
    """
    if not isinstance(objective, Objective):
        raise ValueError(f"objective must be an Objective, got {type(objective).__name__}")
    config = getattr(objective, "config", None)
    if not callable(config):
        raise ValueError(
            f"{type(objective).__name__} has no config() method: the experiment cache needs "
            "one (a JSON-serialisable dict of the objective's parameters)"
        )
    values = config()
    if not isinstance(values, dict):
        raise ValueError(
            f"{type(objective).__name__}.config() must return a dict, got {type(values).__name__}"
        )
    kind = type(objective)
    return {"class": f"{kind.__module__}.{kind.__qualname__}", "config": values}


def cached_fit(
    model: VAE,
    x_train: torch.Tensor,
    x_test: torch.Tensor | None = None,
    *,
    cache: ExperimentCache | None = None,
    **settings: Any,
) -> tuple[History, bool]:
    """:func:`fit`, or the stored result of an identical earlier run; returns ``(history, hit)``.

    The key (:meth:`~elbo_book.experiment_cache.ExperimentCache.key`) covers the model's
    configuration, a digest of its *initial* weights (so the seed of the initialisation
    counts), digests of both data sets, the resolved device and every setting of :func:`fit`
    except ``progress``; the stopping rule enters through
    :meth:`~elbo_book.stopping.Convergence.to_dict` and an objective through
    :func:`objective_key` (its class and ``config()``, so two objectives with equal configs
    must train identically).  A fresh ``optimizer`` (one that has taken no step) may be given:
    it enters the key by its class and its ``defaults`` (learning rate, betas, ``fused``, …).
    A hit loads the trained weights into ``model`` and leaves it in eval mode (the optimizer is
    not restored); a miss trains with :func:`fit` and stores the weights and the history.  An
    objective with state of its own (``state_dict()`` and ``load_state_dict(state)``, such as
    FactorVAE's discriminator) has that state stored too and restored on a hit, so the objective
    is the trained one either way; a stored run without it is trained again.

    Args:
        model: the freshly initialised :class:`~elbo_book.models.VAE`.
        x_train: training data, as for :func:`fit`.
        x_test: held-out data, as for :func:`fit`.
        cache: the cache; None for ``ExperimentCache()`` (its default folder).
        settings: keyword arguments of :func:`fit` (not ``history``, and ``optimizer`` only
            fresh: a cached run starts from the beginning).

    Returns:
        ``(history, hit)``, the run's :class:`History` and whether it came from the cache.

    Raises:
        ValueError: a bad argument (as :func:`fit`), an unknown setting, ``history`` or an
            optimizer that has already taken steps, or an objective without ``config()``.
        TypeError: a setting that JSON cannot encode (e.g. in an optimizer's defaults).
        NonFiniteLossError: the loss became NaN or inf (a miss only).
    """
    _check_model(model)
    cache = ExperimentCache() if cache is None else cache
    if not isinstance(cache, ExperimentCache):
        raise ValueError(f"cache must be an ExperimentCache or None, got {type(cache).__name__}")
    unknown = set(settings) - _CACHED_SETTINGS
    if unknown:
        raise ValueError(
            f"cached_fit: unknown or uncacheable settings {sorted(unknown)} (allowed: "
            f"{sorted(_CACHED_SETTINGS)}; a cached run cannot continue a history)"
        )
    described: dict[str, Any] = {k: v for k, v in settings.items() if k != "progress"}
    if described.get("objective") is not None:
        described["objective"] = objective_key(described["objective"])
    if described.get("stopping") is not None:
        stopping = described["stopping"]
        if not isinstance(stopping, Convergence):
            raise ValueError(
                f"stopping must be a Convergence or None, got {type(stopping).__name__}"
            )
        described["stopping"] = stopping.to_dict()
    if described.get("optimizer") is not None:
        optimizer = described["optimizer"]
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if optimizer.state:
            raise ValueError("cached_fit needs a fresh optimizer (one that has taken no step)")
        kind = type(optimizer)
        described["optimizer"] = {
            "class": f"{kind.__module__}.{kind.__qualname__}",
            "defaults": dict(optimizer.defaults),
        }
    described["device"] = str(resolve_device(settings.get("device")))
    initial = torch.cat([p.detach().reshape(-1).cpu() for p in model.state_dict().values()])
    key = ExperimentCache.key(
        kind="elbo_book.training.fit",
        config=model.config.to_dict(),
        initial_weights=tensor_digest(initial),
        x_train=tensor_digest(check_tensor(x_train, "x_train", finite=False)),
        x_test=None
        if x_test is None
        else tensor_digest(check_tensor(x_test, "x_test", finite=False)),
        settings=described,
    )
    objective = settings.get("objective")
    stateful = (
        objective
        if callable(getattr(objective, "state_dict", None))
        and callable(getattr(objective, "load_state_dict", None))
        else None
    )
    payload = cache.load(key)
    if payload is not None and (stateful is None or "objective_state" in payload):
        model.load_state_dict(payload["state"])
        model.eval()
        if stateful is not None:
            stateful.load_state_dict(payload["objective_state"])
        return History.from_dict(payload["history"]), True
    history = fit(model, x_train, x_test, **settings)
    result = {"state": model.state_dict(), "history": history.to_dict()}
    if stateful is not None:
        result["objective_state"] = stateful.state_dict()
    cache.save(key, result)
    return history, False


#: The keyword arguments of :func:`fit` that :func:`cached_fit` accepts.
_CACHED_SETTINGS = frozenset(
    {
        "objective",
        "optimizer",
        "epochs",
        "batch_size",
        "lr",
        "beta",
        "kl_warmup_epochs",
        "n_samples",
        "seed",
        "device",
        "progress",
        "stopping",
    }
)
