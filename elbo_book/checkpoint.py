"""Saving and loading a trained :class:`~elbo_book.models.VAE` with its configuration.

A checkpoint is a ``torch.save`` of a plain dict — format tag, version, the
:class:`~elbo_book.models.VAEConfig` as a dict, the parameters' dtype, the state dict (CPU
tensors), a small metadata dict of strings and numbers, optionally the training
:class:`~elbo_book.training.History` and the optimiser's state (to resume training), and a
SHA-256 checksum of all of that — so it loads with ``torch.load(..., weights_only=True)``: no
arbitrary code runs on load.

Guarantees:

- Writes are atomic: the file is written to a temporary file in the same folder, flushed,
  ``fsync``-ed and renamed over the target, so a failed or interrupted save leaves the old
  checkpoint intact.
- Non-finite parameters (NaN/inf) are refused on save and on load.
- The checksum is verified on load: a flipped bit anywhere in the data raises ``ValueError``.
- The model comes back in the dtype it was saved in (e.g. float64).
- A missing file raises ``FileNotFoundError``; a folder or an unwritable place raises
  ``OSError``; a truncated, corrupt or foreign file raises ``ValueError`` saying so.

Version 1 files (before checksums) still load; they have no checksum to verify.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from elbo_book.models import VAE, VAEConfig
from elbo_book.training import History
from elbo_book.validation import all_finite, check_bool

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "Metadata",
    "check_output_path",
    "load_checkpoint",
    "save_checkpoint",
]

#: The format tag every checkpoint carries; a file with another tag is refused as foreign.
CHECKPOINT_FORMAT = "elbo_book.vae"
#: The version written, 2 since checksums were added; version 1 files still load.
CHECKPOINT_VERSION = 2

#: The metadata a checkpoint stores, a flat dict of str keys and str/int/float/bool/None values.
Metadata = dict[str, str | int | float | bool | None]

_DTYPES = {
    str(dtype): dtype for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
}


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Unpacks as ``model, metadata = load_checkpoint(path)``.

    Attributes:
        model: the VAE, on the CPU, in eval mode and in its saved dtype.
        metadata: the metadata dict given to :func:`save_checkpoint`.
        history: the training history, or None if none was saved.
        optimizer_state: the optimiser's ``state_dict()``, or None if none was saved.
    """

    model: VAE
    metadata: Metadata
    history: History | None = None
    optimizer_state: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        """Yield ``model`` and ``metadata`` (the two fields of version 1's named tuple)."""
        yield self.model
        yield self.metadata

    def __getitem__(self, index: int) -> Any:
        """``checkpoint[0]`` is the model and ``checkpoint[1]`` the metadata, as in version 1.

        Args:
            index: 0 or 1 (or -2, -1).

        Returns:
            The model or the metadata.

        Raises:
            IndexError: another index.
        """
        return (self.model, self.metadata)[index]


def _check_metadata(metadata: object) -> Metadata:
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise ValueError(f"metadata keys must be strings, got {key!r}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(
                f"metadata[{key!r}] must be a str, int, float, bool or None, "
                f"got {type(value).__name__}"
            )
    return metadata


def _digest(value: object, sha: Any) -> None:
    """Feed a canonical encoding of ``value`` (dicts, sequences, tensors, scalars) to ``sha``."""
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        sha.update(f"T{data.dtype}{tuple(value.shape)}:".encode())
        sha.update(data.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        sha.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=repr):
            sha.update(repr(key).encode() + b"=")
            _digest(value[key], sha)
    elif isinstance(value, list | tuple):
        sha.update(f"L{len(value)}:".encode())
        for item in value:
            _digest(item, sha)
    else:
        sha.update(f"S{value!r};".encode())


def _checksum(payload: dict[str, Any]) -> str:
    sha = hashlib.sha256()
    _digest({k: v for k, v in payload.items() if k != "checksum"}, sha)
    return sha.hexdigest()


def check_output_path(path: str | Path, *, overwrite: bool = True) -> Path:
    """Check that a checkpoint can be written at ``path``, without writing it.

    Creates the missing parent folders and writes (then removes) a temporary file next to
    ``path``, so a command can fail before it trains rather than after.

    Args:
        path: the checkpoint's path.
        overwrite: whether an existing file may be replaced.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        OSError: the folder cannot be created or written (e.g. ``PermissionError``).
    """
    path = Path(path)
    overwrite = check_bool(overwrite, "overwrite")
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint path {str(path)!r} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{str(path)!r} exists; choose another path or allow overwriting it (--force)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"):
        pass
    return path


def save_checkpoint(
    model: VAE,
    path: str | Path,
    *,
    metadata: Metadata | None = None,
    history: History | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Atomically write ``model`` (configuration, dtype, parameters) and ``metadata`` to ``path``.

    Args:
        model: the VAE to save; every parameter must be finite.
        path: the file to write (parent folders are created); an existing file is replaced
            only once the new one is complete.
        metadata: a flat dict of str keys and str/int/float/bool/None values.
        history: the training history, saved so training can be resumed or plotted.
        optimizer: the optimiser, whose ``state_dict()`` is saved to resume training.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``model`` is not a VAE, has NaN/inf parameters, or an argument is malformed.
        OSError: ``path`` is a folder or cannot be written.
    """
    if not isinstance(model, VAE):
        raise ValueError(f"model must be an elbo_book VAE, got {type(model).__name__}")
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = [k for k, v in state_dict.items() if v.is_floating_point() and not all_finite(v)]
    if bad:
        raise ValueError(
            f"refusing to save a model with NaN or inf parameters (in {', '.join(bad)}); "
            "the run diverged: lower the learning rate or add a KL warm-up"
        )
    if history is not None and not isinstance(history, History):
        raise ValueError(f"history must be a History or None, got {type(history).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "dtype": str(model.dtype),
        "state_dict": state_dict,
        "metadata": dict(_check_metadata(metadata if metadata is not None else {})),
        "history": None if history is None else history.to_dict(),
        "optimizer": None if optimizer is None else _to_cpu(optimizer.state_dict()),
    }
    payload["checksum"] = _checksum(payload)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint path {str(path)!r} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows opening a folder (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Args:
        path: the checkpoint file.

    Returns:
        The :class:`Checkpoint` (model on the CPU in eval mode, in its saved dtype).

    Raises:
        FileNotFoundError: there is no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        ValueError: the file is truncated, corrupt (checksum mismatch), foreign, of another
            version, or holds NaN/inf parameters.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {str(path)!r}")
    where = repr(str(path))
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(
            f"{where} is not a readable elbo_book checkpoint (truncated, corrupt or not "
            f"written by torch.save): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{where} is not an elbo_book checkpoint: expected a dict with "
            f"format={CHECKPOINT_FORMAT!r} (as written by elbo_book.checkpoint.save_checkpoint)"
        )
    version = payload.get("version")
    if version not in (1, CHECKPOINT_VERSION):
        raise ValueError(
            f"{where} has checkpoint version {version!r}; this elbo_book reads versions 1 "
            f"and {CHECKPOINT_VERSION}"
        )
    if version == CHECKPOINT_VERSION and payload.get("checksum") != _checksum(payload):
        raise ValueError(
            f"{where} is corrupt: its checksum does not match its contents (a damaged copy or "
            "an edited file); use another copy"
        )
    for key in ("config", "state_dict", "metadata"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"{where} is damaged: entry {key!r} is missing or not a dict")
    state_dict = payload["state_dict"]
    bad = [
        k
        for k, v in state_dict.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not all_finite(v)
    ]
    if bad:
        raise ValueError(f"{where} holds NaN or inf parameters (in {', '.join(bad)})")
    dtype = _DTYPES.get(payload.get("dtype", "torch.float32"))
    if dtype is None:
        raise ValueError(f"{where} is damaged: unknown parameter dtype {payload.get('dtype')!r}")
    model = VAE.from_config(VAEConfig.from_dict(payload["config"])).to(dtype)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ValueError(
            f"{where} is damaged: its parameters do not match its configuration: {error}"
        ) from error
    model.eval()
    history = payload.get("history")
    optimizer_state = payload.get("optimizer")
    return Checkpoint(
        model=model,
        metadata=_check_metadata(payload["metadata"]),
        history=None if history is None else History.from_dict(history),
        optimizer_state=optimizer_state if isinstance(optimizer_state, dict) else None,
    )
