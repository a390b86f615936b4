"""The Errata: every source mistake's check fails as written and its correction passes."""

from __future__ import annotations

import re

import pytest
import sympy

from elbo_book.book.errata import catalogue
from elbo_book.book.errata.notation import RULES, align_rows, notation_check
from elbo_book.book.errata.records import (
    Check,
    Erratum,
    NotationClaim,
    NumericClaim,
    Point,
    Residual,
)
from elbo_book.derive import KL, Derivation, p, q, z
from elbo_book.derive.registry import collect

LABELS = [e.label for e in catalogue.ERRATA]


def test_labels_are_unique_and_myst_safe() -> None:
    assert len(LABELS) == len(set(LABELS))
    for label in LABELS:
        assert re.fullmatch(r"erratum-00[02]-[a-z0-9-]+", label), label


def test_every_kind_and_source_is_used() -> None:
    assert {e.kind for e in catalogue.ERRATA} == set(catalogue.KINDS)
    assert {e.source for e in catalogue.ERRATA} == {"000", "002"}


@pytest.mark.parametrize("label", LABELS)
def test_source_version_fails(label: str) -> None:
    assert catalogue.failing_check_fails(catalogue.by_label(label))


@pytest.mark.parametrize("label", LABELS)
def test_correction_passes(label: str) -> None:
    assert catalogue.correction_passes(catalogue.by_label(label))


def test_engine_entries_mark_their_failure_as_expected() -> None:
    for e in catalogue.ERRATA:
        shown = e.as_written()
        if isinstance(shown, Check):
            continue
        fixed = e.corrected()
        assert isinstance(fixed, Derivation), e.label
        assert any(s.expect_fail for s in shown.steps), e.label
        assert not any(s.expect_fail for s in fixed.steps), e.label


def test_unknown_label_and_rule_are_refused() -> None:
    with pytest.raises(KeyError):
        catalogue.by_label("erratum-000-nothing")
    with pytest.raises(ValueError, match="unknown notation rule"):
        notation_check("no_such_rule", "x")


def test_erratum_validates_its_fields() -> None:
    e = catalogue.ERRATA[0]
    with pytest.raises(ValueError, match="kind"):
        Erratum(label=e.label, location="", kind="silly", title="", check=e.check)
    for label in ("erratum-001-x", "erratum-000-", "errata-000-x", "erratum-000"):
        with pytest.raises(ValueError, match="label"):
            Erratum(label=label, location="", kind="typo", title="", check=e.check)


def test_the_label_names_the_source_and_the_derivations() -> None:
    """The label is written once: the source and every registered derivation name follow it."""
    registered = [d.name for d in collect("elbo_book.book") if d.chapter == "errata"]
    names = []
    for e in catalogue.ERRATA:
        assert e.source == e.label.split("-")[1]
        for d in e.derivations():
            assert d.name.startswith(e.label.replace("-", "_") + "_"), (e.label, d.name)
            names.append(d.name)
    assert names == registered  # in the page's order


def test_an_unknown_numeric_claim_is_refused() -> None:
    with pytest.raises(ValueError, match="no check 'no_such_claim'"):
        NumericClaim("no_such_claim").run(True)
    with pytest.raises(ValueError, match="no check 'Check'"):
        NumericClaim("Check").run(True)  # a name in the module that is not one of its checks


def test_a_notation_claim_applies_its_rule_to_either_side() -> None:
    claim = NotationClaim("kl_separator", r"\kl(q(z)\mid p(z))", r"\kl(q(z)\,\|\,p(z))")
    assert not claim.run(True).passed and claim.run(False).passed


@pytest.mark.parametrize("rule", sorted(RULES))
def test_notation_rules_accept_clean_latex(rule: str) -> None:
    clean = r"\mathbb{E}_{q_{\phi}(z\vert x)}\left[\log p_{\theta}(x\vert z)\right]"
    assert notation_check(rule, clean).passed


def test_check_text_is_deterministic() -> None:
    first = catalogue.by_label("erratum-002-kl-isotropic").as_written()
    again = NumericClaim("isotropic_gaussian_kl").run(True)  # computed afresh
    assert isinstance(first, Check)
    assert first == again and first.text() == again.text()
    assert first.text().startswith("✗ FAILS (numeric counterexample)")
    assert all(line.startswith("    ") for line in first.text().splitlines()[1:])


def test_summary_rows_cover_every_erratum() -> None:
    rows = catalogue.summary_rows()
    assert [r[0] for r in rows] == LABELS
    assert all(r[5] == "✓ / ✓" for r in rows)


def test_kinds_are_counted_from_the_catalogue() -> None:
    counts = catalogue.kind_counts()
    assert sum(counts.values()) == len(catalogue.ERRATA)
    assert counts == {k: sum(e.kind == k for e in catalogue.ERRATA) for k in catalogue.KINDS}


def _engine_failure(e: Erratum) -> str:
    shown = e.as_written()
    assert not isinstance(shown, Check)
    return next(r.detail for r in shown.check(raise_on_failure=False) if r.expected_failure)


@pytest.mark.parametrize("label", LABELS)
def test_every_refuted_engine_step_is_explained_in_the_pages_notation(label: str) -> None:
    """A well-formed step the engine refutes carries a Residual (proven, reproduced on an exact
    instance, larger than rounding); a step without one fails because a term has no meaning; a
    wrong equation always has a residual, and the page never shows the raw residual."""
    e = catalogue.by_label(label)
    if isinstance(e.as_written(), Check):
        assert e.residual is None
        return
    detail = _engine_failure(e)
    if e.residual is None:
        assert detail.startswith("ill-formed term"), detail
        assert e.kind == "typo"
        return
    assert e.residual.refutes()
    shown = repr(catalogue.view(e.as_written(), e.residual))
    assert "not an identity" not in shown and "log(-" not in shown
    assert e.residual.quantity.text() in shown
    source = catalogue.view(e.as_written(), e.residual)
    assert isinstance(source, catalogue.SourceVersion)
    html = source._repr_html_()
    assert "not an identity" not in html and "Why." in html


def test_ill_formed_steps_are_typos_and_false_equations_are_not() -> None:
    for e in catalogue.ERRATA:
        if isinstance(e.as_written(), Check):
            continue
        ill_formed = _engine_failure(e).startswith("ill-formed term")
        assert ill_formed == (e.kind == "typo"), e.label


def test_a_wrong_residual_or_a_small_difference_does_not_refute() -> None:
    e = catalogue.by_label("erratum-000-surgery-sign")
    res = e.residual
    assert res is not None
    wrong_quantity = Derivation("errata_test_bad_residual", res.right - res.left).eq(
        KL(q(z), p(z)), "half the true residual"
    )
    assert not Residual(wrong_quantity, "", res.point, res.left, res.rel, res.right).refutes()
    # a point where the aggregate q(z) is the prior: the residual 2·KL(q(z) ‖ p(z)) vanishes
    half = sympy.Rational(1, 2)
    flat = Point(
        prior=(half, half),
        lik_n=((half, half), (half, half)),
        enc_n=((half, half), (half, half)),
    )
    assert not Residual(res.derivation, "", flat, res.left, res.rel, res.right).refutes()


def test_point_validates_its_distributions() -> None:
    third = sympy.Rational(1, 3)
    with pytest.raises(ValueError, match="distribution"):
        Point(prior=(third, third), lik=(third, third), enc=(third, 2 * third))
    with pytest.raises(ValueError, match="likelihood"):
        Point(prior=(third, 2 * third), lik=(third, 0), enc=(third, 2 * third))
    with pytest.raises(ValueError, match="one row"):
        Point(prior=(third, 2 * third), lik=(third, third))


def test_cited_rows_numbers_rows_by_the_pages_rule() -> None:
    assert align_rows(r"a \\ b \\", 1) == {1: "a", 2: "b", 3: ""}
    assert align_rows(r"a \\ b", 7) == {7: "a", 8: "b"}
    assert notation_check("cited_rows", "% first=7 cited=8\na \\\\ b").passed
    failed = notation_check("cited_rows", "% first=7 cited=9,10\na \\\\ b \\\\")
    assert not failed.passed
    assert "(9) is an empty row" in failed.text()
    assert "(10) is not a row" in failed.text()


def test_old_labels_resolve() -> None:
    for old, new in catalogue.ALIASES.items():
        assert catalogue.by_label(old) is catalogue.by_label(new)
        assert old not in LABELS
