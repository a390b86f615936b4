"""``elbo_book.derive.registry``: every library module's derivations are collected once."""

from __future__ import annotations

import pytest

from elbo_book.derive import Derivation, log, p, x
from elbo_book.derive.registry import collect, register


def test_registry_collects_library_and_rejects_duplicates() -> None:
    derivations = collect()
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
