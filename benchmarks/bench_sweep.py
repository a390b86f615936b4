"""A sweep of 20 VAEs: ``elbo_book.sweep.fit_batched`` against 20 sequential ``fit`` runs.

The models are chapter 5's (``VAE(256, 6, hidden=(256,))``, Bernoulli decoder, Adam with
lr 10⁻³, minibatches of 64) on chapter 5's data (the 486 16×16 shapes of ``make_shapes``): 5 seeds
× 4 values of β, :data:`EPOCHS` epochs (8 steps each) per model.  The sequential variant is what a
chapter does without the sweep: for each member, ``torch.manual_seed(seed)``, a new VAE and
``fit(..., seed=seed, beta=beta)``; the batched variant trains the same 20 models in one
``fit_batched`` call — the same computation (the tests compare histories and weights bitwise),
so the script also prints the largest difference between the two variants' histories (0 with
MKL's AVX-512 kernels).

Measurement: :data:`ROUNDS` rounds, each running both variants back to back (alternating which
goes first), once with torch's default thread count (the machine's cores) and once
single-threaded.  The speedup is the ratio of the summed wall-clock times; the ratio of the
summed CPU times (``time.process_time``) is printed beside it, since on a shared machine the wall
clock also counts time the process waited for a core.

Prints ``sweep_S20_vs_sequential: speedup=X (…)`` and the same line for one thread.

Where the time goes (2-core development machine): both variants use the fused Adam of
:func:`elbo_book.training.adam`, which made a sequential ``fit`` step about a third faster
(about 1.9 ms per model and step), and the batched step about 0.7 ms per model.  What is left in
the batched step is arithmetic that batching cannot remove: the stacked matrix products run at
the FLOP rate of one model's (about 100-150 GFLOP/s per core) and are most of the step, then the
Adam update over 2.7 million parameters and the elementwise passes of the loss.  Batching
removes the fixed cost per operation of 20 separate steps (Python, dispatch, autograd
bookkeeping), about two thirds of a ``fit`` step for this small model, which bounds the gain at
about 3× on two cores for this bitwise-exact computation, not 8×.
"""

from __future__ import annotations

import time

import torch

from elbo_book.data import make_shapes
from elbo_book.models import VAE, VAEConfig
from elbo_book.sweep import fit_batched, grid, init_models
from elbo_book.training import History, fit

SEEDS = (0, 1, 2, 3, 4)
BETAS = (0.5, 1.0, 2.0, 4.0)
EPOCHS = 20
ROUNDS = 2
CONFIG = VAEConfig(256, 6, hidden=(256,))
SETTINGS = {"epochs": EPOCHS, "batch_size": 64, "lr": 1e-3, "device": "cpu", "progress": False}


def sequential(x: torch.Tensor) -> list[History]:
    """20 ``fit`` runs, one after another, as chapter 5 trains its models."""
    histories = []
    for member in grid(seeds=SEEDS, betas=BETAS):
        torch.manual_seed(member.seed)
        model = VAE.from_config(CONFIG)
        histories.append(fit(model, x, seed=member.seed, beta=member.beta, **SETTINGS))  # type: ignore[arg-type]
    return histories


def batched(x: torch.Tensor) -> list[History]:
    """The same 20 models in one batched run."""
    members = grid(seeds=SEEDS, betas=BETAS)
    return fit_batched(init_models(CONFIG, members), x, members=members, **SETTINGS)  # type: ignore[arg-type]


def measure(x: torch.Tensor, threads: int) -> tuple[dict[str, float], dict[str, float], float]:
    """Wall and CPU seconds of both variants over :data:`ROUNDS` rounds with ``threads``
    threads, and the largest difference between their histories (nats)."""
    torch.set_num_threads(threads)
    wall = {"batched": 0.0, "sequential": 0.0}
    cpu = dict(wall)
    results: dict[str, list[History]] = {}
    variants = {"batched": batched, "sequential": sequential}
    for r in range(ROUNDS):
        order = ["batched", "sequential"] if r % 2 == 0 else ["sequential", "batched"]
        for name in order:
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            results[name] = variants[name](x)
            wall[name] += time.perf_counter() - start_wall
            cpu[name] += time.process_time() - start_cpu
    gap = max(
        abs(a - b)
        for ha, hb in zip(results["batched"], results["sequential"], strict=True)
        for a, b in zip(ha.elbo + ha.kl, hb.elbo + hb.kl, strict=True)
    )
    return wall, cpu, gap


def main() -> None:
    x = make_shapes().flat
    cores = torch.get_num_threads()
    fit(VAE.from_config(CONFIG), x, epochs=1, batch_size=64, device="cpu", progress=False)
    steps = EPOCHS * -(-x.shape[0] // 64)
    for label, threads in (
        ("sweep_S20_vs_sequential", cores),
        ("sweep_S20_vs_sequential_1_thread", 1),
    ):
        wall, cpu, gap = measure(x, threads)
        print(
            f"{label}: speedup={wall['sequential'] / wall['batched']:.2f} "
            f"(batched {wall['batched']:.2f} s vs sequential {wall['sequential']:.2f} s wall over "
            f"{ROUNDS} rounds; CPU-time ratio {cpu['sequential'] / cpu['batched']:.2f}; largest "
            f"difference of the histories {gap:.1e} nats; {len(SEEDS)} seeds × {len(BETAS)} β, "
            f"{steps} steps each, chapter 5's 256-256-6 VAE on the {x.shape[0]} shapes, batch 64, "
            f"{threads} thread(s))",
            flush=True,
        )
    torch.set_num_threads(cores)


if __name__ == "__main__":
    main()
