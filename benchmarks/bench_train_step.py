"""One VAE training step: ``elbo_book.training.train_step`` against a bare PyTorch loop.

Both run the *same* module (same encoder and decoder weights), the same optimiser settings, the
same minibatches of binarised digits and the same objective (Bernoulli reconstruction summed
over pixels, analytic Gaussian KL summed over latent dimensions, averaged over the batch).  The
bare loop writes the reparameterisation, the log-likelihood and the KL by hand; ``elbo_book``
goes through ``torch.distributions`` and the NaN guard, and is called as ``fit`` calls it:
``fit`` checks the whole data set once, so the step skips the per-minibatch data checks
(``check_data=False``).  A second line times the step *with* those checks, as a direct call of
``train_step`` does by default.  Repetitions are interleaved (rotating which runs first) and the
medians compared.  Time is the process's
CPU time (``time.process_time``; torch runs single-threaded here), which other programs
sharing the machine disturb far less than wall-clock time; the wall-clock ratio is printed too.

Prints ``train_step_vs_bare_torch: ratio=R (A s vs B s)`` with A, B the median CPU seconds per
block of steps (elbo_book first).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from elbo_book.data import load_digits
from elbo_book.models import VAE
from elbo_book.reproducibility import seed_everything
from elbo_book.training import train_step

BATCH_SIZE = 128
STEPS_PER_BLOCK = 25
REPETITIONS = 12


def bare_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> torch.Tensor:
    """The same step written directly against torch, as a user without the library would."""
    loc, logvar = model.encoder(x).chunk(2, dim=-1)
    logvar = logvar.clamp(-30.0, 30.0)
    z = loc + torch.exp(0.5 * logvar) * torch.randn_like(loc)
    logits = model.decoder(z)
    reconstruction = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = 0.5 * (loc**2 + logvar.exp() - 1.0 - logvar).sum(-1)
    loss = (kl - reconstruction).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _block(
    step: Callable[[VAE, torch.optim.Optimizer, torch.Tensor], object],
    model: VAE,
    optimizer: torch.optim.Optimizer,
    batches: list[torch.Tensor],
) -> tuple[float, float]:
    """CPU and wall-clock seconds for one step per batch."""
    cpu, wall = time.process_time(), time.perf_counter()
    for x in batches:
        step(model, optimizer, x)
    return time.process_time() - cpu, time.perf_counter() - wall


def fit_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> object:
    """``train_step`` as ``fit`` calls it (data checked once beforehand)."""
    return train_step(model, optimizer, x, check_data=False)


def main() -> None:
    seed_everything(0)
    data = load_digits(binarize=True).x_train
    generator = torch.Generator().manual_seed(0)
    batches = [
        data[torch.randint(0, data.shape[0], (BATCH_SIZE,), generator=generator)]
        for _ in range(STEPS_PER_BLOCK)
    ]
    steps = {"elbo_book": fit_step, "checked": train_step, "bare": bare_step}
    models = {name: VAE(64, 8, hidden=(256, 256)) for name in steps}
    for name in ("checked", "bare"):
        models[name].load_state_dict(models["elbo_book"].state_dict())
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    names = list(steps)
    for name in names:  # warm-up
        _block(steps[name], models[name], optimizers[name], batches)
    for rep in range(REPETITIONS):
        for name in names[rep % 3 :] + names[: rep % 3]:
            times[name].append(_block(steps[name], models[name], optimizers[name], batches))
    cpu = {name: statistics.median(t[0] for t in times[name]) for name in names}
    wall = {name: statistics.median(t[1] for t in times[name]) for name in names}
    setting = (
        f"median of {REPETITIONS} interleaved blocks of {STEPS_PER_BLOCK} steps, batch "
        f"{BATCH_SIZE}, 64-256-256-8 MLP VAE, {torch.get_num_threads()} thread"
    )
    for label, name in (
        ("train_step_vs_bare_torch", "elbo_book"),
        ("train_step_checked_vs_bare_torch", "checked"),
    ):
        print(
            f"{label}: ratio={cpu[name] / cpu['bare']:.3f} ({cpu[name]:.4f} s vs "
            f"{cpu['bare']:.4f} s CPU; wall-clock ratio {wall[name] / wall['bare']:.3f}; "
            f"{setting})",
            flush=True,
        )


if __name__ == "__main__":
    main()
