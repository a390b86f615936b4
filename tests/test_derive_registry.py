"""``elbo_book.derive.registry``: every library module's derivations are collected once."""

from __future__ import annotations

from pathlib import Path

import pytest

from elbo_book.derive import Derivation, log, p, x
from elbo_book.derive.registry import collect, register


def test_registry_collects_library_and_rejects_duplicates() -> None:
    derivations = collect("elbo_book.book")
    names = [d.name for d in derivations]
    assert {"gibbs_inequality", "gaussian_moment_2"} <= set(names)
    assert len(names) == len(set(names))
    assert [d.chapter for d in derivations] == sorted(d.chapter for d in derivations)
    assert all(d.chapter for d in derivations)

    with pytest.raises(ValueError, match="already used"):

        @register(chapter="some_other_chapter")
        def _dup() -> Derivation:
            return Derivation("gibbs_inequality", log(p(x)))

    with pytest.raises(ValueError, match="must return a Derivation"):

        @register(chapter="some_other_chapter")
        def _not_a_derivation() -> Derivation:
            return log(p(x))  # type: ignore[return-value]

    with pytest.raises(ValueError, match="chapter basename"):
        register(chapter="")


def test_collect_returns_only_the_sources_own_derivations(tmp_path: Path) -> None:
    """A file's derivations are its own: the book's are not among them (even once the book is
    collected), and collecting the file twice loads it once."""
    book = {d.name for d in collect("elbo_book.book")}
    source = tmp_path / "mine.py"
    source.write_text(
        "from elbo_book.derive import Derivation, E, log, p, q, register, x, z\n"
        "@register(chapter='mine')\n"
        "def mine() -> Derivation:\n"
        "    return Derivation('registry_test_mine', log(p(x))).eq(\n"
        "        E(q(z | x), log(p(x))), 'expectation of a constant')\n",
        encoding="utf-8",
    )
    first = collect(source)
    assert [d.name for d in first] == ["registry_test_mine"]
    assert collect(str(source))[0] is first[0]
    assert {d.name for d in collect("elbo_book.book")} == book
    assert "registry_test_mine" not in book
    with pytest.raises(ValueError, match="defines no derivation"):
        collect("elbo_book.derive.terms")


def test_collect_a_folder_skips_hidden_subfolders_only(tmp_path: Path) -> None:
    """Inside the folder, hidden subfolders (``.git``, ``.ipynb_checkpoints``) are skipped; a
    hidden folder *above* it does not hide its files."""
    folder = tmp_path / ".config" / "notes"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    body = (
        "from elbo_book.derive import Derivation, log, p, register, x\n"
        "@register(chapter='hidden_test')\n"
        "def d() -> Derivation:\n"
        "    return Derivation({name!r}, log(p(x))).eq(log(p(x)), 'same')\n"
    )
    (folder / "kept.py").write_text(body.format(name="registry_test_kept"), encoding="utf-8")
    (folder / ".ipynb_checkpoints" / "kept-checkpoint.py").write_text(
        body.format(name="registry_test_skipped"), encoding="utf-8"
    )
    assert [d.name for d in collect(folder)] == ["registry_test_kept"]


def test_collect_a_module_with_a_missing_import_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that exists but imports a missing one raises that ``ModuleNotFoundError`` (not
    "no such module"), by path or by name; a module that does not exist is a ``ValueError``."""
    broken = tmp_path / "registry_test_broken.py"
    broken.write_text("import registry_test_missing_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for source in (broken, "registry_test_broken"):
        with pytest.raises(ModuleNotFoundError, match="registry_test_missing_dependency"):
            collect(source)
    with pytest.raises(ValueError, match="neither a file, a folder nor an importable module"):
        collect("registry_test_no_such_module")
