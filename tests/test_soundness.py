"""Adversarial tests of the engine (issue 14): false steps written in the engine's own language,
each of which must be REJECTED, and the true steps beside them, which must pass.

Classes (issue 14): 1 certificates judged by their syntax, 2 non-negativity by name, 3 algebra
evaluated inside a model instance, 8 ill-formed terms.  Every false step is listed in
``FALSE_STEPS``; ``test_every_false_step_is_rejected`` checks them all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book.derive import (
    ELBO,
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
    Named,
    StepError,
    SumN,
    log,
    n,
    p,
    q,
    x,
    x_n,
    z,
    z_n,
)
from elbo_book.derive.checks import CheckFailed, check_equal
from elbo_book.derive.draws import IIDDraws
from elbo_book.derive.indexed_sums import draws_model, finite_model, proves_identity_every_size
from elbo_book.derive.semantics import (
    LogGapF,
    expand_loggap,
    mu_q,
    proves_nonneg,
    sigma_p,
    sigma_q,
)
from elbo_book.derive.terms import Num, RandomVariable, Scalar, Value
from elbo_book.derive.wellformed import Malformed, check_wellformed

QZ, PXZ, POST = q(z | x), p(x, z), p(z | x)
Z1, Z2 = RandomVariable("z_1"), RandomVariable("z_2")
W1, W2 = p(x, Z1) / q(Z1 | x), p(x, Z2) / q(Z2 | x)  # importance weights of two draws
Q12 = q(Z1, Z2 | x)
AVG_KL = (1 / N) * SumN(KL(q(z | n), p(z)))
SURGERY = KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z")
INDEX_H = E(q(z), Entropy(q(n | z)))
HALF = Num(sympy.Rational(1, 2))
ROOT2 = Num(sympy.Integer(2)) ** HALF
BETA = Scalar("beta", r"\beta")
ZERO = Num(sympy.Integer(0))
ONES = Integral(Num(sympy.Integer(1)), "z")  # K on a support of K points

# name → a derivation whose (only) step is false (or ill-formed)
FALSE_STEPS: dict[str, Callable[[], Derivation]] = {
    # ---- class 1: certificates judged by their syntax -------------------------------------
    "square-of-a-root": lambda: Derivation("f", ELBO).ge(
        log(p(x)), "forged square", certificate=Gap(((ELBO - log(p(x))) ** HALF) ** 2)
    ),
    "fourth-power-of-a-root": lambda: Derivation("f", ELBO).ge(
        log(p(x)),
        "forged even power",
        certificate=Gap(((ELBO - log(p(x))) ** Num(sympy.Rational(1, 4))) ** 4),
    ),
    "root-of-a-square": lambda: Derivation("f", ELBO).ge(
        log(p(x)), "|d| is not d", certificate=Gap(((ELBO - log(p(x))) ** 2) ** HALF)
    ),
    "reversed-bound-with-kl": lambda: Derivation("f", ELBO).ge(
        log(p(x)), "reversed bound", certificate=Gap(KL(QZ, POST))
    ),
    "reversed-bound-negated-kl": lambda: Derivation("f", ELBO).ge(
        log(p(x)), "gap is −KL", certificate=Gap(-KL(QZ, POST))
    ),
    "swapped-kl-gap": lambda: Derivation("f", log(p(x))).ge(
        ELBO, "the other KL", certificate=Gap(KL(POST, QZ))
    ),
    "loggap-of-a-negative": lambda: Derivation("f", ELBO).ge(
        log(p(x)), "t − 1 − log t of a negative", certificate=Gap(LogGap(ELBO - log(p(x))))
    ),
    "jensen-reversed": lambda: Derivation("f", E(QZ, log(PXZ / QZ))).ge(
        log(E(QZ, PXZ / QZ)), "Jensen the wrong way", certificate=Jensen()
    ),
    "jensen-constant-added": lambda: Derivation("f", log(E(QZ, PXZ / QZ))).ge(
        1 + E(QZ, log(PXZ / QZ)),
        "a constant 1 added (false at q = posterior)",
        certificate=Jensen(),
    ),
    "jensen-negated-wrong-way": lambda: Derivation("f", -log(E(QZ, PXZ / QZ))).ge(
        -E(QZ, log(PXZ / QZ)), "−log E[Y] ≥ −E[log Y]", certificate=Jensen()
    ),
    "jensen-different-y": lambda: Derivation("f", log(E(QZ, PXZ / QZ))).ge(
        E(QZ, log(POST / QZ)), "Jensen with another Y", certificate=Jensen()
    ),
    # ---- class 2: non-negativity by name -----------------------------------------------------
    "gibbs-joint": lambda: Derivation("f", ZERO).ge(
        ELBO, "ELBO = −KL(q ‖ p(x, z)) ≤ 0", certificate=Gap(KL(QZ, PXZ))
    ),
    "gibbs-likelihood": lambda: Derivation("f", KL(QZ, p(x | z))).ge(
        ZERO, "KL(q ‖ p(x|z)) ≥ 0", certificate=Gap(KL(QZ, p(x | z)))
    ),
    "mi-same-variable": lambda: Derivation("f", MutualInfo(q(n, z), "n", "n")).ge(
        ZERO, "𝕀(n; n) ≥ 0", certificate=Gap(MutualInfo(q(n, z), "n", "n"))
    ),
    "gibbs-unnormalised-prior": lambda: Derivation(
        "f", KL(QZ, p(z)), semantics=(IIDDraws(sizes=(2,)),)
    ).ge(ZERO, "Gibbs for an unnormalised prior", certificate=Gap(KL(QZ, p(z)))),
    "gibbs-unnormalised-q": lambda: Derivation(
        "f", KL(QZ, POST), semantics=(IIDDraws(sizes=(2,), normalised=False),)
    ).ge(ZERO, "Gibbs for any positive q", certificate=Gap(KL(QZ, POST))),
    "jensen-unnormalised-q": lambda: Derivation(
        "f", log(E(QZ, PXZ / QZ)), semantics=(IIDDraws(sizes=(2,), normalised=False),)
    ).ge(E(QZ, log(PXZ / QZ)), "Jensen for any positive q", certificate=Jensen()),
    "differential-entropy": lambda: Derivation("f", Entropy(QZ), semantics=(Gaussian(),)).ge(
        ZERO, "a differential entropy is ≥ 0", certificate=Gap(Entropy(QZ))
    ),
    # ---- class 3: algebra is checked with plain symbols, outside any model -----------------
    "pairs-at-N=2": lambda: Derivation("f", N * (N - 1) / 2).eq(N - 1, "N(N−1)/2 = N−1 at N = 2"),
    "one-over-N": lambda: Derivation("f", 1 / N).eq(HALF, "1/N = 1/2 at N = 2"),
    "log-N": lambda: Derivation("f", log(N)).eq(log(2), "log N = log 2 at N = 2"),
    "fixed-prior-scale": lambda: Derivation(
        "f", sigma_p, semantics=(Gaussian(fix={"sigma_p": 1}),)
    ).eq(Num(sympy.Integer(1)), "σ₀ = 1 in the instance"),
    "fixed-prior-scale-gap": lambda: Derivation(
        "f", sigma_p, semantics=(Gaussian(fix={"sigma_p": 1}),)
    ).ge(Num(sympy.Integer(1)), "σ₀ ≥ 1 in the instance", certificate=Gap(sigma_p - 1)),
    "log-N-in-a-model-step": lambda: Derivation("f", log(N) + log(p(x))).eq(
        log(2) + log(p(x)), "log N = log 2 next to a density"
    ),
    # ---- class 7: differences vanishing at the checked sizes -------------------------------
    "vanishing-at-K=2..4": lambda: Derivation("f", KL(QZ, POST)).eq(
        KL(QZ, POST) + (ONES - 2) * (ONES - 3) * (ONES - 4) * log(p(x)),
        "a polynomial in K with roots 2, 3, 4",
    ),
    "vanishing-at-N=2..3": lambda: Derivation("f", (1 / N) * SumN(KL(q(z | n), p(z)))).eq(
        KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z") + (N - 2) * (N - 3) * log(ONES),
        "surgery plus (N − 2)(N − 3) log K",
    ),
    "vanishing-at-S=2..3": lambda: Derivation("f", KL(QZ, POST), semantics=(IIDDraws(),)).eq(
        KL(QZ, POST) + (ONES - 2) * (ONES - 3), "a polynomial in S with roots 2, 3"
    ),
    # ---- class 7, every size: the indexed-sum prover on the data index and on i.i.d. draws ---
    "index-sum-not-average": lambda: Derivation("f", SumN(KL(q(z | n), p(z)))).eq(
        SURGERY, "the sum read as the average (true at N = 1 only)"
    ),
    "index-vanishing-at-N=1": lambda: Derivation("f", AVG_KL).eq(
        SURGERY + (N - 1) * KL(q(z), p(z)), "a term vanishing at N = 1"
    ),
    "index-swapped-kl": lambda: Derivation("f", AVG_KL).eq(
        KL(p(z), q(z)) + MutualInfo(q(n, z), "n", "z"), "KL arguments swapped"
    ),
    "index-wrong-bayes": lambda: Derivation("f", SumN(E(q(z | n), log(q(z | n))))).eq(
        SumN(E(q(z | n), log(q(n | z) * q(z) * q(n)))), "Bayes with q(n) multiplied, not divided"
    ),
    "index-swapped-conditional": lambda: Derivation("f", SumN(E(q(z | n), log(q(z | n))))).eq(
        SumN(E(q(z | n), log(q(n | z)))), "q(z|n) read as q(n|z)"
    ),
    "index-aggregate-without-1/N": lambda: Derivation("f", SumN(E(q(z | x_n), log(p(z))))).eq(
        E(q(z), log(p(z))), "Σ_n q(z|x_n) read as q(z) (it is N q(z))"
    ),
    "index-column-normalised": lambda: Derivation("f", SumN(E(q(z | x_n), log(p(z))))).eq(
        SumN(E(q(z | x_n), log(p(z) / q(z)))) + E(q(z), log(q(z))),
        "Σ_n q(z|n) log q(z) read as q(z) log q(z) (missing N)",
    ),
    "index-entropy-above-log-N": lambda: Derivation("f", INDEX_H).ge(
        log(N), "ℍ[q(n|z)] ≥ log N", certificate=Gap(INDEX_H - log(N))
    ),
    "index-entropy-negative": lambda: Derivation("f", ZERO).ge(
        INDEX_H, "ℍ[q(n|z)] ≤ 0", certificate=Gap(-INDEX_H)
    ),
    "draws-asymmetric-ratio": lambda: Derivation(
        "f", E(Q12, W1 / (W1 + 2 * W2)), semantics=(IIDDraws(),)
    ).eq(Num(sympy.Rational(1, 3)), "symmetry misapplied: w_1/(w_1 + 2 w_2) has mean ≠ 1/3"),
    "draws-wrong-exchange": lambda: Derivation(
        "f", E(Q12, log(W1 + W2)), semantics=(IIDDraws(),)
    ).eq(E(q(Z1 | x), log(2 * W1)), "two draws read as one draw twice"),
    "draws-marginal-unnormalised": lambda: Derivation(
        "f", E(Q12, W1), semantics=(IIDDraws(normalised=False),)
    ).eq(p(x), "z_2 integrated out without Σ q = 1"),
    "draws-swapped-weight": lambda: Derivation(
        "f", E(Q12, (W1 + W2) / 2), semantics=(IIDDraws(),)
    ).eq(E(Q12, (q(Z1 | x) / p(x, Z1) + W2) / 2), "one weight inverted"),
    "log-of-a-square-number-wrong-power": lambda: Derivation("f", log(3 + 2 * ROOT2)).eq(
        3 * log(1 + ROOT2), "(1 + √2)³ is not 3 + 2√2"
    ),
    "gaussian-sixth-moment-wrong": lambda: Derivation(
        "f", E(QZ, Value("z") ** 6), semantics=(Gaussian(),)
    ).eq(
        mu_q**6 + 15 * mu_q**4 * sigma_q**2 + 45 * mu_q**2 * sigma_q**4 + 5 * sigma_q**6,
        "a wrong coefficient of σ⁶",
    ),
    # ---- class 8, support conditions: instances with a zero mass ---------------------------
    "support-kl-elbo-without-q<<p": lambda: Derivation(
        "f", log(p(x)), semantics=(Finite(zero_masses=("p",)),)
    ).eq(KL(QZ, POST) + ELBO, "log p(x) = KL + ELBO where p(z|x) = 0 but q > 0"),
    "support-importance-with-q-zeros": lambda: Derivation(
        "f", p(x), semantics=(Finite(zero_masses=("q",)),)
    ).eq(E(QZ, PXZ / QZ), "p(x) = E_q[p(x, z)/q] where q = 0 but p(x, z) > 0"),
    "support-jensen-with-p-zeros": lambda: Derivation(
        "f", log(E(QZ, PXZ / QZ)), semantics=(Finite(zero_masses=("p",)),)
    ).ge(E(QZ, log(PXZ / QZ)), "Jensen where p(x, z) = 0 but q > 0", certificate=Jensen()),
    "tempered-posterior-wrong-power": lambda: Derivation(
        "f", E(QZ, (1 / BETA) * log(p(x | z)) + log(p(z)) - log(QZ))
    ).eq(
        log(Integral(p(z) * p(x | z) ** BETA, "z"))
        - (
            E(QZ, log(QZ / (p(z) * p(x | z) ** BETA))) + log(Integral(p(z) * p(x | z) ** BETA, "z"))
        ),
        "the tempered likelihood with power β instead of 1/β",
    ),
    "chi-square-without-normalising": lambda: Derivation(
        "f", E(QZ, (POST / QZ) ** 2) - 1, semantics=(IIDDraws(),)
    ).eq(E(QZ, (PXZ / QZ) ** 2) - E(QZ, PXZ / QZ) ** 2, "Var_q[w] without the 1/p(x)²"),
    # ---- class 8: ill-formed terms --------------------------------------------------------
    "repeated-variable": lambda: Derivation("f", E(q(z, z | x), log(p(x)))).eq(
        log(p(x)), "q(z, z | x) read as q(z | x)"
    ),
    "both-sides": lambda: Derivation("f", E(QZ, log(PXZ / q(x | x)))).eq(
        E(QZ, log(PXZ)), "q(x | x)"
    ),
    "captured-z_n": lambda: Derivation("f", E(QZ, SumN(log(q(z_n | x_n))))).eq(
        E(QZ, SumN(log(QZ))), "z_n captured by the outer z"
    ),
    "shadowed-z": lambda: Derivation("f", E(QZ, E(QZ, log(PXZ)))).eq(
        E(QZ, log(PXZ)), "an inner E rebinds z"
    ),
    "free-z": lambda: Derivation("f", log(QZ)).eq(log(QZ), "z is free"),
    "x_n-outside-sum": lambda: Derivation("f", log(p(x_n))).eq(log(p(x_n)), "x_n free"),
}


@pytest.mark.parametrize("name", sorted(FALSE_STEPS))
def test_every_false_step_is_rejected(name: str) -> None:
    with pytest.raises(StepError):
        FALSE_STEPS[name]().check()


# ---- the true steps next to them still pass ------------------------------------------------
TRUE_STEPS: dict[str, Callable[[], Derivation]] = {
    "bound-with-kl": lambda: Derivation("t", log(p(x))).ge(
        ELBO, "gap is KL", certificate=Gap(KL(QZ, POST))
    ),
    "square-of-a-real": lambda: Derivation("t", ELBO + (ELBO - log(p(x))) ** 2).ge(
        ELBO, "a square of a real", certificate=Gap((ELBO - log(p(x))) ** 2)
    ),
    "jensen": lambda: Derivation("t", log(E(QZ, PXZ / QZ))).ge(
        E(QZ, log(PXZ / QZ)), "Jensen", certificate=Jensen()
    ),
    "jensen-plus-constant": lambda: Derivation("t", log(p(x)) + log(E(QZ, PXZ / QZ))).ge(
        log(p(x)) + E(QZ, log(PXZ / QZ)), "c + log E[Y] ≥ c + E[log Y]", certificate=Jensen()
    ),
    "jensen-negated": lambda: Derivation("t", -log(E(QZ, PXZ / QZ))).le(
        -E(QZ, log(PXZ / QZ)), "−log E[Y] ≤ −E[log Y]", certificate=Jensen()
    ),
    "jensen-summed": lambda: Derivation("t", SumN(log(E(q(z | x_n), p(x_n, z) / q(z | x_n))))).ge(
        SumN(E(q(z | x_n), log(p(x_n, z) / q(z | x_n)))),
        "Σ_n log E ≥ Σ_n E log",
        certificate=Jensen(),
    ),
    "gibbs-normalised-q": lambda: Derivation(
        "t", KL(QZ, POST), semantics=(IIDDraws(sizes=(2,)),)
    ).ge(ZERO, "Gibbs", certificate=Gap(KL(QZ, POST))),
    "mi-nonneg": lambda: Derivation("t", MutualInfo(q(n, z), "n", "z")).ge(
        ZERO, "𝕀 ≥ 0", certificate=Gap(MutualInfo(q(n, z), "n", "z"))
    ),
    "discrete-index-entropy": lambda: Derivation("t", E(q(z), Entropy(q(n | z)))).ge(
        ZERO, "ℍ[q(n|z)] ≥ 0", certificate=Gap(E(q(z), Entropy(q(n | z))))
    ),
    "index-surgery-any-N": lambda: Derivation("t", AVG_KL).eq(SURGERY, "surgery identity"),
    "index-entropy-at-most-log-N": lambda: Derivation("t", INDEX_H).le(
        log(N),
        "log N − ℍ[q(n|z)] = KL(q(n|z) ‖ q(n)), q(n) = 1/N uniform",
        certificate=Gap(E(q(z), KL(q(n | z), q(n)))),
    ),
    "draws-symmetric-ratio": lambda: Derivation(
        "t", E(Q12, W1 / (W1 + W2)), semantics=(IIDDraws(),)
    ).eq(HALF, "exchangeable draws: E[w_1/(w_1 + w_2)] = 1/2"),
    "draws-exchange": lambda: Derivation("t", E(QZ, log(PXZ / QZ)), semantics=(IIDDraws(),)).eq(
        E(Q12, log(W2)), "rename z to z_2, integrate z_1 out"
    ),
    "log-of-a-square-number": lambda: Derivation("t", log(3 + 2 * ROOT2)).eq(
        2 * log(1 + ROOT2), "3 + 2√2 = (1 + √2)²"
    ),
    "gaussian-sixth-moment": lambda: Derivation(
        "t", E(QZ, Value("z") ** 6), semantics=(Gaussian(),)
    ).eq(
        mu_q**6 + 15 * mu_q**4 * sigma_q**2 + 45 * mu_q**2 * sigma_q**4 + 15 * sigma_q**6,
        "moments of any order by the proven recursion",
    ),
    "support-kl-elbo-with-q-zeros": lambda: Derivation(
        "t", log(p(x)), semantics=(Finite(zero_masses=("q",)),)
    ).eq(KL(QZ, POST) + ELBO, "holds when q has zeros (q ≪ p(z|x) still)"),
    "support-importance-same-zeros": lambda: Derivation(
        "t", p(x), semantics=(Finite(zero_masses=("p", "q")),)
    ).eq(E(QZ, PXZ / QZ), "q > 0 wherever p(x, z) > 0"),
    "support-jensen-with-q-zeros": lambda: Derivation(
        "t", log(E(QZ, PXZ / QZ)), semantics=(Finite(zero_masses=("q",)),)
    ).ge(E(QZ, log(PXZ / QZ)), "p(x, z) > 0 wherever q > 0", certificate=Jensen()),
    "plain-algebra": lambda: Derivation("t", N * (N - 1) / 2).eq(
        (N**2 - N) / 2, "expand the product"
    ),
    "z_n-bound-by-its-own-E": lambda: Derivation("t", SumN(E(q(z_n | x_n), log(p(x_n | z_n))))).eq(
        SumN(E(q(z | x_n), log(p(x_n | z)))), "rename the bound latent"
    ),
}


@pytest.mark.parametrize("name", sorted(TRUE_STEPS))
def test_true_steps_pass(name: str) -> None:
    assert all(r.proven for r in TRUE_STEPS[name]().check())


def test_gap_badge_says_where_non_negativity_was_proved() -> None:
    (r,) = TRUE_STEPS["bound-with-kl"]().check()
    assert "Gibbs" in r.badges[0] and "any finite support K" in r.badges[0]


# ---- the well-formedness pass names the rule and the term ------------------------------------
@pytest.mark.parametrize(
    ("term", "rule"),
    [
        (E(q(z, z | x), log(p(x))), "distinct-variables"),
        (E(QZ, SumN(log(q(z_n | x_n)))), "bound-variables"),
        (E(QZ, E(QZ, log(PXZ))), "no-capture"),
        (SumN(E(q(z | x_n), SumN(log(p(x_n))))), "no-capture"),
        (KL(QZ, PXZ), "kl-same-variables"),
        (KL(QZ, p(x | z)), "kl-same-variables"),
        (MutualInfo(q(n, z), "n", "n"), "mi-two-variables"),
        (MutualInfo(q(n, z), "n", "x"), "mi-two-variables"),
    ],
)
def test_wellformedness_rules(term: object, rule: str) -> None:
    with pytest.raises(Malformed) as info:
        check_wellformed(term)  # type: ignore[arg-type]
    assert info.value.rule == rule and f"rule {rule}" in str(info.value)


def test_book_derivations_are_wellformed() -> None:
    from elbo_book.derive.registry import collect

    for d in collect("elbo_book.book"):
        check_wellformed(d.start)
        for s in d.steps:
            if not s.expect_fail:
                check_wellformed(s.expr)


# ---- the non-negativity prover is sound: whatever it proves is ≥ 0 numerically ---------------
_A, _B = sympy.symbols("a b", positive=True)
_C = sympy.Symbol("c", real=True)


def _exprs() -> st.SearchStrategy[sympy.Expr]:
    leaves = st.sampled_from(
        [_A, _B, _C, sympy.Integer(1), sympy.Integer(-1), sympy.Integer(2), sympy.Rational(1, 2)]
    )

    def extend(inner: st.SearchStrategy[sympy.Expr]) -> st.SearchStrategy[sympy.Expr]:
        return st.one_of(
            st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
            st.tuples(inner, inner).map(lambda t: t[0] - t[1]),
            inner.map(lambda e: e**2),
            inner.map(lambda e: e ** sympy.Rational(1, 2)),
            inner.map(lambda e: 1 / e),
            inner.map(sympy.log),
            inner.map(LogGapF),
        )

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(_exprs(), st.integers(min_value=0, max_value=10**6))
def test_proves_nonneg_is_sound(e: sympy.Expr, seed: int) -> None:
    if not proves_nonneg(e):
        return
    rng = random.Random(seed)
    written = expand_loggap(e)
    for _ in range(5):
        vals = {_A: 0.01 + 5 * rng.random(), _B: 0.01 + 5 * rng.random(), _C: 6 * rng.random() - 3}
        v = complex(written.subs(vals).evalf())
        if math.isfinite(v.real) and math.isfinite(v.imag):
            assert abs(v.imag) < 1e-9 and v.real >= -1e-9, (e, vals, v)


# ---- classes 4, 5, 6: badges from the semantics, chains as wholes, immutable derivations -------
def test_badge_states_fixed_parameters_sizes_and_normalisation() -> None:
    fixed = Gaussian(fix={"sigma_p": 1, "sigma_q": 1})
    d = Derivation("t", KL(QZ, p(z)), semantics=(fixed,)).eq(
        E(QZ, log(QZ) - log(p(z))), "definition of KL"
    )
    (r,) = d.check()
    assert r.badges == ("✓ Gaussian family, fixed σ₀=1, σ=1 (symbolic integration)",)
    draws = IIDDraws(sizes=(2, 3), normalised=False)
    assert "any positive q(z|x)" in draws.badge([]) and "S=2..3" in draws.badge([])
    assert "N=2..3" in Derivation("u", SumN(log(p(x_n)))).semantics[0].badge([SumN(log(p(x_n)))])


def test_a_chain_has_one_direction() -> None:
    d = Derivation("t", log(p(x))).ge(ELBO, "bound", certificate=Gap(KL(QZ, POST)))
    with pytest.raises(ValueError, match="one direction"):
        d.le(log(p(x)), "and back up", certificate=Gap(KL(QZ, POST)))
    with pytest.raises(ValueError, match="one direction"):
        Derivation("t", log(p(x)), steps=(*d.steps, replace(d.steps[0], rel="≤", label="2")))


def test_a_step_cannot_switch_to_an_unrelated_semantics() -> None:
    with pytest.raises(ValueError, match="covers none"):
        Derivation("t", ELBO).eq(
            E(QZ, log(PXZ / QZ)), "definition", semantics=(Gaussian(fix={"sigma_p": 1}),)
        )
    with pytest.raises(ValueError, match="covers none"):
        Derivation("t", ELBO, semantics=(IIDDraws(),)).eq(
            E(QZ, log(PXZ / QZ)), "definition", semantics=(Finite(),)
        )


def test_derivations_are_immutable_and_display_what_they_checked() -> None:
    d = Derivation("t", log(p(x))).eq(E(QZ, log(p(x))), "constant")
    d.verify()
    longer = d.eq(E(QZ, log(PXZ / POST)), "Bayes' rule")
    assert len(d.steps) == 1 and len(longer.steps) == 2
    with pytest.raises(FrozenInstanceError):
        d.start = ELBO  # type: ignore[misc]
    with pytest.raises(AttributeError):
        d.steps.append(longer.steps[1])  # type: ignore[attr-defined]
    assert "conclusion: log pθ(x) = E_qφ(z | x)[log pθ(x)]" in repr(d)
    d.results.clear()
    assert len(d.results) == 1


def test_a_symbol_is_tied_to_one_definition() -> None:
    """A step displaying "log p(x) = ℒ" cannot be built from a forged ℒ."""
    with pytest.raises(ValueError, match="needs a symbol of its own"):
        Named(ELBO.tex, ELBO.label, log(p(x)))
    with pytest.raises(ValueError, match="needs a symbol of its own"):
        Named(ELBO.tex, "another label", ELBO.definition())
    assert Named(ELBO.tex, ELBO.label, ELBO.definition()) == ELBO


# ---- property: whatever the prover calls equal agrees numerically at sizes it never used -------
_ATOMS = (
    log(p(x)),
    ELBO,
    KL(QZ, POST),
    KL(QZ, p(z)),
    Entropy(QZ),
    E(QZ, log(PXZ)),
    E(QZ, log(p(x | z))),
    E(QZ, log(p(z))),
    E(QZ, log(QZ)),
    E(QZ, log(POST)),
)
# integer relations between the atoms' values (log p(x) = ELBO + KL, …), one row per relation
_RELATIONS = (
    (1, -1, -1, 0, 0, 0, 0, 0, 0, 0),
    (0, 1, 0, 0, -1, -1, 0, 0, 0, 0),
    (0, 0, 0, 0, 0, 1, -1, -1, 0, 0),
    (0, 0, 0, 1, 0, 0, 0, 1, -1, 0),
    (0, 0, 0, 0, 1, 0, 0, 0, 1, 0),
    (1, 0, 0, 0, 0, -1, 0, 0, 0, 1),
)


def _combination(coeffs: tuple[int, ...]) -> object:
    out: object = Num(sympy.Integer(0))
    for c, atom in zip(coeffs, _ATOMS, strict=True):
        if c:
            out = out + Num(sympy.Integer(c)) * atom  # type: ignore[operator]
    return out


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(-2, 2), min_size=len(_ATOMS), max_size=len(_ATOMS)),
    st.lists(st.integers(-1, 1), min_size=len(_RELATIONS), max_size=len(_RELATIONS)),
    st.integers(0, len(_ATOMS)),
    st.integers(0, 10**6),
)
def test_proved_identities_hold_numerically_at_unused_sizes(
    coeffs: list[int], lam: list[int], perturb: int, seed: int
) -> None:
    """b = a + Σ λ_i (relation i), perturbed at one atom when ``perturb`` < len(_ATOMS): the
    prover must prove the unperturbed pairs, and whatever it proves must agree at K ∈ {5, 7}."""
    other = [
        c + sum(lr * row[j] for lr, row in zip(lam, _RELATIONS, strict=True))
        for j, c in enumerate(coeffs)
    ]
    if perturb < len(_ATOMS):
        other[perturb] += 1
    a, b = _combination(tuple(coeffs)), _combination(tuple(other))
    try:
        check_equal(a, b, (Finite(),))  # type: ignore[arg-type]
    except CheckFailed:
        assert perturb < len(_ATOMS), "a true identity was not proved"
        return
    rng = random.Random(seed)
    for k in (5, 7):
        (inst,) = Finite(sizes=(k,)).instances([a, b])  # type: ignore[list-item]
        vals = inst.sample(rng.random)
        va = float(inst.translate(a).subs(vals))  # type: ignore[arg-type]
        vb = float(inst.translate(b).subs(vals))  # type: ignore[arg-type]
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-9)


def test_conclusion_states_where_every_step_was_proved() -> None:
    any_k = Derivation("t", log(p(x))).ge(ELBO, "gap is KL", certificate=Gap(KL(QZ, POST)))
    assert "(in any finite support K)" in repr(any_k)
    algebra = Derivation("t", N * (N - 1) / 2).eq((N**2 - N) / 2, "expand")
    assert "(in plain algebra, outside any model)" in repr(algebra)
    indexed = Derivation("t", (1 / N) * SumN(KL(q(z | n), p(z)))).eq(
        KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z"), "surgery"
    )
    assert "(in any finite support K, any N)" in repr(indexed)


# ---- property: the indexed-sum prover on the data index and on i.i.d. draws ------------------
_INDEX_ATOMS = (
    AVG_KL,
    KL(q(z), p(z)),
    MutualInfo(q(n, z), "n", "z"),
    INDEX_H,
    log(N),
    (1 / N) * SumN(E(q(z | x_n), log(p(x_n | z)))),
    (1 / N) * SumN(E(q(z | x_n), log(p(x_n, z) / q(z | x_n)))),
)
_INDEX_RELATIONS = (
    (1, -1, -1, 0, 0, 0, 0),  # surgery: average KL = KL(q(z) ‖ p(z)) + 𝕀
    (0, 0, 1, 1, -1, 0, 0),  # 𝕀 = log N − E ℍ[q(n|z)]
    (1, 0, 0, 0, 0, -1, 1),  # average ELBO = reconstruction − average KL
)
_DRAW_ATOMS = (
    E(Q12, W1 / (W1 + W2)),
    E(Q12, W2 / (W1 + W2)),
    E(Q12, Num(sympy.Integer(1))),
    E(Q12, (W1 + W2) / 2),
    p(x),
    E(Q12, log(W1 + W2)),
    E(Q12, log(W1)),
    E(QZ, log(PXZ / QZ)),
)
_DRAW_RELATIONS = (
    (1, -1, 0, 0, 0, 0, 0, 0),  # exchangeability
    (1, 1, -1, 0, 0, 0, 0, 0),  # the two ratios sum to one
    (0, 0, 0, 1, -1, 0, 0, 0),  # unbiasedness of the mean weight
    (0, 0, 0, 0, 0, 0, 1, -1),  # the other draw integrates out
)


def _lin(coeffs: tuple[int, ...], atoms: tuple[object, ...]) -> object:
    out: object = Num(sympy.Integer(0))
    for c, atom in zip(coeffs, atoms, strict=True):
        if c:
            out = out + Num(sympy.Integer(c)) * atom  # type: ignore[operator]
    return out


def _pair(
    coeffs: list[int], lam: list[int], perturb: int, rows: tuple[tuple[int, ...], ...]
) -> tuple[list[int], list[int]]:
    other = [
        c + sum(lr * row[j] for lr, row in zip(lam, rows, strict=True))
        for j, c in enumerate(coeffs)
    ]
    if perturb < len(coeffs):
        other[perturb] += 1
    return coeffs, other


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.integers(-2, 2), min_size=len(_INDEX_ATOMS), max_size=len(_INDEX_ATOMS)),
    st.lists(st.integers(-1, 1), min_size=len(_INDEX_RELATIONS), max_size=len(_INDEX_RELATIONS)),
    st.integers(0, len(_INDEX_ATOMS)),
    st.integers(0, 10**6),
)
def test_index_prover_agrees_numerically_at_unused_sizes(
    coeffs: list[int], lam: list[int], perturb: int, seed: int
) -> None:
    """Every K and N: true combinations are proved; whatever is proved agrees at K ∈ {5, 7},
    N ∈ {4, 6}."""
    ca, cb = _pair(coeffs, lam, perturb, _INDEX_RELATIONS)
    a, b = _lin(tuple(ca), _INDEX_ATOMS), _lin(tuple(cb), _INDEX_ATOMS)
    proved = proves_identity_every_size(finite_model(), a, b)  # type: ignore[arg-type]
    if perturb == len(_INDEX_ATOMS):
        assert proved, "a true identity was not proved"
    if not proved:
        return
    rng = random.Random(seed)
    for k, m in ((5, 4), (7, 6)):
        (inst,) = Finite(sizes=(k,), index_sizes=(m,)).instances([a, b])  # type: ignore[list-item]
        vals = inst.sample(rng.random)
        va = float(inst.translate(a).subs(vals))  # type: ignore[arg-type]
        vb = float(inst.translate(b).subs(vals))  # type: ignore[arg-type]
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-9)


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.integers(-2, 2), min_size=len(_DRAW_ATOMS), max_size=len(_DRAW_ATOMS)),
    st.lists(st.integers(-1, 1), min_size=len(_DRAW_RELATIONS), max_size=len(_DRAW_RELATIONS)),
    st.integers(0, len(_DRAW_ATOMS)),
    st.integers(0, 10**6),
)
def test_draws_prover_agrees_numerically_at_unused_sizes(
    coeffs: list[int], lam: list[int], perturb: int, seed: int
) -> None:
    """Every support size S: true combinations are proved; whatever is proved agrees at
    S ∈ {5, 7}."""
    ca, cb = _pair(coeffs, lam, perturb, _DRAW_RELATIONS)
    a, b = _lin(tuple(ca), _DRAW_ATOMS), _lin(tuple(cb), _DRAW_ATOMS)
    proved = proves_identity_every_size(draws_model(), a, b)  # type: ignore[arg-type]
    if perturb == len(_DRAW_ATOMS):
        assert proved, "a true identity was not proved"
    if not proved:
        return
    rng = random.Random(seed)
    for size in (5, 7):
        (inst,) = IIDDraws(sizes=(size,)).instances([a, b])  # type: ignore[list-item]
        vals = inst.sample(rng.random)
        va = float(inst.translate(a).subs(vals))  # type: ignore[arg-type]
        vb = float(inst.translate(b).subs(vals))  # type: ignore[arg-type]
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-9)


# ---- equality cases of Gibbs and Jensen (issue 14, item 2) ---------------------------------------
def test_equality_cases_are_checked_statements() -> None:
    from elbo_book.book import shared as F

    kl = F.kl_equality_case()
    assert kl.conditions == ((POST, QZ),)
    assert "= 0 ⟺ pθ(z | x) = qφ(z | x) at every point" in kl.text()
    assert any("full support" in b for b in kl.badges)
    jensen = F.jensen_equality_case_elbo()
    assert jensen.conditions == ((PXZ / QZ, E(QZ, PXZ / QZ)),)
    assert F.jensen_equality_case_elbo(equivalent=True).conditions == ((POST, QZ),)
    assert F.entropy_equality_case().conditions[0][1] == q(z, sub=False)
    assert all(r.proven for r in F.entropy_at_most_log_k.check())


def test_false_equality_cases_are_rejected() -> None:
    from elbo_book.derive.equality import EqualityCase, jensen_equality_case

    with pytest.raises(CheckFailed):  # p(x, z)/q is not p(z|x)/q
        EqualityCase(KL(QZ, POST), equivalent=(PXZ, QZ)).verify()
    with pytest.raises(CheckFailed):  # −E_q[log q] is not a combination of t − 1 − log t
        EqualityCase(Entropy(QZ)).verify()
    with pytest.raises(CheckFailed):  # a negative coefficient
        EqualityCase(-KL(QZ, POST)).verify()
    with pytest.raises(CheckFailed):  # the form is not the gap
        EqualityCase(KL(QZ, POST), form=E(QZ, LogGap(PXZ / QZ))).verify()
    with pytest.raises(CheckFailed):  # not a Jensen step
        jensen_equality_case(log(p(x)), ELBO)
    with pytest.raises(CheckFailed):  # nothing is stated before it is checked
        EqualityCase(KL(QZ, POST)).text()


def test_support_badges_name_the_zero_masses() -> None:
    (r,) = TRUE_STEPS["support-kl-elbo-with-q-zeros"]().check()
    assert "q(z|x) zero at one point, all other masses > 0" in r.badges[0]
    assert "any finite support" not in r.badges[0]  # the indexed sums read every mass as > 0
    assert not Finite(zero_masses=("q",)).covers(Finite())
    with pytest.raises(ValueError, match="zero_masses"):
        Finite(zero_masses=("x",))


def test_strengths_are_typed() -> None:
    from elbo_book.derive.strength import Badge, Sizes, Strength

    (any_k,) = Derivation("t", log(p(x))).eq(KL(QZ, POST) + ELBO, "identity").check()
    (badge,) = any_k.badges
    assert isinstance(badge, Badge) and badge.strength is Strength.ANY_SIZE
    assert badge.sizes is Sizes.ANY
    (fixed,) = TRUE_STEPS["support-kl-elbo-with-q-zeros"]().check()
    assert fixed.badges[0].strength is Strength.FIXED_SIZES  # type: ignore[attr-defined]
    (gap,) = TRUE_STEPS["bound-with-kl"]().check()
    assert [b.strength for b in gap.badges] == [Strength.GAP, Strength.ANY_SIZE]  # type: ignore[attr-defined]
    (cross,) = Derivation("t", log(p(x))).eq(KL(QZ, POST) + ELBO, "i", crosscheck=True).check()
    assert cross.badges[-1].strength is Strength.CROSS_CHECK  # type: ignore[attr-defined]
    assert cross.badges[-1].startswith("+ numeric cross-check (")
    with pytest.raises(TypeError):
        Badge("✓ made up", "any-K")  # type: ignore[arg-type]


def test_pointwise_bayes_rule() -> None:
    """Bayes' rule at every z (not in expectation), in the finite and the Gaussian family."""
    from elbo_book.derive.checks import check_pointwise

    bayes = log(p(x | z)) + log(p(z)) - log(p(x))
    badges = check_pointwise(log(POST), bayes, (Finite(), Gaussian()))
    assert [b.startswith("✓ at every z") for b in badges] == [True, True]
    for wrong in (log(p(x | z)) + log(p(z)), log(p(x | z)) - log(p(x))):
        for sem in (Finite(), Gaussian()):
            with pytest.raises(CheckFailed):
                check_pointwise(log(POST), wrong, (sem,))
    with pytest.raises(CheckFailed, match="ill-formed"):
        check_pointwise(log(q(z, z | x)), log(QZ), (Finite(),))
