"""Saving and loading a trained :class:`~elbo_book.models.VAE` with its configuration.

A checkpoint is a ``torch.save`` of a plain dict — format tag, version, the
:class:`~elbo_book.models.VAEConfig` as a dict, the state dict (CPU tensors) and a small
metadata dict of strings and numbers — so it loads with ``torch.load(..., weights_only=True)``:
no arbitrary code runs on load.  A missing file raises ``FileNotFoundError``; a truncated,
corrupt or foreign file raises ``ValueError`` saying so.

Public API:

- :class:`Checkpoint` — ``(model, metadata)`` as returned by :func:`load_checkpoint`.
- :func:`save_checkpoint`, :func:`load_checkpoint`.
- :data:`CHECKPOINT_FORMAT`, :data:`CHECKPOINT_VERSION`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from elbo_book.models import VAE, VAEConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "Metadata",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "elbo_book.vae"
CHECKPOINT_VERSION = 1

Metadata = dict[str, str | int | float | bool | None]


class Checkpoint(NamedTuple):
    """A loaded checkpoint: the VAE (on CPU, in eval mode) and its metadata."""

    model: VAE
    metadata: Metadata


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


def save_checkpoint(model: VAE, path: str | Path, *, metadata: Metadata | None = None) -> Path:
    """Write ``model`` (configuration and parameters) and ``metadata`` to ``path``."""
    if not isinstance(model, VAE):
        raise ValueError(f"model must be an elbo_book VAE, got {type(model).__name__}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(_check_metadata(metadata if metadata is not None else {})),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {str(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise ValueError(
            f"{str(path)!r} is not a readable elbo_book checkpoint (truncated, corrupt or not "
            f"written by torch.save): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{str(path)!r} is not an elbo_book checkpoint: expected a dict with "
            f"format={CHECKPOINT_FORMAT!r} (as written by elbo_book.checkpoint.save_checkpoint)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{str(path)!r} has checkpoint version {payload.get('version')!r}; this elbo_book "
            f"reads version {CHECKPOINT_VERSION}"
        )
    for key in ("config", "state_dict", "metadata"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"{str(path)!r} is damaged: entry {key!r} is missing or not a dict")
    model = VAE.from_config(VAEConfig.from_dict(payload["config"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise ValueError(
            f"{str(path)!r} is damaged: its parameters do not match its configuration: {error}"
        ) from error
    model.eval()
    return Checkpoint(model=model, metadata=_check_metadata(payload["metadata"]))
