"""Command line: ``python -m elbo_book train …``, ``… evaluate CHECKPOINT`` and ``… sweep …``.

``train`` fits a VAE on a bundled or generated data set (or a local MNIST ``.npz``) and writes a
checkpoint; ``evaluate`` reports the test-set ELBO, its two terms and the importance-weighted
estimate of log p(x) with K samples; ``sweep`` trains a grid of seeds × β batched
(``elbo_book.sweep_cli``).  Every number is in nats per example.  Run either with
``--help`` for the options.

Public API:

- :data:`DATASETS` — the data set names ``train`` accepts.
- :func:`load_dataset` — the train/test tensors for one of those names.
- :func:`build_parser` — the ``argparse`` parser.
- :func:`main` — entry point; returns the exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

import torch

from elbo_book.checkpoint import load_checkpoint, save_checkpoint
from elbo_book.data import load_digits, load_mnist_npz, make_shapes
from elbo_book.importance import log_evidence_estimate
from elbo_book.models import VAE, Likelihood
from elbo_book.sweep_cli import add_sweep_command, run_sweep
from elbo_book.training import evaluate, fit

__all__ = ["DATASETS", "build_parser", "load_dataset", "main"]

#: Data set name → whether its images are binary (then the default likelihood is Bernoulli).
DATASETS: dict[str, bool] = {
    "digits": False,
    "digits-binary": True,
    "shapes": True,
    "mnist": False,
    "mnist-binary": True,
}


def load_dataset(
    name: str, *, seed: int = 0, mnist_path: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for a name in :data:`DATASETS`; ``shapes`` is split 80/20 with ``seed``."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    if name.startswith("digits"):
        split = load_digits(binarize=name == "digits-binary", seed=seed)
        return split.x_train, split.x_test
    if name == "shapes":
        images = make_shapes().flat
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
        n_test = images.shape[0] // 5
        return images[order[n_test:]], images[order[:n_test]]
    if mnist_path is None:
        raise ValueError(f"data set {name!r} needs --mnist-path pointing to a local mnist.npz")
    split = load_mnist_npz(mnist_path, binarize=name == "mnist-binary")
    return split.x_train, split.x_test


def build_parser() -> argparse.ArgumentParser:
    """The parser for ``python -m elbo_book``."""
    parser = argparse.ArgumentParser(
        prog="python -m elbo_book",
        description="Train and evaluate the ELBO Book's VAE (all numbers in nats per example).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a VAE and save a checkpoint")
    train.add_argument("--data", choices=sorted(DATASETS), default="digits-binary")
    train.add_argument("--mnist-path", help="local MNIST .npz (for --data mnist/mnist-binary)")
    train.add_argument("--latent-dim", type=int, default=4)
    train.add_argument("--hidden", type=int, nargs="+", default=[256], help="hidden widths")
    train.add_argument(
        "--likelihood",
        choices=["bernoulli", "gaussian"],
        help="decoder likelihood (default: bernoulli for binary data, else gaussian)",
    )
    train.add_argument(
        "--decoder-scale",
        default="0.1",
        help="Gaussian decoder standard deviation, or 'learned' (default 0.1)",
    )
    train.add_argument("--epochs", type=int, default=50)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--beta", type=float, default=1.0, help="KL weight β ≥ 0 (1 = ELBO)")
    train.add_argument("--kl-warmup-epochs", type=int, default=0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    train.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--output", "-o", type=Path, required=True, help="checkpoint path")

    evaluate_cmd = commands.add_parser(
        "evaluate", help="test-set ELBO and importance-weighted log p(x) of a checkpoint"
    )
    evaluate_cmd.add_argument("checkpoint", type=Path)
    evaluate_cmd.add_argument(
        "--data", choices=sorted(DATASETS), help="data set (default: the one trained on)"
    )
    evaluate_cmd.add_argument("--mnist-path")
    evaluate_cmd.add_argument("-k", "--k", type=int, default=1000, help="importance samples K")
    evaluate_cmd.add_argument("--chunk-size", type=int, default=500)
    evaluate_cmd.add_argument("--limit", type=int, help="evaluate only the first N test images")
    evaluate_cmd.add_argument("--seed", type=int, default=0)
    evaluate_cmd.add_argument("--threads", type=int, help="CPU threads for torch")
    add_sweep_command(commands, sorted(DATASETS))
    return parser


def _train(args: argparse.Namespace) -> int:
    x_train, x_test = load_dataset(args.data, seed=args.seed, mnist_path=args.mnist_path)
    likelihood = cast(
        Likelihood, args.likelihood or ("bernoulli" if DATASETS[args.data] else "gaussian")
    )
    scale: float | Literal["learned"] = 1.0
    if likelihood == "gaussian":
        scale = "learned" if args.decoder_scale == "learned" else float(args.decoder_scale)
    torch.manual_seed(args.seed)
    model = VAE(
        x_train.shape[1],
        args.latent_dim,
        hidden=tuple(args.hidden),
        likelihood=likelihood,
        decoder_scale=scale,
    )
    history = fit(
        model,
        x_train,
        x_test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        beta=args.beta,
        kl_warmup_epochs=args.kl_warmup_epochs,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    path = save_checkpoint(
        model,
        args.output,
        metadata={
            "data": args.data,
            "mnist_path": args.mnist_path,
            "seed": args.seed,
            "epochs": args.epochs,
            "beta": args.beta,
            "test_elbo": history.test_elbo[-1],
        },
    )
    print(
        f"trained {history.epochs} epochs on {args.data}: train ELBO {history.elbo[-1]:.3f}, "
        f"test ELBO {history.test_elbo[-1]:.3f} (reconstruction "
        f"{history.test_reconstruction[-1]:.3f}, KL {history.test_kl[-1]:.3f})"
    )
    print(f"checkpoint written to {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    model, metadata = load_checkpoint(args.checkpoint)
    data = args.data or metadata.get("data")
    if not isinstance(data, str):
        raise ValueError("the checkpoint does not name its data set: pass --data")
    mnist_path = args.mnist_path or metadata.get("mnist_path")
    seed = metadata.get("seed", 0)
    _, x_test = load_dataset(
        data,
        seed=seed if isinstance(seed, int) else 0,
        mnist_path=mnist_path if isinstance(mnist_path, str) else None,
    )
    if args.limit is not None:
        x_test = x_test[: args.limit]
    torch.manual_seed(args.seed)
    terms = evaluate(model, x_test)
    log_px = log_evidence_estimate(
        model, x_test, n_samples=args.k, chunk_size=args.chunk_size, reduction="mean"
    )
    print(f"data: {data} test set, {x_test.shape[0]} examples")
    print(f"ELBO: {float(terms.elbo):.3f}")
    print(f"reconstruction E_q[log p(x|z)]: {float(terms.reconstruction):.3f}")
    print(f"KL(q(z|x) || p(z)): {float(terms.kl):.3f}")
    print(f"log p(x) (importance-weighted, K={args.k}): {float(log_px):.3f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the command; errors exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        if args.command == "sweep":
            data = load_dataset(args.data, seed=args.split_seed, mnist_path=args.mnist_path)
            return run_sweep(args, *data, binary=DATASETS[args.data])
        return _train(args) if args.command == "train" else _evaluate(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
