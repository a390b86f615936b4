import inspect
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from elbo_book import __version__
from elbo_book.checkpoint import load_checkpoint
from elbo_book.cli import _EVALUATE_DEFAULTS, _FIT_DEFAULTS, _GAUSSIAN_DECODER_SCALE, _VAE_HIDDEN
from elbo_book.cli import main as cli_main
from elbo_book.importance import log_evidence_estimate
from elbo_book.models import DEFAULT_GAUSSIAN_DECODER_SCALE, VAE
from elbo_book.reproducibility import seed_everything
from elbo_book.training import fit

QUICK = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--quiet", "--threads", "1"]


def main(argv: list[str]) -> int:
    return cli_main(argv, prog="elbo-book")


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_everything(0)
    path = tmp_path / "vae.pt"
    assert main(["train", "--data", "shapes", *QUICK, "-o", str(path)]) == 0
    assert "checkpoint written" in capsys.readouterr().out
    assert main(["evaluate", str(path), "-k", "20", "--limit", "10", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ELBO:" in out and "log p(x) (importance-weighted, K=20)" in out
    assert "10 examples" in out


def _own_data(tmp_path: Path, suffix: str) -> Path:
    rng = np.random.default_rng(0)
    x = (rng.random((60, 5)) > 0.5).astype(np.float32)
    path = tmp_path / f"mine{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, x=x)
    elif suffix == ".pt":
        torch.save(torch.from_numpy(x), path)
    else:
        np.savetxt(path, x, delimiter=",", header="a,b,c,d,e", comments="")
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt", ".csv"])
def test_train_on_own_data_saves_history_and_resumes(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _own_data(tmp_path, suffix)
    out = tmp_path / "own.pt"
    assert main(["train", "--data", str(data), *QUICK, "-o", str(out)]) == 0
    checkpoint = load_checkpoint(out)
    assert checkpoint.model.config.likelihood == "bernoulli"  # binary data → Bernoulli
    assert checkpoint.history is not None and checkpoint.history.epochs == 2
    assert checkpoint.optimizer_state is not None
    assert main(["evaluate", str(out), "-k", "5", "--quiet"]) == 0
    assert "6 examples" in capsys.readouterr().out  # the 10% held out of 60
    # Resume: two more epochs, in place; data, split and seed come from the checkpoint.
    assert main(["train", *QUICK, "--resume", str(out), "-o", str(out)]) == 0
    resumed = load_checkpoint(out)
    assert resumed.history is not None and resumed.history.epochs == 4
    assert resumed.history.elbo[:2] == checkpoint.history.elbo
    state = resumed.optimizer_state
    assert state is not None and int(state["state"][0]["step"]) == 4 * 1  # 54 rows, batch 128


def test_errors_are_one_line_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _own_data(tmp_path, ".npy")
    out = tmp_path / "m.pt"
    cases: list[tuple[list[str], str]] = [
        (["evaluate", str(tmp_path / "none.pt")], "no checkpoint file"),
        (["train", "--data", "mnist", "-o", str(out)], "--mnist-path"),
        (["train", "--data", str(tmp_path / "no.npy"), "-o", str(out)], "no --data file"),
        (["train", "--data", "nonsense", "-o", str(out)], "unknown data set"),
        (["train", "--data", str(data), "--decoder-scale", "0.5", "-o", str(out)], "gaussian"),
        (["train", "--data", str(data), "-o", str(tmp_path)], "folder"),
        (["train", "--data", str(data), "--device", "nonsense", "-o", str(out)], "device"),
        (["evaluate", str(data)], "not a readable elbo_book checkpoint"),
    ]
    one_d = tmp_path / "one_d.npy"
    np.save(one_d, np.zeros(5, dtype=np.float32))
    cases.append((["train", "--data", str(one_d), "-o", str(out)], "shape (N, D)"))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((4, 3), np.nan, dtype=np.float32))
    cases.append((["train", "--data", str(nan), "-o", str(out)], "finite"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
        assert "Traceback" not in err
    assert not out.exists()


def test_output_is_checked_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.pt"
    out.write_bytes(b"precious")
    start = time.perf_counter()
    assert main(["train", "--data", "shapes", "--epochs", "500", "-o", str(out)]) == 2
    assert time.perf_counter() - start < 20  # failed at once, not after 500 epochs
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(["train", "--data", "shapes", *QUICK, "--force", "-o", str(out)]) == 0


def test_argument_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["evaluate", "x.pt", "--limit", "-3"],
        ["evaluate", "x.pt", "-k", "0"],
        ["train", "-o", "m.pt", "--seed", str(2**64)],
        ["train", "-o", "m.pt", "--beta", "-1"],
        ["train", "-o", "m.pt", "--lr", "nan"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "error: " in capsys.readouterr().err


def test_help_version_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: elbo-book") and "(default:" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"elbo-book {__version__}"


def test_cli_defaults_equal_the_api_defaults() -> None:
    fit_defaults = inspect.signature(fit).parameters
    for name, value in _FIT_DEFAULTS.items():
        assert fit_defaults[name].default == value, name
    assert inspect.signature(VAE.__init__).parameters["hidden"].default == _VAE_HIDDEN
    assert _GAUSSIAN_DECODER_SCALE == DEFAULT_GAUSSIAN_DECODER_SCALE
    estimate = inspect.signature(log_evidence_estimate).parameters
    assert estimate["n_samples"].default == _EVALUATE_DEFAULTS["k"]
    assert estimate["chunk_size"].default == _EVALUATE_DEFAULTS["chunk_size"]


def test_prog_name_and_fast_help() -> None:
    run = [sys.executable, "-m", "elbo_book", "--help"]
    start = time.perf_counter()
    result = subprocess.run(run, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    assert result.stdout.startswith("usage: python -m elbo_book")
    # --help must not import torch (the expensive part of start-up).
    probe = "import sys; from elbo_book.cli import build_parser; print('torch' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert imported.stdout.strip() == "False"
    assert elapsed < 30


def test_evaluate_refuses_to_print_non_finite_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from elbo_book.checkpoint import save_checkpoint

    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((20, 3)).astype(np.float32))
    model = VAE(3, 2, (4,), likelihood="gaussian")
    with torch.no_grad():
        model.decoder[-1].weight.fill_(3e38)  # finite weights whose outputs overflow
    path = save_checkpoint(model, tmp_path / "m.pt", metadata={"data": str(data), "seed": 0})
    assert main(["evaluate", str(path), "-k", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the model gives non-finite values")


def test_gaussian_data_of_another_range_gets_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "wide.csv"
    rows = np.random.default_rng(0).normal(500.0, 100.0, (30, 4))
    np.savetxt(data, rows, delimiter=",")
    out = tmp_path / "m.pt"
    assert main(["train", "--data", str(data), *QUICK, "-o", str(out)]) == 0
    assert "note: the data span" in capsys.readouterr().err
    assert load_checkpoint(out).model.config.likelihood == "gaussian"
