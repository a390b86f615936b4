from pathlib import Path

import pytest
import torch

from elbo_book.checkpoint import load_checkpoint, save_checkpoint
from elbo_book.models import VAE


def test_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = VAE(6, 2, (8, 4), likelihood="gaussian", decoder_scale="learned")
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt", metadata={"data": "x", "seed": 1})
    loaded, metadata = load_checkpoint(path)
    assert loaded.config == model.config and metadata == {"data": "x", "seed": 1}
    x = torch.rand(3, 6)
    torch.testing.assert_close(loaded.encode(x).mean, model.encode(x).mean)
    torch.testing.assert_close(loaded.decoder_scale(), model.decoder_scale())
    # The file is loadable by torch itself with weights_only=True: no pickled code inside.
    assert torch.load(path, weights_only=True)["format"] == "elbo_book.vae"


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(VAE(6, 2, (8,)), tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not an elbo_book checkpoint"):
        load_checkpoint(foreign)
    damaged = tmp_path / "damaged.pt"
    payload = torch.load(good, weights_only=True)
    payload["state_dict"].pop("encoder.0.weight")
    torch.save(payload, damaged)
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(damaged)
    payload["version"] = 99
    torch.save(payload, damaged)
    with pytest.raises(ValueError, match="version 99"):
        load_checkpoint(damaged)


def test_bad_save_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metadata"):
        save_checkpoint(VAE(6, 2, (8,)), tmp_path / "m.pt", metadata={"t": torch.zeros(1)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="elbo_book VAE"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "m.pt")  # type: ignore[arg-type]
