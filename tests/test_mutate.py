"""The mutation test's operators (issue 14): each means something, is counted per operator,
and ``python -m elbo_book.verify --mutate`` fails when a valid mutant survives."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import elbo_book.verify as verify
from elbo_book.derive import ELBO, KL, Derivation, E, Gap, N, SumN, log, n, p, q, x, z
from elbo_book.derive.mutate import (
    FLIP,
    FORGED,
    NAMED,
    OPERATORS,
    SWAP_SEMANTICS,
    VANISHING,
    MutationReport,
    mutants,
    mutate_derivation,
)

QZ, POST = q(z | x), p(z | x)


def _counts(rep: MutationReport, op: str) -> list[int]:
    return rep.by_operator.get(op, [0, 0, 0, 0, 0])


def test_flipped_relations_and_forged_squares_are_killed() -> None:
    d = Derivation("m", log(p(x))).ge(ELBO, "gap is KL", certificate=Gap(KL(QZ, POST)))
    rep = mutate_derivation(d)
    for op in (FLIP, FORGED, SWAP_SEMANTICS):
        killed, survived, *_ = _counts(rep, op)
        assert killed >= 1 and survived == 0, (op, rep.survivors)


def test_vanishing_terms_and_named_definitions_are_killed() -> None:
    d = Derivation("m", E(QZ, log(p(x, z) / QZ))).eq(ELBO, "definition of the ELBO")
    rep = mutate_derivation(d)
    for op in (VANISHING, NAMED):
        killed, survived, *_ = _counts(rep, op)
        assert killed >= 1 and survived == 0, (op, rep.survivors)
    indexed = Derivation("m", (1 / N) * SumN(KL(q(z | n), p(z)))).eq(
        (1 / N) * SumN(E(q(z | n), log(q(z | n) / p(z)))), "definition of KL"
    )
    killed, survived, *_ = _counts(mutate_derivation(indexed), VANISHING)
    assert killed == 1 and survived == 0


def test_mutation_operators_and_kills(kl_identity: Callable[[], Derivation]) -> None:
    descs = [dsc for dsc, _ in mutants(KL(QZ, POST) + E(QZ, log(p(x, z) * QZ)))]
    assert any("swap KL" in s for s in descs)
    assert any("product of logs" in s for s in descs)
    assert any("swap conditional" in s for s in descs)
    rep = mutate_derivation(kl_identity())
    assert rep.total > 20 and rep.killed / rep.total >= 0.95, rep.survivors


def test_every_counted_operator_is_declared() -> None:
    d = Derivation("m", log(p(x))).ge(ELBO, "gap is KL", certificate=Gap(KL(QZ, POST)))
    assert set(mutate_derivation(d).by_operator) <= set(OPERATORS)


def test_mutate_exits_non_zero_on_a_survivor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weak = MutationReport("weak", killed=3, survived=1, survivors=["(1) [drop summand] …"])
    weak.by_operator = {"drop summand": [3, 1, 0, 0, 0]}
    monkeypatch.setattr(verify, "mutate_all", lambda jobs, chapter, source: [weak])
    assert verify.main(["--mutate"]) == 1
    out = capsys.readouterr().out
    assert "survived: (1) [drop summand]" in out
    assert "drop summand" in out and "75.0%" in out
    strong = MutationReport("strong", killed=2, by_operator={"drop summand": [2, 0, 0, 0, 0]})
    monkeypatch.setattr(verify, "mutate_all", lambda jobs, chapter, source: [strong])
    assert verify.main(["--mutate"]) == 0
