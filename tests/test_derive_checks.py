"""``elbo_book.derive.checks``: identities proven, inequalities need a certificate that is itself
proven, and a numeric check says it is one."""

from __future__ import annotations

import pytest

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
    N,
    Numeric,
    StepError,
    log,
    n,
    p,
    q,
    x,
    z,
)
from elbo_book.derive.checks import CheckFailed, check_equal

QZ, PZX, PXZ = q(z | x), p(z | x), p(x, z)
ELBO_BODY = log(PXZ / QZ)


def test_jensen_chain_and_gap_certificates_pass() -> None:
    d = (
        Derivation("jensen_test", log(p(x)))
        .eq(log(Integral(PXZ, "z")), "marginalisation")
        .eq(log(Integral(QZ * (PXZ / QZ), "z")), "multiply by q/q")
        .ge(Integral(QZ * log(PXZ / QZ), "z"), "Jensen", certificate=Jensen())
    )
    assert all(r.proven for r in d.check())
    gap = Derivation("gap_test", log(p(x))).ge(
        E(QZ, ELBO_BODY), "gap is a KL", certificate=Gap(KL(QZ, PZX))
    )
    assert gap.check()[0].badges[0].startswith("✓ gap = KL")


def test_inequality_needs_a_valid_certificate() -> None:
    """The same step passes with the right certificate and fails without one or with a wrong
    one (so each failure below is the certificate's)."""

    def bound(certificate: object) -> Derivation:
        return Derivation("cert_test", log(p(x))).ge(
            E(QZ, ELBO_BODY), "log p(x) ≥ ELBO", certificate=certificate
        )

    (passed,) = bound(Gap(KL(QZ, PZX))).check()
    assert passed.proven
    with pytest.raises(StepError, match="needs a certificate"):
        bound(None).check()
    with pytest.raises(StepError, match="not proved ≥ 0"):
        bound(Gap(-KL(QZ, PZX))).check()
    with pytest.raises(StepError, match="not the certificate"):
        bound(Gap(KL(PZX, QZ))).check()
    with pytest.raises(StepError, match="Jensen"):
        Derivation("c4", E(QZ, log(PXZ / QZ))).ge(
            log(E(QZ, PXZ / QZ)), "Jensen the wrong way", certificate=Jensen()
        ).check()


def test_numeric_badge_is_honest() -> None:
    d = Derivation("numeric_test", log(p(x))).ge(
        E(QZ, ELBO_BODY), "checked on random instances only", certificate=Numeric(trials=5)
    )
    (r,) = d.check()
    assert r.proven
    assert all("symbolic" not in b for b in r.badges)
    assert r.badges[0].startswith("numeric only")
    false = Derivation("numeric_false", E(QZ, ELBO_BODY)).ge(
        log(p(x)), "the wrong way", certificate=Numeric(trials=5)
    )
    with pytest.raises(StepError):
        false.check()


def test_gibbs_lemma_pieces() -> None:
    pz, qz = p(z, sub=False), q(z, sub=False)
    assert check_equal(KL(qz, pz), E(qz, LogGap(pz / qz)), (Finite(),))
    with pytest.raises(CheckFailed):
        check_equal(Entropy(qz), E(qz, log(qz)), (Finite(),))


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
