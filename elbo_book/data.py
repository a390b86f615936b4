"""Data sets that need no download at run time: scikit-learn's digits, generated shapes, MNIST.

All images are returned flat, as float32 tensors with values in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from elbo_book.mnist import read_mnist_arrays
from elbo_book.validation import check_bool, check_int, check_real, check_seed

__all__ = [
    "ARRAY_SUFFIXES",
    "MNIST_NPZ_KEYS",
    "DataSplit",
    "FactorDataset",
    "load_array_file",
    "load_digits",
    "load_mnist",
    "load_mnist_npz",
    "make_shapes",
]

#: Arrays a local MNIST ``.npz`` must contain.
MNIST_NPZ_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DataSplit:
    """Flat float32 images in [0, 1] and int64 labels, split into train and test.

    Attributes:
        x_train: training images, shape ``(N, D)``.
        y_train: training labels, shape ``(N,)``.
        x_test: test images, shape ``(M, D)``.
        y_test: test labels, shape ``(M,)``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def data_dim(self) -> int:
        """Number of pixels D of one flat image."""
        return int(self.x_train.shape[1])


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> DataSplit:
    test_fraction = check_real(test_fraction, "test_fraction")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return DataSplit(
        x_train=torch.as_tensor(x[train], dtype=torch.float32),
        y_train=torch.as_tensor(y[train], dtype=torch.int64),
        x_test=torch.as_tensor(x[test], dtype=torch.float32),
        y_test=torch.as_tensor(y[test], dtype=torch.int64),
    )


def load_digits(*, binarize: bool = False, test_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """scikit-learn's 8×8 digits (1797 images, D = 64) with a seeded train/test split.

    Pixel intensities 0..16 are divided by 16; with ``binarize=True`` a pixel is 1 when its
    scaled value is > 0.5, else 0 (deterministic thresholding, for a Bernoulli decoder).

    Args:
        binarize: whether to threshold the pixels at 0.5 (a bool).
        test_fraction: the fraction of images in the test set, in (0, 1).
        seed: the seed of the split, an int in [0, 2**63).

    Returns:
        The :class:`DataSplit` (float32 images of shape ``(N, 64)``, int64 labels).

    Raises:
        ValueError: a bad argument.
    """
    binarize = check_bool(binarize, "binarize")
    seed = check_seed(seed)
    digits = _sklearn_digits()
    x = digits.data.astype(np.float32) / 16.0
    if binarize:
        x = (x > 0.5).astype(np.float32)
    return _split(x, digits.target, test_fraction, seed)


def load_mnist(
    *,
    binarize: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    path: str | Path | None = None,
) -> DataSplit:
    """10,000 real 28×28 MNIST digits (D = 784) with a seeded train/test split (8000/2000).

    Grey values are the original 8-bit pixels k/255 (``elbo_book.mnist`` explains why they
    are exact); ``binarize=True`` sets a pixel to 1 when its value is > 0.5, else 0
    (deterministic thresholding, as :func:`load_digits`).  The split is the permutation
    ``numpy.random.default_rng(seed)`` draws, the first ``round(test_fraction · N)`` images
    being the test set.  Nothing is downloaded: the file comes from the set-up step.

    Args:
        binarize: threshold the images at 0.5 (for a Bernoulli decoder).
        test_fraction: share of the images in the test set, in (0, 1).
        seed: seed of the split.
        path: the converted ``.npz``; ``elbo_book.mnist.default_mnist_path()`` when None.

    Returns:
        the split, images flat float32 in [0, 1], labels int64.

    Raises:
        FileNotFoundError: the data set was not fetched; the message says which command fetches
            it.
        ValueError: a damaged file, a bad ``test_fraction`` or ``seed``.
    """
    check_int(seed, "seed", minimum=0)
    images, labels = read_mnist_arrays(path)
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)
    if binarize:
        x = (x > 0.5).astype(np.float32)
    return _split(x, labels, test_fraction, seed)


@dataclass(frozen=True)
class FactorDataset:
    """Images with known, independent generative factors on a full grid.

    Image n is the row-major position of its factor indices, so :meth:`index_of` maps factor
    indices back to images.

    Attributes:
        images: shape ``(N, H, W)``, binary float32.
        factor_values: each image's factor values, shape ``(N, F)`` (float32).
        factor_indices: each image's factor indices, shape ``(N, F)`` (int64).
        factor_names: the names of the F factors.
        factor_sizes: how many values each factor takes.
    """

    images: torch.Tensor
    factor_values: torch.Tensor
    factor_indices: torch.Tensor
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]

    @property
    def flat(self) -> torch.Tensor:
        """Images flattened to ``(N, H·W)``, ready for :class:`elbo_book.models.VAE`."""
        return self.images.reshape(self.images.shape[0], -1)

    def index_of(self, factor_indices: torch.Tensor) -> torch.Tensor:
        """Rows of the data set for factor indices of shape ``(..., F)``.

        Args:
            factor_indices: an integer tensor of shape ``(..., F)``, each index within its
                factor's size.

        Returns:
            The row numbers, shape ``factor_indices.shape[:-1]``.

        Raises:
            ValueError: a non-integer tensor, a wrong last dimension or indices out of range.
        """
        if (
            not isinstance(factor_indices, torch.Tensor)
            or factor_indices.is_floating_point()
            or factor_indices.is_complex()
            or factor_indices.dtype == torch.bool
            or factor_indices.dim() == 0
            or factor_indices.shape[-1] != len(self.factor_sizes)
        ):
            raise ValueError(
                f"factor_indices must be an integer tensor of shape (..., {len(self.factor_sizes)})"
            )
        sizes = torch.tensor(self.factor_sizes)
        if bool(((factor_indices < 0) | (factor_indices >= sizes)).any()):
            raise ValueError(f"factor_indices out of range: factor sizes are {self.factor_sizes}")
        strides = torch.ones(len(sizes), dtype=torch.int64)
        for i in range(len(sizes) - 2, -1, -1):
            strides[i] = strides[i + 1] * sizes[i + 1]
        return (factor_indices * strides).sum(dim=-1)


def make_shapes(*, image_size: int = 16, sizes: tuple[int, ...] = (4, 6, 8)) -> FactorDataset:
    """Binary square images (``image_size`` pixels a side) of a square or a disc: 4 factors.

    A square of side s, or a disc of diameter s (s an even number of pixels ≥ 4), is centred
    on a pixel corner (x, y); x and y run over every integer position at which the largest
    object fits inside the image (9 positions each for the defaults: 2 · 3 · 9 · 9 = 486
    images).  A pixel is on when its centre lies inside the object, so every image is distinct.
    Deterministic: no randomness.

    Args:
        image_size: pixels per side, ≥ 8.
        sizes: distinct even object sizes ≥ 4, each ≤ ``image_size − 2``.

    Returns:
        The :class:`FactorDataset`.

    Raises:
        ValueError: a bad argument.
    """
    image_size = check_int(image_size, "image_size", minimum=8)
    if not isinstance(sizes, tuple | list):
        raise ValueError(f"sizes must be a tuple of even ints, got {sizes!r}")
    if not sizes:
        raise ValueError("sizes must contain at least one object size")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s < 4 or s % 2:
            raise ValueError(f"each size must be an even int >= 4 (pixels), got {s!r}")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"sizes must be distinct, got {sizes}")
    largest = max(sizes)
    if largest > image_size - 2:
        raise ValueError(f"sizes must be <= image_size - 2 = {image_size - 2}, got {largest}")
    positions = np.arange(largest // 2, image_size - largest // 2 + 1, dtype=np.float64)
    shape_grid = np.array([0.0, 1.0])  # 0 = square, 1 = disc
    size_grid = np.asarray(sorted(sizes), dtype=np.float64)
    grids = (shape_grid, size_grid, positions, positions)
    factor_sizes = tuple(len(g) for g in grids)
    indices = np.stack(
        np.meshgrid(*[np.arange(n) for n in factor_sizes], indexing="ij"), axis=-1
    ).reshape(-1, 4)
    values = np.stack([grids[f][indices[:, f]] for f in range(4)], axis=1)
    centres = np.arange(image_size) + 0.5
    dx = centres[None, None, :] - values[:, 2, None, None]  # columns: x
    dy = centres[None, :, None] - values[:, 3, None, None]  # rows: y
    half = values[:, 1, None, None] / 2
    square = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    disc = dx**2 + dy**2 <= half**2
    is_disc = values[:, 0, None, None] == 1.0
    images = np.where(is_disc, disc, square).astype(np.float32)
    return FactorDataset(
        images=torch.from_numpy(images),
        factor_values=torch.as_tensor(values, dtype=torch.float32),
        factor_indices=torch.as_tensor(indices, dtype=torch.int64),
        factor_names=("shape", "size", "x", "y"),
        factor_sizes=factor_sizes,
    )


def load_mnist_npz(path: str | Path, *, binarize: bool = False) -> DataSplit:
    """MNIST from a local ``.npz`` file; nothing is downloaded.

    Expected format: ``numpy.savez(path, x_train=…, y_train=…, x_test=…, y_test=…)`` with images
    of shape ``(N, 28, 28)`` (or flat ``(N, 784)``), either uint8 in 0..255 or floats in [0, 1],
    and integer labels.  This is the layout of ``keras.datasets.mnist``'s ``mnist.npz``.
    Images are flattened and scaled to [0, 1]; ``binarize`` thresholds them at 0.5.

    Args:
        path: the ``.npz`` file.
        binarize: whether to threshold the pixels at 0.5 (a bool).

    Returns:
        The :class:`DataSplit`.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file is unreadable, lacks an array, has images of another shape or
            range, or a label count that differs from the image count.
    """
    binarize = check_bool(binarize, "binarize")
    path = Path(path)
    expected = (
        "an .npz file with arrays " + ", ".join(MNIST_NPZ_KEYS) + " (images (N, 28, 28) uint8 "
        "0..255 or floats in [0, 1]; e.g. keras' mnist.npz)"
    )
    if not path.is_file():
        raise FileNotFoundError(f"no MNIST file at {str(path)!r}: expected {expected}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in MNIST_NPZ_KEYS if key in archive.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{str(path)!r} is not a readable .npz: expected {expected}") from error
    missing = [key for key in MNIST_NPZ_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{str(path)!r} lacks arrays {missing}: expected {expected}")
    for part in ("train", "test"):
        images, labels = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if images.ndim not in (2, 3) or images.shape[0] == 0:
            raise ValueError(
                f"x_{part} in {str(path)!r} must have shape (N, 28, 28) or (N, 784) with N >= 1, "
                f"got {images.shape}"
            )
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"y_{part} in {str(path)!r} must hold one label per image: {images.shape[0]} "
                f"images but labels of shape {labels.shape}"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"y_{part} in {str(path)!r} must be integers, got {labels.dtype}")
    tensors = {}
    for key in ("x_train", "x_test"):
        x = arrays[key]
        x = x.reshape(x.shape[0], -1)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
            raise ValueError(f"{key} in {str(path)!r} must be uint8 or floats in [0, 1]")
        if binarize:
            x = (x > 0.5).astype(np.float32)
        tensors[key] = torch.from_numpy(np.ascontiguousarray(x))
    return DataSplit(
        x_train=tensors["x_train"],
        y_train=torch.as_tensor(arrays["y_train"], dtype=torch.int64),
        x_test=tensors["x_test"],
        y_test=torch.as_tensor(arrays["y_test"], dtype=torch.int64),
    )


#: File types that :func:`load_array_file` reads.
ARRAY_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".pt", ".csv")


def _read_array(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            key = "x" if "x" in names else names[0] if len(names) == 1 else None
            if key is None:
                raise ValueError(
                    f"{str(path)!r} holds arrays {names}: name the data array 'x' "
                    "(numpy.savez(path, x=data)) or store a single array"
                )
            return archive[key]
    if suffix == ".pt":
        value = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(value, dict) and "x" in value:
            value = value["x"]
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{str(path)!r} must hold a tensor (torch.save(tensor, path)) or a dict with a "
                f"tensor under 'x', got {type(value).__name__}"
            )
        return value.detach().cpu().numpy()
    # CSV: numbers separated by commas, one example per row; a non-numeric first row is a header.
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    try:
        [float(cell) for cell in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1
    return np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)


def load_array_file(path: str | Path, *, name: str = "data") -> torch.Tensor:
    """One's own data set from a file, as a checked float32 tensor of shape ``(N, D)``.

    Reads ``.npy`` (one array), ``.npz`` (the array ``x``, or its only array), ``.pt`` (a tensor,
    or a dict with a tensor under ``x``; loaded with ``weights_only=True``) or ``.csv`` (comma-
    separated numbers, one example per row, an optional header row).  Rows are examples; an
    array of shape ``(N, ...)`` is flattened to ``(N, D)``.  ``uint8`` arrays (images in 0..255)
    are divided by 255; other numbers are kept as they are (a Bernoulli decoder then needs
    exactly 0/1 values, which :class:`elbo_book.models.VAE` checks).

    Args:
        path: the file.
        name: what to call the data in error messages.

    Returns:
        A float32 CPU tensor of shape ``(N, D)``, N ≥ 1, every value finite.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: an unknown suffix, an unreadable file, a 1-D or empty array, non-numeric
            values, or NaN/inf.
    """
    path = Path(path)
    if path.suffix.lower() not in ARRAY_SUFFIXES:
        raise ValueError(
            f"{name} file {str(path)!r} must end in one of {', '.join(ARRAY_SUFFIXES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no {name} file at {str(path)!r}")
    try:
        array = _read_array(path)
    except Exception as error:  # NumPy and torch raise many kinds (UnpicklingError, EOFError...)
        if isinstance(error, ValueError) and str(error).startswith(repr(str(path))):
            raise
        raise ValueError(
            f"{name} file {str(path)!r} is not a readable {path.suffix} array: {error}"
        ) from error
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} in {str(path)!r} must be numbers, got dtype {array.dtype}")
    if array.ndim < 2:
        raise ValueError(
            f"{name} in {str(path)!r} must have shape (N, D) (one example per row) or (N, ...), "
            f"got shape {array.shape}; reshape a single example to (1, D) or scalars to (N, 1)"
        )
    if array.shape[0] == 0 or array[0].size == 0:
        raise ValueError(f"{name} in {str(path)!r} has no examples (shape {array.shape})")
    scaled = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array
    flat = np.ascontiguousarray(scaled.reshape(array.shape[0], -1), dtype=np.float32)
    if not np.isfinite(flat).all():
        raise ValueError(
            f"{name} in {str(path)!r} must be finite: it contains NaN or inf (or values beyond "
            "float32's range)"
        )
    return torch.from_numpy(flat)
