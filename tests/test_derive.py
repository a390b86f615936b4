"""Unit tests of the verification engine: correct chains pass, false variants fail naming the
step, badges are honest, certificates are required and checked."""

from __future__ import annotations

import random

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book.derive import (
    KL,
    Derivation,
    E,
    Entropy,
    Finite,
    Gap,
    Gaussian,
    Integral,
    Jensen,
    LogGap,
    MutualInfo,
    N,
    Numeric,
    StepError,
    SumN,
    log,
    n,
    p,
    q,
    x,
    z,
)
from elbo_book.derive.anyk import NotHandled, proves_zero
from elbo_book.derive.checks import ANY_K_BADGE, CheckFailed, check_equal
from elbo_book.derive.mutate import mutants, mutate_derivation
from elbo_book.derive.normal_form import is_zero
from elbo_book.derive.registry import collect, register
from elbo_book.derive.semantics import mu_p, mu_q, sigma_p, sigma_q
from elbo_book.derive.terms import Num, Value

QZ, PZX, PXZ = q(z | x), p(z | x), p(x, z)
ELBO_BODY = log(PXZ / QZ)


def kl_identity() -> Derivation:
    return (
        Derivation("kl_identity_test", log(p(x)))
        .eq(E(QZ, log(p(x))), "expectation of a constant", label="const")
        .eq(E(QZ, log(PXZ / PZX)), "Bayes' rule", label="bayes")
        .eq(E(QZ, log(QZ / PZX)) + E(QZ, ELBO_BODY), "multiply by q/q; linearity", label="split")
        .eq(KL(QZ, PZX) + E(QZ, ELBO_BODY), "definition of KL", label="kl")
    )


# ---- the decision procedure --------------------------------------------------------------
def test_normal_form_proves_log_rules_and_rejects_product_of_logs() -> None:
    a, b = sympy.symbols("a b", positive=True)
    assert is_zero(sympy.log(a * b) - sympy.log(a) - sympy.log(b))
    assert is_zero(sympy.log(a / b) + sympy.log(b / a))
    assert is_zero(sympy.log(sympy.Integer(8)) - 3 * sympy.log(2))
    assert is_zero(sympy.log((a + b) / 2) - sympy.log(a / 2 + b / 2))
    assert not is_zero(sympy.log(a * b) - sympy.log(a) * sympy.log(b))
    assert not is_zero(sympy.log(a + b) - sympy.log(a) - sympy.log(b))


# ---- correct chains pass -----------------------------------------------------------------
def test_correct_chain_passes_with_symbolic_badges() -> None:
    d = kl_identity()
    results = d.check()
    assert all(r.ok for r in results)
    assert all(r.badges == (ANY_K_BADGE,) for r in results)
    assert "4/4 steps verified" in repr(d)


def test_jensen_chain_and_gap_certificates_pass() -> None:
    d = (
        Derivation("jensen_test", log(p(x)))
        .eq(log(Integral(PXZ, "z")), "marginalisation")
        .eq(log(Integral(QZ * (PXZ / QZ), "z")), "multiply by q/q")
        .ge(Integral(QZ * log(PXZ / QZ), "z"), "Jensen", certificate=Jensen())
    )
    assert all(r.ok for r in d.check())
    gap = Derivation("gap_test", log(p(x))).ge(
        E(QZ, ELBO_BODY), "gap is a KL", certificate=Gap(KL(QZ, PZX))
    )
    assert gap.check()[0].badges[0].startswith("✓ gap = KL")


def test_index_semantics_proves_elbo_surgery_split() -> None:
    d = Derivation("surgery_test", (1 / N) * SumN(KL(q(z | n), p(z)))).eq(
        KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z"), "average KL = marginal KL + index MI"
    )
    (r,) = d.check()
    assert r.badges == ("✓ symbolic, any finite support K, any N (indexed sums)",)


def test_gaussian_semantics_proves_closed_form_kl() -> None:
    closed = (
        log(sigma_p / sigma_q)
        + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2)
        - Num(sympy.Rational(1, 2))
    )
    d = Derivation("gauss_kl_test", KL(QZ, p(z)), semantics=(Gaussian(),)).eq(
        closed, "Gaussian moments"
    )
    assert d.check()[0].badges == ("✓ Gaussian family (symbolic integration)",)
    wrong = Derivation("gauss_kl_wrong", KL(QZ, p(z)), semantics=(Gaussian(),)).eq(
        closed + Num(sympy.Rational(1, 2)), "off by one half"
    )
    with pytest.raises(StepError, match="off by one half"):
        wrong.check()


# ---- false variants fail, naming the step ------------------------------------------------
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


def test_failure_shows_residual_and_counterexample() -> None:
    d = Derivation("ce_test", log(p(x))).eq(E(QZ, log(PXZ / QZ)), "ELBO is not log p(x)")
    with pytest.raises(StepError, match=r"counterexample: .* gives difference"):
        d.check()


def test_inequality_needs_a_valid_certificate() -> None:
    base = Derivation("cert_test", log(p(x)))
    with pytest.raises(StepError, match="needs a certificate"):
        Derivation("c1", log(p(x))).ge(E(QZ, ELBO_BODY), "no certificate").check()
    with pytest.raises(StepError, match="not proved ≥ 0"):
        Derivation("c2", log(p(x))).ge(
            E(QZ, ELBO_BODY), "gap not known ≥ 0", certificate=Gap(-KL(QZ, PZX))
        ).check()
    with pytest.raises(StepError, match="not the certificate"):
        Derivation("c3", log(p(x))).ge(
            E(QZ, ELBO_BODY), "wrong KL", certificate=Gap(KL(PZX, QZ))
        ).check()
    with pytest.raises(StepError, match="Jensen"):
        Derivation("c4", E(QZ, log(PXZ / QZ))).ge(
            log(E(QZ, PXZ / QZ)), "Jensen the wrong way", certificate=Jensen()
        ).check()
    assert base.start == log(p(x))


def test_numeric_badge_is_honest() -> None:
    d = Derivation("numeric_test", log(p(x))).ge(
        E(QZ, ELBO_BODY), "checked on random instances only", certificate=Numeric(trials=5)
    )
    (r,) = d.check()
    assert r.ok
    assert all("symbolic" not in b for b in r.badges)
    assert r.badges[0].startswith("numeric only")


def test_expected_failure_is_confirmed_and_must_fail() -> None:
    d = Derivation("errata_test", log(p(x))).eq(
        E(QZ, log(PXZ * p(z) / p(x))), "source's Bayes rule", expect_fail=True
    )
    (r,) = d.check()
    assert r.ok and r.expected_failure and r.badges == ("✗ fails as expected",)
    assert "residual" in r.detail
    assert "1 expected failure confirmed" in repr(d)
    passing = Derivation("errata_pass", log(p(x))).eq(
        E(QZ, log(p(x))), "actually true", expect_fail=True
    )
    with pytest.raises(StepError, match="expected to fail, but it passed"):
        passing.check()


def test_gibbs_lemma_pieces() -> None:
    pz, qz = p(z, sub=False), q(z, sub=False)
    assert check_equal(KL(qz, pz), E(qz, LogGap(pz / qz)), (Finite(),))
    with pytest.raises(CheckFailed):
        check_equal(Entropy(qz), E(qz, log(qz)), (Finite(),))


# ---- display ------------------------------------------------------------------------------
def test_displays_are_deterministic_and_typeset() -> None:
    d = kl_identity()
    latex = d._repr_latex_()
    assert latex.startswith("$$\\begin{aligned}") and latex.count("\\checkmark") == 4
    html = d._repr_html_()
    assert "mathjax_process" in html and "\\(" in html
    assert repr(d) == repr(kl_identity())
    assert "0x" not in repr(d)


def test_builder_validates_input() -> None:
    with pytest.raises(ValueError, match="relation"):
        Derivation("v1", log(p(x))).step("<", log(p(x)), "nope")
    with pytest.raises(ValueError, match="justification"):
        Derivation("v2", log(p(x))).eq(log(p(x)), " ")
    with pytest.raises(ValueError, match="exact"):
        Derivation("v3", log(p(x))).eq(0.5, "floats are refused")
    with pytest.raises(ValueError, match="identifier"):
        Derivation("not an identifier", log(p(x)))


# ---- registry and mutation ------------------------------------------------------------------
def test_registry_collects_library_and_rejects_duplicates() -> None:
    names = {d.name for d in collect()}
    assert {"gibbs_inequality", "gaussian_moment_2"} <= names

    with pytest.raises(ValueError, match="already used"):

        @register(chapter="some_other_chapter")
        def _dup() -> Derivation:
            return Derivation("gibbs_inequality", log(p(x)))


def test_mutation_operators_and_kills() -> None:
    descs = [dsc for dsc, _ in mutants(KL(QZ, PZX) + E(QZ, log(PXZ * QZ)))]
    assert any("swap KL" in s for s in descs)
    assert any("product of logs" in s for s in descs)
    assert any("swap conditional" in s for s in descs)
    rep = mutate_derivation(kl_identity())
    assert rep.total > 20 and rep.killed / rep.total >= 0.95, rep.survivors


# ---- the any-K prover --------------------------------------------------------------------
def test_any_k_prover_proves_and_refuses() -> None:
    assert proves_zero(log(p(x)), E(QZ, log(PXZ / PZX)))
    assert proves_zero(log(p(x)), KL(QZ, PZX) + E(QZ, ELBO_BODY))
    # ∫ p(x) dz = K p(x) under the counting measure: not log p(x) (nested sums are not merged away)
    assert not proves_zero(log(Integral(QZ * (p(x) / QZ), "z")), log(p(x)))
    assert not proves_zero(E(QZ, log(QZ / PZX)), E(QZ, log(PZX / QZ)))
    # the data index: the surgery identity for every K and N, and not without its MI term
    surgery = KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z")
    assert proves_zero((1 / N) * SumN(KL(q(z | n), p(z))), surgery)
    assert not proves_zero((1 / N) * SumN(KL(q(z | n), p(z))), KL(q(z), p(z)))
    assert not proves_zero(SumN(KL(q(z | n), p(z))), surgery)
    with pytest.raises(NotHandled):
        proves_zero(E(QZ, Value("z")), E(QZ, Value("z")))


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=5, max_value=8), st.integers(min_value=0, max_value=10**6))
def test_any_k_identities_hold_numerically_beyond_checked_sizes(k: int, seed: int) -> None:
    """Numeric cross-check (not a proof) at sizes the fixed-size check never sees."""
    pairs = [
        (log(p(x)), KL(QZ, PZX) + E(QZ, ELBO_BODY)),
        (E(QZ, ELBO_BODY), E(QZ, log(PXZ)) + Entropy(QZ)),
        (p(x), E(QZ, PXZ / QZ)),
    ]
    (inst,) = Finite(sizes=(k,)).instances([log(p(x))])
    vals = inst.sample(random.Random(seed).random)
    for a, b in pairs:
        assert proves_zero(a, b)
        va = float(inst.translate(a).subs(vals))
        vb = float(inst.translate(b).subs(vals))
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-9)


def test_value_terms_only_in_gaussian_semantics() -> None:
    d = Derivation("value_test", E(QZ, Value("z")), semantics=(Finite(), Gaussian())).eq(
        mu_q, "mean of q"
    )
    assert d.check()[0].badges == ("✓ Gaussian family (symbolic integration)",)


def test_entropy_certificate_only_for_discrete_supports() -> None:
    d = Derivation("entropy_gap", log(N) - E(q(z), Entropy(q(n | z)))).le(
        log(N), "entropy of the index is ≥ 0", certificate=Gap(E(q(z), Entropy(q(n | z))))
    )
    assert d.check()[0].badges[0].startswith("✓ gap")
    g = Derivation("diff_entropy", E(QZ, log(PXZ)), semantics=(Gaussian(),)).le(
        E(QZ, log(PXZ)) + Entropy(QZ), "differential entropy", certificate=Gap(Entropy(QZ))
    )
    with pytest.raises(StepError, match="not proved ≥ 0"):
        g.check()


def test_mutual_info_takes_the_exported_random_variables() -> None:
    """Issue 16: MutualInfo(q(n, z), n, z) with the RV objects failed only at verify time."""
    from elbo_book.derive.terms import MutualInfo, n, q, z

    joint = q(n, z)
    assert MutualInfo(joint, n, z) == MutualInfo(joint, "n", "z")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MutualInfo u"):
        MutualInfo(joint, 3, "z")  # type: ignore[arg-type]
