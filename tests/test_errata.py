"""The Errata: every source mistake's check fails as written and its correction passes."""

from __future__ import annotations

import re

import pytest

from elbo_book.derive.library import errata
from elbo_book.derive.library.errata_claims import Check
from elbo_book.derive.library.errata_notation import RULES, notation_check
from elbo_book.reproducibility import seed_everything

seed_everything(0)

LABELS = [e.label for e in errata.ERRATA]


def test_labels_are_unique_and_myst_safe() -> None:
    assert len(LABELS) == len(set(LABELS))
    for label in LABELS:
        assert re.fullmatch(r"erratum-00[02]-[a-z0-9-]+", label), label


def test_every_kind_and_source_is_used() -> None:
    assert {e.kind for e in errata.ERRATA} == set(errata.KINDS)
    assert {e.source for e in errata.ERRATA} == {"000", "002"}


@pytest.mark.parametrize("label", LABELS)
def test_source_version_fails(label: str) -> None:
    assert errata.failing_check_fails(errata.by_label(label))


@pytest.mark.parametrize("label", LABELS)
def test_correction_passes(label: str) -> None:
    assert errata.correction_passes(errata.by_label(label))


def test_engine_entries_mark_their_failure_as_expected() -> None:
    for e in errata.ERRATA:
        shown = e.as_written()
        if isinstance(shown, Check):
            continue
        assert any(s.expect_fail for s in shown.steps), e.label
        assert not any(s.expect_fail for s in e.corrected().steps), e.label


def test_unknown_label_and_rule_are_refused() -> None:
    with pytest.raises(KeyError):
        errata.by_label("erratum-000-nothing")
    with pytest.raises(ValueError, match="unknown notation rule"):
        notation_check("no_such_rule", "x")


def test_erratum_validates_its_fields() -> None:
    e = errata.ERRATA[0]
    with pytest.raises(ValueError, match="kind"):
        errata.Erratum(e.label, e.source, e.location, "silly", e.title, e.as_written, e.corrected)
    with pytest.raises(ValueError, match="label"):
        errata.Erratum("erratum-002-x", "000", "", "typo", "", e.as_written, e.corrected)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_notation_rules_accept_clean_latex(rule: str) -> None:
    clean = r"\mathbb{E}_{q_{\phi}(z\vert x)}\left[\log p_{\theta}(x\vert z)\right]"
    assert notation_check(rule, clean).passed


def test_check_text_is_deterministic() -> None:
    first = errata.by_label("erratum-002-kl-isotropic").as_written()
    assert isinstance(first, Check)
    assert first.text() == repr(first)
    assert first.text().startswith("✗ FAILS (numeric counterexample)")


def test_summary_rows_cover_every_erratum() -> None:
    rows = errata.summary_rows()
    assert [r[0] for r in rows] == LABELS
    assert all(r[5] == "✓ / ✓" for r in rows)
