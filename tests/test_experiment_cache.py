from pathlib import Path

import pytest
import torch

from elbo_book import experiment_cache
from elbo_book.experiment_cache import (
    CACHE_ENV_VAR,
    ExperimentCache,
    default_cache_dir,
    source_digest,
    tensor_digest,
)

PAYLOAD = {"weights": torch.arange(6.0).reshape(2, 3), "history": {"elbo": [-3.0, -2.5]}}


def _same(a: dict, b: dict) -> bool:
    return torch.equal(a["weights"], b["weights"]) and a["history"] == b["history"]


def test_round_trip_and_counters(tmp_path: Path) -> None:
    cache = ExperimentCache(tmp_path / "c")
    key = ExperimentCache.key(config={"a": 1}, seed=0)
    assert cache.load(key) is None and cache.misses == 1
    assert cache.save(key, PAYLOAD) and cache.writes == 1
    loaded = cache.load(key)
    assert loaded is not None and _same(loaded, PAYLOAD) and cache.hits == 1
    assert (tmp_path / "c" / "access.log").read_text().split() == ["miss", key, "hit", key]
    assert not list((tmp_path / "c").glob(".partial-*"))  # the temporary file was renamed


def test_key_depends_on_every_part() -> None:
    base = ExperimentCache.key(config={"a": 1, "b": [1, 2]}, seed=0)
    assert base == ExperimentCache.key(seed=0, config={"b": [1, 2], "a": 1})  # order-free
    assert base != ExperimentCache.key(config={"a": 1, "b": [1, 2]}, seed=1)
    assert base != ExperimentCache.key(config={"a": 2, "b": [1, 2]}, seed=0)
    assert len(base) == 64 and len(source_digest()) == 64


def test_key_changes_with_the_package_source(monkeypatch: pytest.MonkeyPatch) -> None:
    base = ExperimentCache.key(seed=0)
    monkeypatch.setattr(experiment_cache, "source_digest", lambda: "0" * 64)
    assert ExperimentCache.key(seed=0) != base


def test_tensor_digest() -> None:
    x = torch.arange(4.0)
    assert tensor_digest(x) == tensor_digest(x.clone())
    assert tensor_digest(x) != tensor_digest(x.double())  # dtype counts
    assert tensor_digest(x) != tensor_digest(x.reshape(2, 2))  # shape counts
    y = x.clone()
    y[3] = 3.5
    assert tensor_digest(x) != tensor_digest(y)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # truncated: a partial write
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # one flipped bit in the payload
        lambda raw: b"not a cache entry",
        lambda raw: b"",
    ],
)
def test_corrupt_entry_is_retrained_never_loaded(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    cache = ExperimentCache(tmp_path)
    key = ExperimentCache.key(seed=0)
    cache.save(key, PAYLOAD)
    path = cache.path(key)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(RuntimeWarning, match="corrupt or incomplete"):
        assert cache.load(key) is None
    assert not path.exists() and cache.misses == 1


def test_entry_under_another_key_is_not_loaded(tmp_path: Path) -> None:
    cache = ExperimentCache(tmp_path)
    a, b = ExperimentCache.key(seed=0), ExperimentCache.key(seed=1)
    cache.save(a, PAYLOAD)
    cache.path(b).write_bytes(cache.path(a).read_bytes())  # a valid entry, misfiled
    with pytest.warns(RuntimeWarning):
        assert cache.load(b) is None


def test_unwritable_folder_turns_caching_off(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cache = ExperimentCache(tmp_path / "file" / "cache")
    with pytest.warns(RuntimeWarning, match="cannot write"):
        assert not cache.save(ExperimentCache.key(seed=0), PAYLOAD)
    assert cache.disabled_reason is not None
    assert not cache.save(ExperimentCache.key(seed=1), PAYLOAD)  # silently off from now on


def test_default_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    assert default_cache_dir() == tmp_path and ExperimentCache().root == tmp_path
    monkeypatch.delenv(CACHE_ENV_VAR)
    assert default_cache_dir().parts[-2:] == ("_build", "experiment-cache")  # in a checkout
