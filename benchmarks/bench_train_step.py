"""One VAE training step: ``elbo_book.training.train_step`` against a bare PyTorch loop.

Both run the *same* module (same encoder and decoder weights), the same optimiser settings, the
same minibatches of binarised digits and the same objective (Bernoulli reconstruction summed
over pixels, analytic Gaussian KL summed over latent dimensions, averaged over the batch).  The
bare loop writes the reparameterisation, the log-likelihood and the KL by hand; ``elbo_book``
goes through ``torch.distributions``, input checks and the NaN guard.  Repetitions are
interleaved (alternating which runs first) and the medians compared.  Time is the process's
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

BATCH_SIZES = (128, 512)  # the book's minibatch, and a larger one
STEPS_PER_BLOCK = 25
REPETITIONS = 11


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


def compare(data: torch.Tensor, batch_size: int) -> tuple[float, float, float]:
    """Median CPU seconds per block (elbo_book, bare) and the wall-clock ratio."""
    generator = torch.Generator().manual_seed(0)
    batches = [
        data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)]
        for _ in range(STEPS_PER_BLOCK)
    ]
    models = {name: VAE(64, 8, hidden=(256, 256)) for name in ("elbo_book", "bare")}
    models["bare"].load_state_dict(models["elbo_book"].state_dict())
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    steps = {"elbo_book": train_step, "bare": bare_step}
    times: dict[str, list[tuple[float, float]]] = {"elbo_book": [], "bare": []}
    for name in steps:  # warm-up
        _block(steps[name], models[name], optimizers[name], batches)
    for rep in range(REPETITIONS):
        order = ("elbo_book", "bare") if rep % 2 == 0 else ("bare", "elbo_book")
        for name in order:
            times[name].append(_block(steps[name], models[name], optimizers[name], batches))
    ours, bare = (statistics.median(t[0] for t in times[name]) for name in ("elbo_book", "bare"))
    wall_ours, wall_bare = (
        statistics.median(t[1] for t in times[name]) for name in ("elbo_book", "bare")
    )
    return ours, bare, wall_ours / wall_bare


def main() -> None:
    seed_everything(0)
    data = load_digits(binarize=True).x_train
    for batch_size in BATCH_SIZES:
        ours, bare, wall_ratio = compare(data, batch_size)
        label = "train_step_vs_bare_torch" + (
            "" if batch_size == BATCH_SIZES[0] else f"_batch{batch_size}"
        )
        print(
            f"{label}: ratio={ours / bare:.3f} ({ours:.4f} s vs {bare:.4f} s CPU; "
            f"wall-clock ratio {wall_ratio:.3f}; median of {REPETITIONS} interleaved blocks of "
            f"{STEPS_PER_BLOCK} steps, batch {batch_size}, 64-256-256-8 MLP VAE, "
            f"{torch.get_num_threads()} thread)",
            flush=True,
        )


if __name__ == "__main__":
    main()
