"""A cache of finished training runs, so that one ``make test`` trains each model once.

An entry is one finished run — weights, history, configuration — stored under a key

    key = SHA-256( canonical JSON of {the run's description (configuration, per-model settings,
                   training settings, SHA-256 of the data)} ‖ SHA-256 of the package's source ‖
                   torch version ‖ CPU capability ‖ format version ),

so a change to the configuration, the data, any file of :mod:`elbo_book`, the PyTorch build or
the vector unit it dispatches to gives another key (the old entry is simply not found).  The
cache is an optimisation only: what it returns is what retraining would give on this machine.

Files: ``<root>/<key>.pt``, written atomically (a temporary file in the same folder, flushed and
``fsync``-ed, then ``os.replace``), with a header holding the SHA-256 of the payload that is
verified before the payload is parsed (``torch.load(weights_only=True)``: no code runs).  A
truncated, corrupt or foreign entry is reported with a warning, deleted and treated as a miss —
retrained, never loaded.  A folder that cannot be created or written turns the cache off for
this process, with one warning: training goes on without caching.

The root is ``$ELBO_BOOK_CACHE_DIR`` when set, else ``_build/experiment-cache`` in the source
checkout this package is imported from (``make clean`` removes it), else
``~/.cache/elbo_book/experiments``.  Every lookup appends ``hit <key>`` or ``miss <key>`` to
``<root>/access.log``, so a hit rate can be read across processes (nbval's and the book build's
kernels).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CACHE_ENV_VAR",
    "CACHE_FORMAT_VERSION",
    "ExperimentCache",
    "default_cache_dir",
    "source_digest",
    "tensor_digest",
]

#: Environment variable that overrides the cache's root folder.
CACHE_ENV_VAR = "ELBO_BOOK_CACHE_DIR"
#: Bumped whenever the entry layout changes (old entries then miss).
CACHE_FORMAT_VERSION = 1
_MAGIC = b"elbo_book experiment cache v1\n"
_PACKAGE = Path(__file__).resolve().parent


def default_cache_dir() -> Path:
    """``$ELBO_BOOK_CACHE_DIR``, else ``<checkout>/_build/experiment-cache`` when the package is
    imported from a source checkout (a folder with ``pyproject.toml`` above it), else
    ``~/.cache/elbo_book/experiments``.

    Returns:
        the folder (not created here).
    """
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured)
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "_build" / "experiment-cache"
    return Path.home() / ".cache" / "elbo_book" / "experiments"


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 (hex) of a tensor's dtype, shape and values (row-major bytes on the CPU).

    Args:
        tensor: any tensor.

    Returns:
        64 hex digits; equal for equal dtype, shape and values.
    """
    data = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{data.dtype}|{tuple(data.shape)}|".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


@functools.cache
def source_digest() -> str:
    """SHA-256 (hex) of every ``.py`` file of the package, with its relative path (computed
    once per process).

    Returns:
        64 hex digits that change whenever any source file of :mod:`elbo_book` changes.
    """
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class ExperimentCache:
    """Finished runs stored under ``root`` (see the module docstring for keys and files).

    Args:
        root: the cache folder; :func:`default_cache_dir` when None.  Created on first write.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.disabled_reason: str | None = None

    @staticmethod
    def key(**description: Any) -> str:
        """The key of a run described by JSON-serialisable keyword arguments.

        Args:
            description: the run (configuration, settings, data digests…); keys are sorted.

        Returns:
            64 hex digits, which also depend on :func:`source_digest`, the torch version, the
            CPU capability and :data:`CACHE_FORMAT_VERSION`.

        Raises:
            TypeError: a value that JSON cannot encode.
        """
        text = json.dumps(description, sort_keys=True, separators=(",", ":"))
        environment = {
            "source": source_digest(),
            "torch": torch.__version__,
            "cpu": torch.backends.cpu.get_cpu_capability(),
            "format": CACHE_FORMAT_VERSION,
        }
        text += json.dumps(environment, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str) -> Path:
        """The file of entry ``key``."""
        return self.root / f"{key}.pt"

    def _log(self, event: str, key: str) -> None:
        if self.disabled_reason is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                with open(self.root / "access.log", "a", encoding="utf-8") as log:
                    log.write(f"{event} {key}\n")
            except OSError:
                pass  # the log is informative only; reads and writes report their own errors

    def load(self, key: str) -> dict[str, Any] | None:
        """The payload stored under ``key``, or None (a miss).

        A corrupt or partial entry (bad header, checksum mismatch, unreadable payload) is
        deleted with a warning and counts as a miss.

        Args:
            key: from :meth:`key`.

        Returns:
            the dict given to :meth:`save`, or None.
        """
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            self.misses += 1
            self._log("miss", key)
            return None
        payload = self._parse(raw, key)
        if payload is None:
            warnings.warn(
                f"experiment cache: entry {path} is corrupt or incomplete; it is deleted and the "
                "run is retrained",
                RuntimeWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            self.misses += 1
            self._log("miss", key)
            return None
        self.hits += 1
        self._log("hit", key)
        return payload

    @staticmethod
    def _parse(raw: bytes, key: str) -> dict[str, Any] | None:
        header_end = len(_MAGIC) + 65
        if not raw.startswith(_MAGIC) or len(raw) < header_end:
            return None
        checksum, body = (
            raw[len(_MAGIC) : header_end - 1].decode("ascii", "replace"),
            raw[header_end:],
        )
        if hashlib.sha256(body).hexdigest() != checksum:
            return None
        try:
            entry = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
        except Exception:  # any unreadable payload is a miss, never an error
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        payload = entry.get("payload")
        return payload if isinstance(payload, dict) else None

    def save(self, key: str, payload: dict[str, Any]) -> bool:
        """Store ``payload`` (tensors, lists, numbers, strings) under ``key``, atomically.

        Args:
            key: from :meth:`key`.
            payload: what :meth:`load` will return.

        Returns:
            True when written; False when the cache is off (an unwritable folder, warned about
            once per cache object).
        """
        if self.disabled_reason is not None:
            return False
        buffer = io.BytesIO()
        torch.save({"key": key, "payload": payload}, buffer)
        body = buffer.getvalue()
        data = _MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        temporary: str | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".partial-", suffix=".pt")
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path(key))
        except OSError as error:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            self.disabled_reason = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"experiment cache: cannot write to {self.root} ({self.disabled_reason}); "
                "training continues without caching",
                RuntimeWarning,
                stacklevel=2,
            )
            return False
        self.writes += 1
        return True
