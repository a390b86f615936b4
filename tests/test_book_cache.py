"""tools/book_cache.py: the book's execution cache is cleared when the package source changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.book_cache import CACHE, invalidate_if_stale, source_digest


def make_tree(tmp_path: Path) -> tuple[Path, Path]:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    build = tmp_path / "_build"
    (build / CACHE).mkdir(parents=True)
    (build / CACHE / "entry").write_text("outputs")
    return build, package


def test_cache_without_a_stamp_is_cleared(tmp_path: Path) -> None:
    build, package = make_tree(tmp_path)
    assert invalidate_if_stale(build, package)
    assert not (build / CACHE).exists()


def test_cache_kept_while_source_unchanged_cleared_after_a_change(tmp_path: Path) -> None:
    build, package = make_tree(tmp_path)
    invalidate_if_stale(build, package)
    (build / CACHE).mkdir()  # the build fills the cache
    assert not invalidate_if_stale(build, package)
    assert (build / CACHE).exists()
    (package / "a.py").write_text("x = 2\n")
    assert invalidate_if_stale(build, package)
    assert not (build / CACHE).exists()


def test_digest_sees_new_and_renamed_files_not_bytecode(tmp_path: Path) -> None:
    _, package = make_tree(tmp_path)
    before = source_digest(package)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert source_digest(package) == before
    (package / "b.py").write_text("")
    after_new = source_digest(package)
    assert after_new != before
    (package / "b.py").rename(package / "c.py")
    assert source_digest(package) != after_new


def test_missing_package_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="package"):
        invalidate_if_stale(tmp_path / "_build", tmp_path / "nope")
