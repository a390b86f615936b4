"""``elbo_book.derive.chain``: derivations check every step, name the first false one, record
expected failures, and display what they checked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from elbo_book.derive import KL, Derivation, E, Gap, StepError, log, p, q, x, z
from elbo_book.derive.checks import ANY_K_BADGE

QZ, PZX, PXZ = q(z | x), p(z | x), p(x, z)
ELBO_BODY = log(PXZ / QZ)


def test_correct_chain_passes_with_symbolic_badges(
    kl_identity: Callable[[], Derivation],
) -> None:
    d = kl_identity()
    results = d.check()
    assert all(r.proven and r.as_expected and not r.expected_failure for r in results)
    assert all(r.badges == (ANY_K_BADGE,) for r in results)
    assert "4/4 steps verified" in repr(d)


@pytest.mark.parametrize(
    ("label", "expr", "why"),
    [
        ("sum-in-log", E(QZ, log(QZ / PZX + PXZ / QZ)), "log of product as a sum of ratios"),
        ("wrong-bayes", E(QZ, log(PXZ * p(z) / p(x))), "Bayes as p(x,z)p(z)/p(x)"),
        ("sign", E(QZ, log(QZ / PZX)) - E(QZ, ELBO_BODY), "sign flipped"),
        ("swap", KL(PZX, QZ) + E(QZ, ELBO_BODY), "KL arguments swapped"),
        ("qxx", E(QZ, log(PXZ * QZ / (PZX * q(x | x)))), "q(x|x) typo"),
    ],
)
def test_false_step_fails_naming_step_and_justification(label: str, expr: object, why: str) -> None:
    d = Derivation("false_test", log(p(x))).eq(E(QZ, log(p(x))), "constant", label="const")
    d = d.eq(expr, why, label=label)
    with pytest.raises(StepError) as info:
        d.check()
    msg = str(info.value)
    assert f"({label})" in msg and why in msg
    assert "residual" in msg or "undefined" in msg or "ill-formed" in msg
    first, second = d.check(raise_on_failure=False)
    assert first.proven and not second.proven and not second.as_expected


def test_failure_shows_residual_and_counterexample() -> None:
    d = Derivation("ce_test", log(p(x))).eq(E(QZ, log(PXZ / QZ)), "ELBO is not log p(x)")
    with pytest.raises(StepError, match=r"counterexample: .* gives difference"):
        d.check()


def test_expected_failure_is_confirmed_and_must_fail() -> None:
    d = Derivation("errata_test", log(p(x))).eq(
        E(QZ, log(PXZ * p(z) / p(x))), "source's Bayes rule", expect_fail=True
    )
    (r,) = d.check()
    assert not r.proven and r.as_expected and r.confirmed_failure
    assert r.badges == ("✗ fails as expected",)
    assert "residual" in r.detail
    assert "1 expected failure confirmed" in repr(d)
    passing = Derivation("errata_pass", log(p(x))).eq(
        E(QZ, log(p(x))), "actually true", expect_fail=True
    )
    with pytest.raises(StepError, match="expected to fail, but it passed"):
        passing.check()
    (unexpected,) = passing.check(raise_on_failure=False)
    assert unexpected.proven and not unexpected.as_expected and not unexpected.confirmed_failure


def test_displays_are_deterministic_and_typeset(kl_identity: Callable[[], Derivation]) -> None:
    d = kl_identity()
    latex = d._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}") and latex.count("\\checkmark") == 4
    html = d._repr_html_()
    assert "mathjax_process" in html and "\\(" in html
    assert repr(d) == repr(kl_identity())
    assert "0x" not in repr(d)
    text = repr(d).splitlines()
    assert text[0] == "Derivation kl_identity_test: 4/4 steps verified"
    assert text[-1].startswith("  conclusion: log pθ(x) = KL(qφ(z | x) ‖ pθ(z | x)) + ")
    assert text[-1].endswith("(in any finite support K)")


def test_a_false_step_is_marked_in_every_display() -> None:
    d = Derivation("marks", log(p(x))).eq(E(QZ, ELBO_BODY), "the ELBO is not log p(x)")
    d.check(raise_on_failure=False)  # the displays then show these verdicts
    assert "0/1 steps verified" in repr(d) and "✗ FAILED" in repr(d)
    assert "\\times" in d._repr_latex_() and "\\checkmark" not in d._repr_latex_()
    assert "#cf222e" in d._repr_html_() and "conclusion" not in repr(d)


def test_builder_validates_input() -> None:
    with pytest.raises(ValueError, match="relation"):
        Derivation("v1", log(p(x))).step("<", log(p(x)), "nope")
    with pytest.raises(ValueError, match="justification"):
        Derivation("v2", log(p(x))).eq(log(p(x)), " ")
    with pytest.raises(ValueError, match="exact"):
        Derivation("v3", log(p(x))).eq(0.5, "floats are refused")
    with pytest.raises(ValueError, match="identifier"):
        Derivation("not an identifier", log(p(x)))
    ge = Derivation("v4", log(p(x))).ge(E(QZ, ELBO_BODY), "gap", certificate=Gap(KL(QZ, PZX)))
    with pytest.raises(ValueError, match="one chain, one direction"):
        ge.le(log(p(x)), "back up", certificate=Gap(KL(QZ, PZX)))
    with pytest.raises(ValueError, match="duplicate step label"):
        ge.eq(E(QZ, ELBO_BODY), "again", label="1")
