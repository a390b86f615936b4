"""Derivation names that the engine's docstrings and guide cite exist in the registry."""

from __future__ import annotations

import re
from pathlib import Path

from elbo_book.derive.registry import collect

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"derivations? ``([a-z_0-9]+)``|(gaussian_moment_\d)")


def test_derivations_named_in_the_semantics_docstring_exist() -> None:
    package = ROOT / "elbo_book" / "derive" / "semantics"
    text = "".join(f.read_text(encoding="utf-8") for f in sorted(package.glob("*.py")))
    cited = {a or b for a, b in CITED.findall(text)}
    assert cited, "the docstring names the moment derivations"
    assert cited <= {d.name for d in collect("elbo_book.book")}, cited
