import os
from pathlib import Path

import pytest
import torch

from elbo_book.checkpoint import (
    _checksum,
    check_output_path,
    load_checkpoint,
    save_checkpoint,
)
from elbo_book.models import VAE
from elbo_book.training import History


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
    checkpoint = load_checkpoint(path)
    assert checkpoint.history is None and checkpoint.optimizer_state is None
    assert checkpoint[0] is checkpoint.model and checkpoint[1] is checkpoint.metadata


def test_dtype_history_and_optimizer_are_restored(tmp_path: Path) -> None:
    model = VAE(6, 2, (8,)).double()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = -model.encode(torch.rand(4, 6, dtype=torch.float64).round()).mean.sum()
    loss.backward()
    optimizer.step()
    history = History(elbo=[-1.0, -0.5], kl_weight=[1.0, 1.0])
    path = save_checkpoint(model, tmp_path / "m.pt", history=history, optimizer=optimizer)
    checkpoint = load_checkpoint(path)
    assert checkpoint.model.dtype == torch.float64
    for name, value in model.state_dict().items():
        assert torch.equal(checkpoint.model.state_dict()[name], value)  # bit for bit
    assert checkpoint.history == history
    assert checkpoint.optimizer_state is not None
    fresh = torch.optim.Adam(checkpoint.model.parameters(), lr=0.01)
    fresh.load_state_dict(checkpoint.optimizer_state)
    assert int(fresh.state_dict()["state"][0]["step"]) == 1


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(IsADirectoryError):
        load_checkpoint(tmp_path)
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
    with pytest.raises(ValueError, match="checksum"):
        load_checkpoint(damaged)
    payload["checksum"] = _checksum(payload)  # consistent, but parameters missing
    torch.save(payload, damaged)
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(damaged)
    payload["version"] = 99
    torch.save(payload, damaged)
    with pytest.raises(ValueError, match="version 99"):
        load_checkpoint(damaged)


def test_every_flipped_bit_in_the_tensor_data_is_detected(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(VAE(6, 2, (8,)), tmp_path / "m.pt")
    raw = path.read_bytes()
    weight = torch.load(path, weights_only=True)["state_dict"]["encoder.0.weight"]
    start = raw.find(weight.numpy().tobytes())
    assert start > 0  # the tensor's bytes are stored verbatim in the archive
    for offset in (0, 7, 100, weight.numel() * 4 - 1):
        flipped = bytearray(raw)
        flipped[start + offset] ^= 0x10
        bad = tmp_path / f"flip{offset}.pt"
        bad.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match=r"checksum|corrupt"):
            load_checkpoint(bad)


def test_non_finite_weights_are_refused(tmp_path: Path) -> None:
    model = VAE(6, 2, (8,))
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        save_checkpoint(model, tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()
    # Written by hand (bypassing the save check): the load check refuses it too.
    good = save_checkpoint(VAE(6, 2, (8,)), tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    payload["state_dict"]["decoder.0.weight"][0, 0] = float("inf")
    payload["checksum"] = _checksum(payload)
    torch.save(payload, tmp_path / "inf.pt")
    with pytest.raises(ValueError, match="NaN or inf"):
        load_checkpoint(tmp_path / "inf.pt")


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    first = VAE(6, 2, (8,))
    path = save_checkpoint(first, tmp_path / "m.pt")
    before = path.read_bytes()

    def failing_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(VAE(6, 2, (8,)), path)
    assert path.read_bytes() == before  # the old checkpoint survives
    assert os.listdir(tmp_path) == ["m.pt"]  # no temporary file left behind


def test_bad_save_arguments_and_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metadata"):
        save_checkpoint(VAE(6, 2, (8,)), tmp_path / "m.pt", metadata={"t": torch.zeros(1)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="elbo_book VAE"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "m.pt")  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError):
        save_checkpoint(VAE(6, 2, (8,)), tmp_path)
    with pytest.raises(IsADirectoryError):
        check_output_path(tmp_path)
    existing = save_checkpoint(VAE(6, 2, (8,)), tmp_path / "m.pt")
    with pytest.raises(FileExistsError, match="--force"):
        check_output_path(existing, overwrite=False)
    assert check_output_path(existing) == existing
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        check_output_path(blocker / "m.pt")  # a parent that is a file
