"""``python -m elbo_book sweep``: train a grid of seeds × β × KL warm-up in one batched run.

Every member of the grid is a VAE of the same architecture, trained by
:func:`elbo_book.sweep.train_sweep` (all models in one batched loop, with a progress bar) on one
train/test split (``--split-seed``).  The output folder gets, per member, a checkpoint
``seed<S>_beta<B>_warmup<W>.pt`` (loadable by ``python -m elbo_book evaluate``) and its history
``….history.json``; the command prints one line per member and, for two or more seeds, the
final test ELBO per β as mean ± standard error over seeds.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:  # imported when the command runs, so that --help needs no torch
    import torch

    from elbo_book.models import Likelihood
    from elbo_book.sweep import Member

__all__ = ["add_sweep_command", "run_sweep"]


def add_sweep_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], datasets: list[str]
) -> argparse.ArgumentParser:
    """Add ``sweep`` (with its options) to ``commands``; ``datasets`` are the ``--data`` names.

    Args:
        commands: what ``ArgumentParser.add_subparsers`` returned.
        datasets: the data set names the command line knows.

    Returns:
        the new sub-parser.
    """
    sweep = commands.add_parser(
        "sweep", help="train a grid of seeds × β (× KL warm-up) batched; one checkpoint each"
    )
    sweep.add_argument("--data", choices=datasets, default="digits-binary")
    sweep.add_argument("--mnist-path", help="local MNIST .npz (for --data mnist/mnist-binary)")
    sweep.add_argument("--split-seed", type=int, default=0, help="seed of the train/test split")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sweep.add_argument("--betas", type=float, nargs="+", default=[1.0], help="KL weights β ≥ 0")
    sweep.add_argument("--kl-warmup-epochs", type=int, nargs="+", default=[0])
    sweep.add_argument("--latent-dim", type=int, default=4)
    sweep.add_argument("--hidden", type=int, nargs="+", default=[256], help="hidden widths")
    sweep.add_argument(
        "--likelihood",
        choices=["bernoulli", "gaussian"],
        help="decoder likelihood (default: bernoulli for binary data, else gaussian)",
    )
    sweep.add_argument("--decoder-scale", default="0.1", help="Gaussian σ, or 'learned'")
    sweep.add_argument("--epochs", type=int, default=50, help="epoch budget")
    sweep.add_argument("--batch-size", type=int, default=128)
    sweep.add_argument("--lr", type=float, default=1e-3)
    sweep.add_argument(
        "--converge",
        nargs=2,
        type=float,
        metavar=("WINDOW", "THRESHOLD"),
        help="stop a model once its test ELBO improved by < THRESHOLD nats in WINDOW epochs",
    )
    sweep.add_argument("--cache", type=Path, help="experiment cache folder (default: no cache)")
    sweep.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    sweep.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--output-dir", "-o", type=Path, required=True)
    return sweep


def _stem(member: Member) -> str:
    return f"seed{member.seed}_beta{member.beta:g}_warmup{member.kl_warmup_epochs}"


def run_sweep(
    args: argparse.Namespace, x_train: torch.Tensor, x_test: torch.Tensor, binary: bool
) -> int:
    """Train the grid that ``args`` describes on ``x_train`` (tested on ``x_test``).

    Args:
        args: parsed ``sweep`` arguments.
        x_train: training images, flat.
        x_test: held-out images, flat.
        binary: whether the data are binary (then the default likelihood is Bernoulli).

    Returns:
        0.

    Raises:
        ValueError: an invalid grid, configuration or setting.
    """
    from elbo_book.checkpoint import save_checkpoint
    from elbo_book.experiment_cache import ExperimentCache
    from elbo_book.models import VAEConfig
    from elbo_book.stopping import Convergence
    from elbo_book.summary import summarize_groups
    from elbo_book.sweep import grid, train_sweep

    members = grid(seeds=args.seeds, betas=args.betas, kl_warmup_epochs=args.kl_warmup_epochs)
    likelihood = cast("Likelihood", args.likelihood or ("bernoulli" if binary else "gaussian"))
    scale: float | Literal["learned"] = 1.0
    if likelihood == "gaussian":
        scale = "learned" if args.decoder_scale == "learned" else float(args.decoder_scale)
    config = VAEConfig(
        data_dim=int(x_train.shape[1]),
        latent_dim=args.latent_dim,
        hidden=tuple(args.hidden),
        likelihood=likelihood,
        decoder_scale=scale,
    )
    stopping = None
    if args.converge is not None:
        window, threshold = args.converge
        if not float(window).is_integer():
            raise ValueError(f"--converge WINDOW must be a whole number of epochs, got {window}")
        stopping = Convergence(int(window), threshold)
    runs = train_sweep(
        config,
        members,
        x_train,
        x_test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        stopping=stopping,
        device=args.device,
        progress=not args.quiet,
        cache=ExperimentCache(args.cache) if args.cache is not None else None,
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for run in runs:
        history = run.history
        test_elbo = history.test_elbo[-1] if history.test_elbo else None
        metadata: dict[str, Any] = {
            "data": args.data,
            "mnist_path": args.mnist_path,
            "seed": args.split_seed,
            "init_seed": run.member.seed,
            "beta": run.member.beta,
            "kl_warmup_epochs": run.member.kl_warmup_epochs,
            "epochs": history.epochs,
            "stop_reason": history.stop_reason,
            "test_elbo": test_elbo,
        }
        stem = args.output_dir / _stem(run.member)
        save_checkpoint(run.model, stem.with_suffix(".pt"), metadata=metadata)
        record = {"member": run.member.to_dict(), "cached": run.cached, **asdict(history)}
        stem.with_suffix(".history.json").write_text(json.dumps(record, indent=1) + "\n")
        shown = "n/a" if test_elbo is None else f"{test_elbo:.3f}"
        print(
            f"{_stem(run.member)}: {history.epochs} epochs ({history.stop_reason}"
            f"{', cached' if run.cached else ''}), test ELBO {shown}"
        )
    finished = [r for r in runs if r.history.stop_reason != "non-finite" and r.history.test_elbo]
    groups: dict[tuple[float, int], list[float]] = {}
    for r in finished:
        groups.setdefault((r.member.beta, r.member.kl_warmup_epochs), []).append(
            r.history.test_elbo[-1]
        )
    for (beta, warmup), summary in summarize_groups(
        (key, value) for key, values in groups.items() if len(values) > 1 for value in values
    ).items():
        print(
            f"beta {beta:g}, warm-up {warmup}: test ELBO {summary.pm()} "
            f"(mean ± standard error over {summary.n} seeds)"
        )
    print(f"{len(runs)} checkpoints and histories written to {args.output_dir}")
    return 0
