"""Equality cases of Gibbs' and Jensen's inequalities, as checked statements.

A ``Gap`` or ``Jensen`` certificate proves larger − smaller = Σ_i c_i E_{a_i}[t_i − 1 − log t_i]
with c_i > 0.  Its *equality case* follows from three facts, each checked here:

1. the gap is proven equal to that form (in each semantics, for every support size where the
   indexed-sum prover succeeds), with every coefficient c_i a positive number;
2. t − 1 − log t = 0 for t > 0 exactly when t = 1 (calculus: the function is strictly convex on
   t > 0, its derivative vanishes only at t = 1, and its value there is 0; proven by SymPy in
   :func:`prove_log_bound_strict`);
3. an expectation of a non-negative function under a distribution whose masses are all positive
   (full support) is zero exactly when the function is zero at every point.

So the gap is zero exactly when every t_i = u_i / v_i equals 1, i.e. u_i = v_i at every point of
the support.  The statement names these conditions (``KL(q ‖ p) = 0 iff p = q at every z``;
``log E_q[Y] = E_q[log Y] iff Y = E_q[Y] at every z``); an ``equivalent`` condition u' = v' a
chapter prefers (``p(z|x) = q(z|x)`` for the Jensen bound of the ELBO) is accepted only when
E_a[(u/v − u'/v')²] = 0 is proven (a sum of squares of reals with positive weights: the two
ratios agree at every point).  The statement needs full support (every mass of a_i positive): the
badge says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from elbo_book.derive.checks import (
    CheckFailed,
    _jensen_gaps,
    check_equal,
    lemma_form,
    prove_nonneg,
)
from elbo_book.derive.semantics import Finite, Semantics
from elbo_book.derive.terms import (
    Add,
    Density,
    Div,
    Expect,
    LogGap,
    Mul,
    Num,
    SumN,
    Term,
)

__all__ = ["EqualityCase", "jensen_equality_case", "prove_log_bound_strict"]


def prove_log_bound_strict() -> str:
    """Prove t − 1 − log t = 0 (t > 0) exactly when t = 1: its derivative 1 − 1/t is negative
    on (0, 1) and positive on (1, ∞), so g strictly decreases to g(1) = 0 and strictly increases
    after it (g > 0 at every t ≠ 1)."""
    t = sympy.Symbol("t", positive=True)
    g = t - 1 - sympy.log(t)
    dg = sympy.diff(g, t)
    pos = sympy.Interval.open(0, sympy.oo)
    falling = sympy.solveset(dg < 0, t, domain=pos)
    rising = sympy.solveset(dg > 0, t, domain=pos)
    if (
        falling != sympy.Interval.open(0, 1)
        or rising != sympy.Interval.open(1, sympy.oo)
        or g.subs(t, 1) != 0
    ):
        raise CheckFailed("the calculus proof of t − 1 − log t = 0 ⟺ t = 1 did not go through")
    return "t − 1 − log t = 0 ⟺ t = 1 (decreasing on (0, 1), increasing on (1, ∞), 0 at 1)"


def _loggap_terms(t: Term) -> list[tuple[Density, Term]]:
    """The (a_i, t_i) of a sum Σ c_i E_{a_i}[LogGap(t_i)] (c_i positive numbers, possibly inside
    outer expectations and sums over n); CheckFailed for any other shape."""
    if isinstance(t, Add):
        return [pair for s in t.terms for pair in _loggap_terms(s)]
    if isinstance(t, Mul):
        nums = [f for f in t.factors if isinstance(f, Num)]
        rest = [f for f in t.factors if not isinstance(f, Num)]
        if len(rest) == 1 and all(f.value > 0 for f in nums):
            return _loggap_terms(rest[0])
    if isinstance(t, SumN):
        return _loggap_terms(t.body)
    if isinstance(t, Expect):
        if isinstance(t.body, LogGap):
            return [(t.dist, t.body.arg)]
        return _loggap_terms(t.body)
    raise CheckFailed(
        f"not a positive combination of E_a[t − 1 − log t]: {t.text()} (no equality case)"
    )


@dataclass(frozen=True)
class EqualityCase:
    """``gap = 0`` exactly when every condition ``u_i = v_i`` holds at every point of the support
    (all masses positive).  Build with a gap term (``KL(q(z|x), p(z|x))``, a Jensen gap) and
    optionally the chapter's ``equivalent`` form of the single condition; :meth:`verify` proves
    it or raises :class:`~elbo_book.derive.checks.CheckFailed`."""

    gap: Term
    equivalent: tuple[Term, Term] | None = None
    semantics: tuple[Semantics, ...] = (Finite(),)
    form: Term | None = None
    conditions: tuple[tuple[Term, Term], ...] = field(default=(), init=False)
    badges: tuple[str, ...] = field(default=(), init=False)

    def verify(self) -> EqualityCase:
        """Check the statement; return a copy carrying its conditions and badges.  ``form``
        (default: the gap's Gibbs form, KL as E_a[t − 1 − log t]) is the positive combination of
        E_a[t − 1 − log t] the gap is proven equal to."""
        form = lemma_form(self.gap) if self.form is None else self.form
        pairs = _loggap_terms(form)
        badges = [prove_log_bound_strict()]
        if form != self.gap:
            badges += check_equal(self.gap, form, self.semantics)
        badges.append("t − 1 − log t ≥ 0 in " + ", ".join(prove_nonneg(form, self.semantics)))
        conditions: list[tuple[Term, Term]] = []
        for _, t in pairs:
            if not isinstance(t, Div):
                raise CheckFailed(f"the ratio {t.text()} is not a quotient u / v")
            conditions.append((t.num, t.den))
        if self.equivalent is not None:
            if len(conditions) != 1:
                raise CheckFailed("an equivalent condition needs a gap with one ratio")
            (a, _), (u, v), (u2, v2) = pairs[0], conditions[0], self.equivalent
            # pointwise: E_a[(u/v − u2/v2)²] = 0 with every mass of a positive
            badges += check_equal(
                Expect(a, (Div(u, v) - Div(u2, v2)) ** 2), Num(sympy.Integer(0)), self.semantics
            )
            conditions = [self.equivalent]
        weights = ", ".join(dict.fromkeys(a.text() for a, _ in pairs))
        badges.append(f"full support: every mass of {weights} > 0")
        out = EqualityCase(self.gap, self.equivalent, self.semantics, self.form)
        object.__setattr__(out, "conditions", tuple(conditions))
        object.__setattr__(out, "badges", tuple(dict.fromkeys(badges)))
        return out

    def text(self) -> str:
        """``gap = 0 ⟺ u = v at every point (…)``; call :meth:`verify` first."""
        if not self.conditions:
            raise CheckFailed("call .verify() first: nothing is stated before it is checked")
        cond = " and ".join(f"{u.text()} = {v.text()}" for u, v in self.conditions)
        return f"{self.gap.text()} = 0 ⟺ {cond} at every point of the support"

    def __repr__(self) -> str:
        if not self.conditions:
            return f"EqualityCase({self.gap.text()}) (not verified)"
        return self.text() + "\n  " + "\n  ".join(f"✓ {b.lstrip('✓ ')}" for b in self.badges)


def jensen_equality_case(
    larger: Term,
    smaller: Term,
    equivalent: tuple[Term, Term] | None = None,
    semantics: tuple[Semantics, ...] = (Finite(),),
) -> EqualityCase:
    """The equality case of the Jensen step ``larger ≥ smaller`` (log E_q[Y] ≥ E_q[log Y]): the
    gap the :class:`~elbo_book.derive.checks.Jensen` certificate finds, proven equal to
    larger − smaller, then :class:`EqualityCase` (tight iff Y = E_q[Y] at every z).
    CheckFailed when the step is not a Jensen step."""
    for gap in _jensen_gaps(larger, smaller):
        try:
            check_equal(larger - smaller, gap, semantics)
        except CheckFailed:
            continue
        return EqualityCase(larger - smaller, equivalent, semantics, form=gap).verify()
    raise CheckFailed("no Jensen gap E_q[t − 1 − log t] equals larger − smaller")
