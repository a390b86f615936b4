"""One VAE training step: ``elbo_book.training.train_step`` against a bare PyTorch loop.

All variants run the *same* architecture from the same initial weights, with the same optimiser
settings, the same minibatches of binarised digits and the same objective (Bernoulli
reconstruction summed over pixels, analytic Gaussian KL summed over latent dimensions, averaged
over the batch).  The bare loop writes the reparameterisation, the log-likelihood and the KL by
hand; ``elbo_book`` goes through ``torch.distributions`` and the NaN guard, and is called as
``fit`` calls it: ``fit`` checks the whole data set once, so the step skips the per-minibatch
data checks (``check_data=False``).  A second line times the step *with* those checks, as a
direct call of ``train_step`` does by default.

Measurement: the variants take turns step by step (for every minibatch each variant runs one
step, in an order that rotates), each step timed by the process's CPU time
(``time.process_time``; torch runs single-threaded here).  The ratio is the median, over all
steps, of elbo_book's step time divided by the bare step time on the same minibatch in the same
turn.  Pairing steps that ran milliseconds apart cancels the slow drifts in machine speed that
a shared virtual machine shows; the interquartile range of the paired ratios is printed too.

Optimisers: elbo_book's steps use the Adam that ``fit`` creates (:func:`elbo_book.training.adam`,
PyTorch's fused implementation); the bare loop uses ``torch.optim.Adam(model.parameters())``, what
a hand-written loop gets by default (on the CPU, one sequence of operations per parameter tensor).
A third line compares with a bare loop that also asks for the fused Adam, which isolates the cost
of the step's own code (distributions, NaN guard, returned terms) from the optimiser's.

Prints ``train_step_vs_bare_torch: ratio=R (A s vs B s)`` with A, B the median CPU seconds per
step (elbo_book first).

Where the remaining few per cent go (small model, so fixed per-operation costs dominate): building
the ``Normal``, ``Bernoulli`` and ``Independent`` objects and their argument broadcasting in Python,
the reshape that ``Independent`` adds before each sum (one extra autograd node per term), the
KL's ``log σ`` (the bare loop reuses the log-variance), and the guard's ``loss.item()`` and the
detached batch means that ``train_step`` returns.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from elbo_book.data import load_digits
from elbo_book.models import VAE
from elbo_book.reproducibility import seed_everything
from elbo_book.training import adam, train_step

BATCH_SIZE = 128
STEPS_PER_ROUND = 25
ROUNDS = 40


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


def fit_step(model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor) -> object:
    """``train_step`` as ``fit`` calls it (data checked once beforehand)."""
    return train_step(model, optimizer, x, check_data=False)


def main() -> None:
    seed_everything(0)
    data = load_digits(binarize=True).x_train
    generator = torch.Generator().manual_seed(0)
    batches = [
        data[torch.randint(0, data.shape[0], (BATCH_SIZE,), generator=generator)]
        for _ in range(STEPS_PER_ROUND)
    ]
    steps = {
        "elbo_book": fit_step,
        "checked": train_step,
        "bare": bare_step,
        "bare_fused": bare_step,
    }
    models = {name: VAE(64, 8, hidden=(256, 256)) for name in steps}
    for name in ("checked", "bare", "bare_fused"):
        models[name].load_state_dict(models["elbo_book"].state_dict())
    optimizers = {
        "elbo_book": adam(models["elbo_book"].parameters(), 1e-3),
        "checked": adam(models["checked"].parameters(), 1e-3),
        "bare": torch.optim.Adam(models["bare"].parameters(), lr=1e-3),
        "bare_fused": torch.optim.Adam(models["bare_fused"].parameters(), lr=1e-3, fused=True),
    }
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for turn in range(-1, ROUNDS * STEPS_PER_ROUND):  # turn -1 warms every variant up
        x = batches[turn % STEPS_PER_ROUND]
        first = turn % len(names)
        for name in names[first:] + names[:first]:
            start = time.process_time()
            steps[name](models[name], optimizers[name], x)
            if turn >= 0:
                times[name].append(time.process_time() - start)
    setting = (
        f"median over {ROUNDS * STEPS_PER_ROUND} paired steps, batch {BATCH_SIZE}, "
        f"64-256-256-8 MLP VAE, {torch.get_num_threads()} thread"
    )
    for label, name, reference in (
        ("train_step_vs_bare_torch", "elbo_book", "bare"),
        ("train_step_checked_vs_bare_torch", "checked", "bare"),
        ("train_step_vs_bare_torch_fused_adam", "elbo_book", "bare_fused"),
    ):
        ratios = [a / b for a, b in zip(times[name], times[reference], strict=True)]
        low, _, high = statistics.quantiles(ratios, n=4)
        print(
            f"{label}: ratio={statistics.median(ratios):.3f} "
            f"({statistics.median(times[name]):.5f} s vs "
            f"{statistics.median(times[reference]):.5f} s CPU per step; "
            f"interquartile range of the paired ratios {low:.3f}-{high:.3f}; {setting})",
            flush=True,
        )


if __name__ == "__main__":
    main()
