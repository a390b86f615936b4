"""The engine's public API has one source of truth, each module's ``__all__``: every name in it
exists, and every engine module is on the API page (``chapters/api_reference.md``), whose
``automodule … :members:`` documents exactly the names in ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import elbo_book.derive
import elbo_book.derive.library

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "chapters" / "api_reference.md").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"^\.\. automodule:: (\S+)$", PAGE, re.M))
WITH_MEMBERS = set(re.findall(r"^\.\. automodule:: (\S+)\n   :members:$", PAGE, re.M))

# The engine, its report, and the Errata's records (the chapters' own modules in
# ``elbo_book.derive.library.ch0*`` are the book's content, shown in the chapters).
ENGINE = sorted(
    (
        {"elbo_book.derive", "elbo_book.verify", "elbo_book.errata_claims"}
        | {m.name for m in pkgutil.iter_modules(elbo_book.derive.__path__, "elbo_book.derive.")}
        | {
            m.name
            for m in pkgutil.iter_modules(
                elbo_book.derive.library.__path__, "elbo_book.derive.library."
            )
            if m.name.rsplit(".", 1)[1].startswith("errata")
        }
    )
    - {"elbo_book.derive.library"}
)


def test_the_engine_module_list_is_complete() -> None:
    assert "elbo_book.derive.indexed_sums" in ENGINE
    assert "elbo_book.derive.library.errata_records" in ENGINE
    assert len(ENGINE) >= 20, ENGINE


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
