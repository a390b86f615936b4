"""Keep the book's execution cache honest: clear it when the ``elbo_book`` source changes.

Jupyter Book's ``execute_notebooks: cache`` (jupyter-cache) keys a notebook's stored outputs on the
notebook's code alone, so after a change to the package a rebuild would show outputs computed by
the *old* package. Before each build, :func:`invalidate_if_stale` compares a digest of the
package's source with the one stored beside the cache and deletes the cache when they differ
(or when no digest was stored).

Usage: ``python -m tools.book_cache [BUILD_DIR] [PACKAGE_DIR]``
(defaults: ``_build`` and ``elbo_book``).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

CACHE = ".jupyter_cache"
STAMP = "elbo_book-source.sha256"


def source_digest(package: Path) -> str:
    """SHA-256 over the relative path and content of each file of ``package`` (not bytecode)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def invalidate_if_stale(build: Path, package: Path) -> bool:
    """Delete ``build/.jupyter_cache`` unless it was made with the current ``package`` source.

    Args:
        build: the book's build folder.
        package: the package whose source the cached outputs depend on.

    Returns:
        Whether a cache was deleted.

    Raises:
        NotADirectoryError: if ``package`` is not a folder.
    """
    if not package.is_dir():
        raise NotADirectoryError(f"package must be a folder, got {package}")
    stamp = build / STAMP
    current = source_digest(package)
    stale = not stamp.exists() or stamp.read_text().strip() != current
    cache = build / CACHE
    deleted = stale and cache.exists()
    if deleted:
        shutil.rmtree(cache)
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return deleted


def main(argv: list[str]) -> int:
    """Command-line entry point; prints what it did."""
    build = Path(argv[0]) if argv else Path("_build")
    package = Path(argv[1]) if len(argv) > 1 else Path("elbo_book")
    if invalidate_if_stale(build, package):
        print(f"book cache: {package} changed since the last build; cleared {build / CACHE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
