"""Command line: ``elbo-book train …``, ``elbo-book evaluate CHECKPOINT`` and ``elbo-book sweep …``.

The same commands run as ``python -m elbo_book``.

``train`` fits a VAE on a bundled or generated data set, a local MNIST ``.npz``, or one's own
data in a ``.npy``, ``.npz``, ``.pt`` or ``.csv`` file (one example per row), and writes a
checkpoint with the training history and the optimiser state; ``--resume CHECKPOINT``
continues such a run.  ``evaluate`` reports the test-set ELBO, its two terms and the
importance-weighted estimate of log p(x) with K samples.  ``sweep`` trains a grid of seeds × β
batched (``elbo_book.sweep_cli``).  Every number is in nats per example.
Run either with ``--help`` for the options and their defaults, which are those of
:func:`elbo_book.training.fit` and :class:`elbo_book.models.VAE`.

Every error is printed as ``error: …`` on stderr with exit status 2, and checked before any
training: the output path (an existing file needs ``--force``), the data's shape and values,
the options.  torch is imported only when a command runs, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from elbo_book import __version__

if TYPE_CHECKING:
    import torch

__all__ = ["DATASETS", "build_parser", "main"]

#: Data set name → whether its images are binary (then the default likelihood is Bernoulli).
DATASETS: dict[str, bool] = {
    "digits": False,
    "digits-binary": True,
    "shapes": True,
    "mnist": False,
    "mnist-binary": True,
}

# The library's defaults, repeated here so that --help needs no torch import (a test checks
# that they equal the signatures of fit, VAE and log_evidence_estimate).
_FIT_DEFAULTS = {"epochs": 10, "batch_size": 128, "lr": 1e-3, "beta": 1.0, "seed": 0}
_VAE_HIDDEN = (256,)
_GAUSSIAN_DECODER_SCALE = 0.1
_EVALUATE_DEFAULTS = {"k": 5000, "chunk_size": 500}
_DEFAULT_DATA = "digits-binary"
_TEST_FRACTION = 0.1


def _split_file(
    x: torch.Tensor, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    n_test = round(test_fraction * x.shape[0])
    if not 1 <= n_test < x.shape[0]:
        raise ValueError(
            f"--test-fraction {test_fraction} of {x.shape[0]} examples leaves "
            f"{n_test} test and {x.shape[0] - n_test} training examples; both need at least one "
            "(pass --test-data, or more data)"
        )
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    return x[order[n_test:]], x[order[:n_test]]


def _load_data_argument(
    name: str,
    *,
    seed: int = 0,
    mnist_path: str | None = None,
    test_path: str | None = None,
    test_fraction: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for the value of ``--data``: a name in :data:`DATASETS` or a data file.

    The command line's own resolution of its options (its messages name them); a program loads
    data with :mod:`elbo_book.data` directly.

    Args:
        name: a name in :data:`DATASETS`, or the path of a ``.npy``/``.npz``/``.pt``/``.csv``
            file (see :func:`elbo_book.data.load_array_file`).
        seed: the seed of the train/test split (``shapes`` and files without ``test_path``).
        mnist_path: the local MNIST ``.npz``, for ``mnist`` and ``mnist-binary``.
        test_path: for a data file, a second file with the test set; without it a seeded
            ``test_fraction`` of the rows is held out.
        test_fraction: the fraction held out, in (0, 1).

    Returns:
        Two float32 tensors of shape ``(N, D)``.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: an unknown name, a malformed file, or train and test data that disagree.
    """
    from elbo_book.data import ARRAY_SUFFIXES, load_array_file

    if name not in DATASETS:
        if Path(name).suffix.lower() not in ARRAY_SUFFIXES:
            raise ValueError(
                f"unknown data set {name!r}; choose one of {sorted(DATASETS)} or give a data "
                f"file ending in {', '.join(ARRAY_SUFFIXES)}"
            )
        x = load_array_file(name, name="--data")
        if test_path is not None:
            x_test = load_array_file(test_path, name="--test-data")
            if x_test.shape[1] != x.shape[1]:
                raise ValueError(
                    f"--test-data has {x_test.shape[1]} values per example but --data has "
                    f"{x.shape[1]}"
                )
            return x, x_test
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"--test-fraction must lie in (0, 1), got {test_fraction}")
        return _split_file(x, test_fraction, seed)
    if test_path is not None:
        raise ValueError("--test-data applies to a data file given as --data, not to " + name)
    if name.startswith("digits"):
        from elbo_book.data import load_digits

        split = load_digits(binarize=name == "digits-binary", seed=seed)
        return split.x_train, split.x_test
    if name == "shapes":
        import torch

        from elbo_book.data import make_shapes

        images = make_shapes().flat
        order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
        n_test = images.shape[0] // 5
        return images[order[n_test:]], images[order[:n_test]]
    if mnist_path is None:
        raise ValueError(f"data set {name!r} needs --mnist-path pointing to a local mnist.npz")
    from elbo_book.data import load_mnist_npz

    split = load_mnist_npz(mnist_path, binarize=name == "mnist-binary")
    return split.x_train, split.x_test


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number ``≥ minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _seed(text: str) -> int:
    value = _nonnegative_int(text)
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed below 2**63, got {value}")
    return value


def _real(text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        bound = "> 0" if positive else ">= 0"
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
    return value


def _positive_real(text: str) -> float:
    return _real(text, positive=True)


def _nonnegative_real(text: str) -> float:
    return _real(text, positive=False)


def _decoder_scale(text: str) -> float | str:
    return "learned" if text == "learned" else _positive_real(text)


def build_parser(prog: str = "elbo-book") -> argparse.ArgumentParser:
    """The command-line parser.

    Args:
        prog: the program name shown in usage and errors (``elbo-book`` or
            ``python -m elbo_book``).

    Returns:
        The ``argparse`` parser, with the subcommands ``train`` and ``evaluate``.

    Raises:
        ValueError: ``prog`` is not a non-empty string.
    """
    if not isinstance(prog, str) or not prog:
        raise ValueError(f"prog must be a non-empty string, got {prog!r}")
    defaults = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train and evaluate the ELBO Book's VAE (all numbers in nats per example).",
        formatter_class=defaults,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a VAE and save a checkpoint (with history and optimiser state)",
        description="Train a VAE on a named data set or a data file and save a checkpoint.",
        formatter_class=defaults,
    )
    train.add_argument(
        "--data",
        metavar="NAME|FILE",
        help=f"one of {', '.join(sorted(DATASETS))}, or a .npy/.npz/.pt/.csv file with one "
        "example per row (uint8 images are scaled by 1/255) (default: digits-binary, or with "
        "--resume the checkpoint's data, test split and seed)",
    )
    train.add_argument("--test-data", metavar="FILE", help="test set file for a --data file")
    train.add_argument(
        "--test-fraction",
        type=_positive_real,
        default=_TEST_FRACTION,
        help="fraction of a --data file held out as test set when --test-data is not given",
    )
    train.add_argument("--mnist-path", help="local MNIST .npz (for --data mnist/mnist-binary)")
    train.add_argument("--latent-dim", type=_positive_int, default=4)
    train.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=list(_VAE_HIDDEN),
        help="hidden layer widths",
    )
    train.add_argument(
        "--likelihood",
        choices=["bernoulli", "gaussian"],
        help="decoder likelihood (default: bernoulli for binary data, else gaussian)",
    )
    train.add_argument(
        "--decoder-scale",
        type=_decoder_scale,
        help="Gaussian decoder standard deviation, or 'learned' (default: "
        f"{_GAUSSIAN_DECODER_SCALE}; gaussian likelihood only)",
    )
    train.add_argument("--epochs", type=_positive_int, default=_FIT_DEFAULTS["epochs"])
    train.add_argument("--batch-size", type=_positive_int, default=_FIT_DEFAULTS["batch_size"])
    train.add_argument("--lr", type=_positive_real, default=_FIT_DEFAULTS["lr"])
    train.add_argument(
        "--beta",
        type=_nonnegative_real,
        default=_FIT_DEFAULTS["beta"],
        help="KL weight β >= 0 (1 = ELBO)",
    )
    train.add_argument("--kl-warmup-epochs", type=_nonnegative_int, default=0)
    train.add_argument("--seed", type=_seed, default=_FIT_DEFAULTS["seed"])
    train.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    train.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="continue training this checkpoint (its model, optimiser and history) for --epochs "
        "more epochs; the architecture options are then taken from it",
    )
    train.add_argument("--force", action="store_true", help="overwrite an existing --output")
    train.add_argument("--output", "-o", type=Path, required=True, help="checkpoint path")

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="test-set ELBO and importance-weighted log p(x) of a checkpoint",
        description="Test-set ELBO, its terms and the importance-weighted log p(x).",
        formatter_class=defaults,
    )
    evaluate_cmd.add_argument("checkpoint", type=Path)
    evaluate_cmd.add_argument(
        "--data", metavar="NAME|FILE", help="data set (default: the one trained on)"
    )
    evaluate_cmd.add_argument("--test-data", metavar="FILE", help="test set file")
    evaluate_cmd.add_argument("--mnist-path")
    evaluate_cmd.add_argument(
        "-k",
        "--k",
        type=_positive_int,
        default=_EVALUATE_DEFAULTS["k"],
        help="importance samples K",
    )
    evaluate_cmd.add_argument(
        "--chunk-size", type=_positive_int, default=_EVALUATE_DEFAULTS["chunk_size"]
    )
    evaluate_cmd.add_argument(
        "--limit", type=_positive_int, help="evaluate only the first N test examples"
    )
    evaluate_cmd.add_argument("--seed", type=_seed, default=0)
    evaluate_cmd.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    evaluate_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    from elbo_book.sweep_cli import add_sweep_command

    add_sweep_command(commands, sorted(DATASETS))
    return parser


def _likelihood(args: argparse.Namespace, x_train: torch.Tensor) -> str:
    from elbo_book.validation import is_binary

    if args.likelihood is not None:
        return cast(str, args.likelihood)
    if args.data in DATASETS:
        return "bernoulli" if DATASETS[args.data] else "gaussian"
    return "bernoulli" if is_binary(x_train) else "gaussian"


def _resume_data_options(args: argparse.Namespace, metadata: Mapping[str, object]) -> None:
    """Take the data set, its split and the seed from the checkpoint when --data is not given,
    so that a resumed run trains on the same training set (no test example leaks in)."""
    data = metadata.get("data")
    if args.data is not None or not isinstance(data, str):
        return
    args.data = data
    for option in ("test_data", "mnist_path"):
        if getattr(args, option) is None and isinstance(metadata.get(option), str):
            setattr(args, option, metadata[option])
    fraction, seed = metadata.get("test_fraction"), metadata.get("seed")
    if isinstance(fraction, float):
        args.test_fraction = fraction
    if isinstance(seed, int):
        args.seed = seed


def _train(args: argparse.Namespace) -> int:
    import torch

    from elbo_book.checkpoint import check_output_path, load_checkpoint, save_checkpoint
    from elbo_book.models import VAE
    from elbo_book.training import adam, fit, resolve_device

    # Everything that can fail is checked before the first step.
    if args.resume is not None and args.resume.resolve() == args.output.resolve():
        check_output_path(args.output, overwrite=True)
    else:
        check_output_path(args.output, overwrite=args.force)
    device = resolve_device(args.device)
    resumed = load_checkpoint(args.resume) if args.resume is not None else None
    if resumed is not None and resumed.optimizer_state is None:
        raise ValueError(
            f"--resume {str(args.resume)!r} has no optimiser state (it was not written by "
            "'train'), so training cannot continue where it stopped"
        )
    if resumed is not None:
        _resume_data_options(args, resumed.metadata)
    if args.data is None:
        args.data = _DEFAULT_DATA
    x_train, x_test = _load_data_argument(
        args.data,
        seed=args.seed,
        mnist_path=args.mnist_path,
        test_path=args.test_data,
        test_fraction=args.test_fraction,
    )
    if resumed is not None:
        model = resumed.model
        if model.data_dim != x_train.shape[1]:
            raise ValueError(
                f"--resume's model has data_dim {model.data_dim} but --data has "
                f"{x_train.shape[1]} values per example"
            )
    else:
        likelihood = _likelihood(args, x_train)
        if likelihood == "bernoulli" and args.decoder_scale is not None:
            raise ValueError(
                "--decoder-scale applies to the gaussian likelihood only; drop it or pass "
                "--likelihood gaussian"
            )
        scale = args.decoder_scale if likelihood == "gaussian" else None
        low, high = float(x_train.min()), float(x_train.max())
        if likelihood == "gaussian" and scale is None and not (-1.0 <= low and high <= 2.0):
            print(
                f"note: the data span [{low:.3g}, {high:.3g}]; the default decoder scale "
                f"{_GAUSSIAN_DECODER_SCALE} suits values of order 1: rescale the data or pass "
                "--decoder-scale learned",
                file=sys.stderr,
            )
        torch.manual_seed(args.seed)
        model = VAE(
            x_train.shape[1],
            args.latent_dim,
            hidden=tuple(args.hidden),
            likelihood=cast(Literal["bernoulli", "gaussian"], likelihood),
            decoder_scale=scale,
        )
    x_train, x_test = x_train.to(model.dtype), x_test.to(model.dtype)
    model.check_data(x_train, "--data (training set)")
    model.check_data(x_test, "--data (test set)")
    model.to(device)
    optimizer = adam(model.parameters(), args.lr)
    history = None
    if resumed is not None:
        assert resumed.optimizer_state is not None
        try:
            optimizer.load_state_dict(resumed.optimizer_state)
        except (ValueError, KeyError) as error:
            raise ValueError(f"--resume: its optimiser state does not fit: {error}") from error
        history = resumed.history
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
        device=device,
        progress=not args.quiet,
        optimizer=optimizer,
        history=history,
    )
    path = save_checkpoint(
        model,
        args.output,
        metadata={
            "data": args.data if args.data in DATASETS else os.path.abspath(args.data),
            "test_data": None if args.test_data is None else os.path.abspath(args.test_data),
            "test_fraction": args.test_fraction,
            "mnist_path": args.mnist_path,
            "seed": args.seed,
            "epochs": history.epochs,
            "beta": args.beta,
            "test_elbo": history.test_elbo[-1],
        },
        history=history,
        optimizer=optimizer,
    )
    print(
        f"trained {history.epochs} epochs on {args.data}: train ELBO {history.elbo[-1]:.3f}, "
        f"test ELBO {history.test_elbo[-1]:.3f} (reconstruction "
        f"{history.test_reconstruction[-1]:.3f}, KL {history.test_kl[-1]:.3f})"
    )
    print(f"checkpoint written to {path} (with history and optimiser state)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from elbo_book.checkpoint import load_checkpoint
    from elbo_book.importance import log_evidence_estimate
    from elbo_book.training import evaluate

    model, metadata = load_checkpoint(args.checkpoint)
    data = args.data or metadata.get("data")
    if not isinstance(data, str):
        raise ValueError("the checkpoint does not name its data set: pass --data")
    mnist_path = args.mnist_path or metadata.get("mnist_path")
    test_data = args.test_data or (metadata.get("test_data") if args.data is None else None)
    seed = metadata.get("seed", 0)
    fraction = metadata.get("test_fraction", 0.1)
    _, x_test = _load_data_argument(
        data,
        seed=seed if isinstance(seed, int) else 0,
        mnist_path=mnist_path if isinstance(mnist_path, str) else None,
        test_path=test_data if isinstance(test_data, str) else None,
        test_fraction=fraction if isinstance(fraction, float) else 0.1,
    )
    if args.limit is not None:
        x_test = x_test[: args.limit]
    x_test = x_test.to(model.dtype)
    torch.manual_seed(args.seed)
    terms = evaluate(model, x_test)
    log_px = log_evidence_estimate(
        model,
        x_test,
        n_samples=args.k,
        chunk_size=min(args.chunk_size, args.k),
        reduction="mean",
        progress=not args.quiet,
    )
    numbers = [float(terms.elbo), float(terms.reconstruction), float(terms.kl), float(log_px)]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(
            f"the model gives non-finite values on this data (ELBO, reconstruction, KL, "
            f"log p(x) = {numbers}); it does not fit the data (wrong data set?)"
        )
    print(f"data: {data} test set, {x_test.shape[0]} examples")
    print(f"ELBO: {float(terms.elbo):.3f}")
    print(f"reconstruction E_q[log p(x|z)]: {float(terms.reconstruction):.3f}")
    print(f"KL(q(z|x) || p(z)): {float(terms.kl):.3f}")
    print(f"log p(x) (importance-weighted, K={args.k}): {float(log_px):.3f}")
    return 0


def _default_prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m elbo_book" if name in ("__main__.py", "-m", "") else name


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Parse ``argv`` and run the command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        prog: the program name for usage and errors (default: from ``sys.argv[0]``, e.g.
            ``elbo-book``, or ``python -m elbo_book``).

    Returns:
        The exit status, 0 on success, 2 on any error (printed as ``error: …`` on stderr, never
        as a traceback) and 130 when interrupted.

    Raises:
        SystemExit: ``--help`` and ``--version`` (status 0) and argparse's own usage errors
            (status 2, printed as ``PROG: error: …``).
    """
    parser = build_parser(prog or _default_prog())
    args = parser.parse_args(argv)
    try:
        if args.threads is not None:
            import torch

            torch.set_num_threads(args.threads)
        if args.command == "sweep":
            data = _load_data_argument(args.data, seed=args.split_seed, mnist_path=args.mnist_path)
            from elbo_book.sweep_cli import run_sweep

            return run_sweep(args, *data, binary=DATASETS[args.data])
        return _train(args) if args.command == "train" else _evaluate(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # never a traceback on the command line
        print(
            f"error: unexpected {type(error).__name__}: {error} (please report this)",
            file=sys.stderr,
        )
        return 2
