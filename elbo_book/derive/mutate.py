"""Mutation testing of the checks: does every check reject wrong variants of its step?

Each operator changes one place in a step's expression tree: negate a summand, drop a summand or
a factor, scale a summand or a number (×2, +1), swap a density's family (p ↔ q), swap a conditional
(p(z | x) → p(x | z)), swap the arguments of a KL, invert a fraction, drop a minus sign, and turn
the log of a product (quotient) into a product (quotient) of logs; inequality steps also get their
relation flipped.  A mutant is *killed* when the step's check then fails.  Mutants that have no
meaning in the model (``q(x | z)``, a log of a quantity not known to be positive) are counted as
*invalid*, not as kills.  A surviving mutant whose expression is provably equal to the original
one is *equivalent* (no check could kill it) and is not counted either.  The remaining survivors
are listed: each marks a check that is too weak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import CheckFailed, InvalidTerm, check_equal
from elbo_book.derive.terms import (
    KL,
    Add,
    Density,
    Div,
    Log,
    LogGap,
    Mul,
    Named,
    Neg,
    Num,
    Term,
    Var,
)

__all__ = ["MutationReport", "mutants", "mutate_derivation"]

_TWO = Num(sympy.Integer(2))


def _local(t: Term) -> Iterator[tuple[str, Term]]:
    if isinstance(t, Add):
        for i, a in enumerate(t.terms):
            rest = t.terms[:i] + t.terms[i + 1 :]
            neg = a.arg if isinstance(a, Neg) else Neg(a)
            yield f"negate summand {a.text()}", Add((*t.terms[:i], neg, *t.terms[i + 1 :]))
            yield f"drop summand {a.text()}", rest[0] if len(rest) == 1 else Add(rest)
            yield (
                f"double summand {a.text()}",
                Add((*t.terms[:i], Mul((_TWO, a)), *t.terms[i + 1 :])),
            )
    if isinstance(t, Mul):
        for i, f in enumerate(t.factors):
            rest = t.factors[:i] + t.factors[i + 1 :]
            yield f"drop factor {f.text()}", rest[0] if len(rest) == 1 else Mul(rest)
    if isinstance(t, Var):
        yield f"double {t.text()}", Mul((_TWO, t))
    if isinstance(t, Num):
        yield f"change number {t.text()} → {2 * t.value}", Num(2 * t.value)
        yield f"change number {t.text()} → {t.value + 1}", Num(t.value + 1)
    if isinstance(t, Density):
        other = t.swapped_family()
        yield f"swap family {t.text()} → {other.text()}", other
        if t.given:
            swapped = Density(t.family, t.given, t.vars, t.sub)
            yield f"swap conditional {t.text()} → {swapped.text()}", swapped
    if isinstance(t, KL):
        yield "swap KL arguments", KL(t.b, t.a)
    if isinstance(t, Div):
        yield f"invert {t.text()}", Div(t.den, t.num)
        yield f"drop denominator {t.den.text()}", t.num
    if isinstance(t, Neg):
        yield f"drop minus sign of {t.arg.text()}", t.arg
    if isinstance(t, Log):
        a = t.arg
        if isinstance(a, Mul):
            yield "log of product → product of logs", Mul(tuple(Log(f) for f in a.factors))
        if isinstance(a, Div):
            yield "log of quotient → quotient of logs", Div(Log(a.num), Log(a.den))
            yield "log of quotient → sum of logs", Add((Log(a.num), Log(a.den)))


def mutants(t: Term) -> Iterator[tuple[str, Term]]:
    """Every single-place mutation of ``t`` (defined quantities are not entered)."""
    yield from _local(t)
    if isinstance(t, Named | LogGap):
        return
    kids = t.children()
    for i, c in enumerate(kids):
        for desc, m in mutants(c):
            try:
                yield desc, t.rebuild((*kids[:i], m, *kids[i + 1 :]))
            except ValueError:
                continue


@dataclass
class MutationReport:
    """Counts for one derivation, and the descriptions of surviving mutants."""

    name: str
    killed: int = 0
    survived: int = 0
    invalid: int = 0
    equivalent: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.killed + self.survived


def _equivalent(d: Derivation, i: int, expr: Term) -> bool:
    """Whether the mutated expression provably has the same value as the original one (an
    *equivalent* mutant, which no check can or should kill)."""
    step = d.steps[i]
    try:
        check_equal(step.expr, expr, step.semantics or d.semantics)
    except CheckFailed:
        return False
    return True


def mutate_derivation(d: Derivation) -> MutationReport:
    """Apply every mutation to every (non-expected-failure) step of ``d`` and re-check it."""
    rep = MutationReport(d.name)
    for i, step in enumerate(d.steps):
        if step.expect_fail:
            continue
        seen: set[Term] = {step.expr}
        candidates = []
        for desc, m in mutants(step.expr):
            if m in seen:
                continue
            seen.add(m)
            candidates.append((desc, replace(step, expr=m)))
        if step.rel != "=":
            flipped = "≤" if step.rel == "≥" else "≥"
            candidates.append((f"flip relation {step.rel} → {flipped}", replace(step, rel=flipped)))
        for desc, mutant in candidates:
            try:
                d.check_step(i, mutant)
            except InvalidTerm:
                rep.invalid += 1
                continue
            except CheckFailed:
                rep.killed += 1
                continue
            if mutant.rel == step.rel and _equivalent(d, i, mutant.expr):
                rep.equivalent += 1
                continue
            rep.survived += 1
            rep.survivors.append(f"({step.label}) {desc}")
    return rep
