"""Chapter 6: the K-sample importance-weighted bound L_K (Burda et al. 2016), checked.

With K independent draws z_1, …, z_K ~ q(z|x) and weights w_j = p(x, z_j) / q(z_j|x),

    L_K(x) = E_{q(z_1, …, z_K | x)}[ log (1/K) Σ_j w_j ].

The derivations below are written for a fixed, small K with the draws spelled out (z_1, z_2, z_3):
the term language has no "K-fold product" node, so the number of draws is the one written (each
chain is the general argument instantiated at K = 2 or 3, and its badge says "z_1..z_3 as
written"); the support of each draw is proved for every size.

They need one model family that the default finite semantics lacks: several i.i.d. draws of the
latent.  :class:`~elbo_book.derive.draws.IIDDraws` (an engine semantics, re-exported here)
provides it — z and every z_j range over a finite support of size S
with symbolic prior π_s, likelihood ℓ_s and encoder r_s (normalisation substituted), and the
joint q(z_1, …, z_K | x) is the product Π_j r_{z_j}.  Each step is proved for every support size
S by the indexed-sum prover (``elbo_book.derive.indexed_sums``: marginalising a draw, exchanging
draws, and the symmetry of an average over exchangeable draws are rules of that prover); the sizes
S = 2, 3 are only its fallback.

Derivations (chapter ``06_importance_weighting``):

* ``iwae_unbiased`` — E[(1/3) Σ_j w_j] = p(x).
* ``iwae_lower_bound`` — L_3 ≤ log p(x) by Jensen's inequality.
* ``iwae_gap`` — log p(x) − L_3 = E[t − 1 − log t] ≥ 0 with t = (1/3) Σ_j w_j / p(x).
* ``iwae_one_sample_is_elbo`` — L_1 = ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)).
* ``iwae_monotone`` — L_3 ≥ L_2: leave-one-out averages, then Jensen for a finite average.
* ``chi_square_weight_variance`` — χ²(p(z|x) ‖ q(z|x)) = E_q[(p(z|x)/q)²] − 1
  = (E_q[w²] − E_q[w]²) / p(x)² = Var_q[w] / p(x)² (one draw, w = p(x, z)/q(z|x)).
"""

from __future__ import annotations

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap, Jensen
from elbo_book.derive.draws import IIDDraws
from elbo_book.derive.registry import register
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Add,
    Density,
    Expect,
    Integral,
    LogGap,
    Named,
    Num,
    RandomVariable,
    Term,
    log,
    p,
    q,
    x,
    z,
)

__all__ = [
    "CHAPTER",
    "IIDDraws",
    "average_weight",
    "iwae_bound_term",
    "leave_one_out",
    "weight",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "06_importance_weighting"


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def _draw(j: int) -> RandomVariable:
    return RandomVariable(f"z_{j}")


def weight(j: int) -> Named:
    """w_j = p(x, z_j) / q(z_j | x), shown as w_j."""
    return Named(f"w_{{{j}}}", f"w_{j}", p(x, _draw(j)) / q(_draw(j) | x))


def average_weight(draws: tuple[int, ...]) -> Term:
    """(1/m) Σ_{j ∈ draws} w_j, the average of the weights of the listed draws (written out)."""
    if not draws:
        raise ValueError("average_weight needs at least one draw")
    if len(draws) == 1:
        return weight(draws[0])
    return Num(sympy.Rational(1, len(draws))) * Add(tuple(weight(j) for j in draws))


def leave_one_out(draws: tuple[int, ...], m: int) -> Named:
    """Ẑ^(−m): the average of the weights of ``draws`` without draw m, shown by its symbol."""
    rest = tuple(j for j in draws if j != m)
    return Named(rf"\hat{{Z}}^{{(-{m})}}", f"Ẑ^(-{m})", average_weight(rest))


def _joint(draws: tuple[int, ...]) -> Density:
    """q(z_{j1}, …, z_{jm} | x): the draws are i.i.d. from q(z|x)."""
    *first, last = (_draw(j) for j in draws)
    return q(*first, last | x)


def iwae_bound_term(k: int) -> Named:
    """L_k(x) = E_{q(z_1..z_k|x)}[log (1/k) Σ_j w_j], shown as its symbol."""
    draws = tuple(range(1, k + 1))
    return Named(
        rf"\mathcal{{L}}_{{{k}}}(x)",
        f"L_{k}(x)",
        Expect(_joint(draws), log(average_weight(draws))),
    )


_SEM = (IIDDraws(),)
# A pointwise step under an expectation needs no normalisation of q; checking it without (for
# every positive q(z|x)) is stronger, and much faster for logarithms of sums of ratios.
_SEM_POINTWISE = (IIDDraws(normalised=False),)


# ---------------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------------
@register(chapter=CHAPTER)
def iwae_unbiased() -> Derivation:
    """E[(1/3) Σ_j w_j] = p(x): the average weight is an unbiased estimate of the evidence."""
    draws = (1, 2, 3)
    return (
        Derivation(
            "iwae_unbiased",
            Expect(_joint(draws), average_weight(draws)),
            title="The average importance weight is unbiased for p(x)",
            semantics=_SEM,
        )
        .eq(
            Num(sympy.Rational(1, 3))
            * Add(tuple(Expect(q(_draw(j) | x), weight(j)) for j in draws)),
            "linearity; each w_j involves one draw, the others sum to 1",
            label="linear",
        )
        .eq(
            Expect(q(z | x), p(x, z) / q(z | x)),
            "the draws are identically distributed",
            label="iid",
        )
        .eq(
            Integral(p(x, z), "z"),
            "q(z|x) cancels; needs q(z|x) > 0 wherever p(x, z) > 0",
            label="cancel",
        )
        .eq(p(x), "marginalisation (sum rule)", label="marginal")
    )


@register(chapter=CHAPTER)
def iwae_lower_bound() -> Derivation:
    """L_3 ≤ log p(x) by Jensen's inequality and unbiasedness."""
    draws = (1, 2, 3)
    bound = iwae_bound_term(3)
    return (
        Derivation(
            "iwae_lower_bound",
            bound,
            title="The importance-weighted bound is a lower bound",
            semantics=_SEM,
        )
        .eq(bound.definition(), "definition of L_3", label="def")
        .le(
            log(Expect(_joint(draws), average_weight(draws))),
            "Jensen's inequality: log is concave",
            certificate=Jensen(),
            label="jensen",
        )
        .eq(log(p(x)), "unbiasedness (derivation iwae_unbiased)", label="unbiased")
    )


@register(chapter=CHAPTER)
def iwae_gap() -> Derivation:
    """log p(x) − L_3 = E[t − 1 − log t] ≥ 0 with t = (1/3) Σ_j w_j / p(x)."""
    draws = (1, 2, 3)
    joint = _joint(draws)
    ratio = Named("t", "t", average_weight(draws) / p(x))
    return (
        Derivation(
            "iwae_gap",
            log(p(x)) - iwae_bound_term(3),
            title="The gap log p(x) − L_3 as an expectation of t − 1 − log t",
            semantics=_SEM,
        )
        .eq(
            Expect(joint, -log(ratio)),
            "log p(x) is a constant; log a − log b = −log(a/b)",
            label="ratio",
        )
        .eq(
            Expect(joint, LogGap(ratio)) - (Expect(joint, ratio) - 1),
            "add and subtract t − 1 inside the expectation; linearity",
            label="add-subtract",
        )
        .eq(Expect(joint, LogGap(ratio)), "E[t] = 1 (derivation iwae_unbiased)", label="unbiased")
        .ge(
            0,
            "t − 1 − log t ≥ 0 for every t > 0",
            certificate=Gap(Expect(joint, LogGap(ratio))),
            label="nonneg",
        )
    )


@register(chapter=CHAPTER)
def iwae_one_sample_is_elbo() -> Derivation:
    """L_1 = ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))."""
    return (
        Derivation(
            "iwae_one_sample_is_elbo",
            iwae_bound_term(1),
            title="With one sample, the bound is the ELBO",
            semantics=_SEM,
        )
        .eq(iwae_bound_term(1).definition(), "definition of L_1: one weight", label="def")
        .eq(ELBO.definition(), "rename the single draw z_1 to z", label="rename")
        .eq(ELBO, "definition of the ELBO", label="elbo")
        .eq(
            Expect(q(z | x), log(p(x | z))) - KL(q(z | x), p(z)),
            "p(x, z) = p(x|z) p(z); log of a product; definition of KL",
            label="split",
        )
    )


@register(chapter=CHAPTER)
def iwae_monotone() -> Derivation:
    """L_3 ≥ L_2: write the average of three weights as the average of its three leave-one-out
    averages of two, apply Jensen to that finite average, and integrate out the left-out draw."""
    draws = (1, 2, 3)
    joint = _joint(draws)
    leave_out = [tuple(j for j in draws if j != m) for m in draws]
    loo = [leave_one_out(draws, m) for m in draws]
    third = Num(sympy.Rational(1, 3))
    mean_loo = third * Add(tuple(loo))
    zhat = Named(r"\hat{Z}_{3}", "Ẑ_3", mean_loo)
    gap = Expect(joint, third * Add(tuple(LogGap(y / zhat) for y in loo)))
    return (
        Derivation(
            "iwae_monotone",
            iwae_bound_term(3),
            title="The bound is non-decreasing in K (here K = 2 → 3)",
            semantics=_SEM,
        )
        .eq(
            Expect(joint, log(mean_loo)),
            "each w_j lies in 2 of the 3 leave-one-out averages of 2 weights",
            label="leave-one-out",
        )
        .ge(
            Expect(joint, third * Add(tuple(log(y) for y in loo))),
            "Jensen for the uniform average over the left-out index (log is concave)",
            certificate=Gap(gap),
            label="jensen",
            semantics=_SEM_POINTWISE,
        )
        .eq(
            third * Add(tuple(Expect(joint, log(y)) for y in loo)),
            "linearity of expectation",
            label="linear",
        )
        .eq(
            third
            * Add(
                tuple(Expect(_joint(rest), log(y)) for rest, y in zip(leave_out, loo, strict=True))
            ),
            "the left-out draw integrates out (q is normalised)",
            label="marginal",
        )
        .eq(
            Expect(_joint((1, 2)), log(average_weight((1, 2)))),
            "the draws are exchangeable: rename them z_1, z_2",
            label="exchange",
        )
        .eq(iwae_bound_term(2), "definition of L_2", label="def")
    )


@register(chapter=CHAPTER)
def chi_square_weight_variance() -> Derivation:
    """χ²(p(z|x) ‖ q(z|x)) = E_q[(p(z|x)/q(z|x))²] − 1 = (E_q[w²] − E_q[w]²) / p(x)²."""
    qz = q(z | x)
    w = Named("w", "w", p(x, z) / qz)
    return (
        Derivation(
            "chi_square_weight_variance",
            Expect(qz, (p(z | x) / qz) ** 2) - 1,
            title="The χ² divergence is the relative variance of the importance weight",
            semantics=_SEM,
        )
        .eq(
            Expect(qz, (w / p(x)) ** 2) - 1,
            "Bayes' rule: p(z|x)/q(z|x) = w / p(x)",
            label="bayes",
        )
        .eq(
            (Expect(qz, w**2) - Expect(qz, w) ** 2) / p(x) ** 2,
            "linearity; E_q[w] = p(x) (q normalised): Var_q[w] = E_q[w²] − E_q[w]²",
            label="variance",
        )
    )
