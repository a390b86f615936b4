"""``elbo_book.derive.semantics``: the model families a step is proven in, and their badges."""

from __future__ import annotations

import pytest
import sympy

from elbo_book.derive import (
    KL,
    Derivation,
    E,
    Finite,
    Gaussian,
    MutualInfo,
    N,
    StepError,
    SumN,
    n,
    p,
    q,
    x,
    z,
)
from elbo_book.derive.semantics import mu_p, mu_q, sigma_p, sigma_q
from elbo_book.derive.terms import Num, Value, log

QZ = q(z | x)


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


def test_value_terms_only_in_gaussian_semantics() -> None:
    d = Derivation("value_test", E(QZ, Value("z")), semantics=(Finite(), Gaussian())).eq(
        mu_q, "mean of q"
    )
    assert d.check()[0].badges == ("✓ Gaussian family (symbolic integration)",)
    finite_only = Derivation("value_finite", E(QZ, Value("z"))).eq(mu_q, "mean of q")
    with pytest.raises(StepError):
        finite_only.check()
