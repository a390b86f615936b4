"""The engine's public API has one source of truth, each module's ``__all__``: every name in it
exists, and every engine module is on the API page (``chapters/api_reference.md``), whose
``automodule … :members:`` documents exactly the names in ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import elbo_book.book
import elbo_book.book.errata
import elbo_book.derive

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "chapters" / "api_reference.md").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"^\.\. automodule:: (\S+)$", PAGE, re.M))
WITH_MEMBERS = set(re.findall(r"^\.\. automodule:: (\S+)\n   :members:$", PAGE, re.M))

# The engine, its report, and the Errata's modules (the chapters' own modules in
# ``elbo_book.book`` are the book's content, shown in the chapters: they are on the page too).
ENGINE = sorted(
    {"elbo_book.derive", "elbo_book.verify"}
    | {m.name for m in pkgutil.iter_modules(elbo_book.derive.__path__, "elbo_book.derive.")}
    | {
        m.name
        for m in pkgutil.iter_modules(elbo_book.book.errata.__path__, "elbo_book.book.errata.")
    }
)
BOOK = sorted(
    {"elbo_book.book"}
    | {m.name for m in pkgutil.walk_packages(elbo_book.book.__path__, "elbo_book.book.")}
)


def test_the_engine_module_list_is_complete() -> None:
    assert "elbo_book.derive.indexed_sums" in ENGINE
    assert "elbo_book.book.errata.records" in ENGINE
    assert "elbo_book.book.errata.claims" in ENGINE
    assert len(ENGINE) >= 20, ENGINE
    assert {"elbo_book.book.shared", "elbo_book.book.ch01_jensen_bound"} <= set(BOOK), BOOK


@pytest.mark.parametrize("name", BOOK)
def test_every_book_module_is_on_the_page(name: str) -> None:
    """Every module of the book's content has an ``automodule`` section (with ``:members:``
    unless it is a package)."""
    module = importlib.import_module(name)
    assert name in DOCUMENTED, f"{name} is not on the API page"
    if not hasattr(module, "__path__"):
        assert name in WITH_MEMBERS, f"{name} is on the API page without :members:"


@pytest.mark.parametrize("name", ENGINE)
def test_every_engine_module_declares_its_api_and_is_on_the_page(name: str) -> None:
    module = importlib.import_module(name)
    public = getattr(module, "__all__", None)
    assert public, f"{name} has no __all__"
    missing = [n for n in public if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names {missing}, which it does not define"
    assert len(public) == len(set(public)), f"{name}.__all__ repeats a name"
    assert "Public API:" not in (module.__doc__ or ""), f"{name}: a second, hand-kept list"
    assert name in DOCUMENTED, f"{name} is not on the API page"
    if name != "elbo_book.derive":  # the facade: its names are documented where defined
        assert name in WITH_MEMBERS, f"{name} is on the API page without :members:"


def test_every_documented_module_exists() -> None:
    for name in sorted(DOCUMENTED):
        importlib.import_module(name)
