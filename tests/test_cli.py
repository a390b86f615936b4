from pathlib import Path

import pytest

from elbo_book.cli import main
from elbo_book.reproducibility import seed_everything


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_everything(0)
    path = tmp_path / "vae.pt"
    args = [
        "train",
        "--data",
        "shapes",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--quiet",
        "--threads",
        "1",
    ]
    assert main([*args, "--latent-dim", "2", "-o", str(path)]) == 0
    assert "checkpoint written" in capsys.readouterr().out
    assert main(["evaluate", str(path), "-k", "20", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "ELBO:" in out and "log p(x) (importance-weighted, K=20)" in out


def test_errors_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err
    assert main(["train", "--data", "mnist", "-o", str(tmp_path / "m.pt")]) == 2
    assert "--mnist-path" in capsys.readouterr().err
    for command in ("train", "evaluate"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "usage: python -m elbo_book" in capsys.readouterr().out
