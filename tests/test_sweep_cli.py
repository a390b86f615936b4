import json
from pathlib import Path

import pytest

from elbo_book.checkpoint import load_checkpoint
from elbo_book.cli import main

BASE = ["sweep", "--data", "shapes", "--hidden", "16", "--latent-dim", "2", "--quiet"]
BASE += ["--threads", "1", "--device", "cpu", "--epochs", "3", "--batch-size", "100"]


def test_sweep_writes_one_checkpoint_and_history_per_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid"
    args = [*BASE, "--seeds", "0", "1", "--betas", "1", "4", "--converge", "1", "1000"]
    assert main([*args, "--cache", str(tmp_path / "cache"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "beta 4, warm-up 0: test ELBO" in printed and "over 2 seeds" in printed
    for seed in (0, 1):
        for beta in (1, 4):
            stem = out / f"seed{seed}_beta{beta}_warmup0"
            metadata = load_checkpoint(stem.with_suffix(".pt")).metadata
            assert metadata["beta"] == beta and metadata["init_seed"] == seed
            history = json.loads(stem.with_suffix(".history.json").read_text())
            assert history["stop_reason"] == "converged" and history["converged_epoch"] == 2
            assert metadata["test_elbo"] == history["test_elbo"][-1]
    assert main([*args, "--cache", str(tmp_path / "cache"), "-o", str(out)]) == 0
    assert printed.count("cached") == 0 and capsys.readouterr().out.count("cached") == 4
    assert main(["evaluate", str(out / "seed1_beta4_warmup0.pt"), "-k", "5"]) == 0


def test_sweep_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--seeds", "0", "0", "-o", str(tmp_path)]) == 2
    assert "repeats a member" in capsys.readouterr().err
    assert main([*BASE, "--converge", "1.5", "0.1", "-o", str(tmp_path)]) == 2
    assert "WINDOW" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--help"])
    assert info.value.code == 0 and "--betas" in capsys.readouterr().out
