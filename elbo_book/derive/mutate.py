"""Mutation testing of the checks: does every check reject wrong variants of its step?

A mutant is one step of a derivation changed by one *operator*; it is *killed* when the mutated
derivation is refused (its construction, for the chain rules, or the step's check).  Operators:

* expression edits at one place of the step's expression: negate, drop or double a summand, drop
  a factor, double a symbol, change a number, swap a density's family (p ↔ q) or its conditional,
  swap the arguments of a KL, invert a fraction or drop its denominator, drop a minus sign, turn
  the log of a product (quotient) into a product (quotient or sum) of logs;
* ``change a Named definition``: the same edits inside a defined quantity, which keeps its
  display (ℒ still prints as ℒ but means something else) — refused on construction, since a
  symbol is tied to its one definition (:class:`~elbo_book.derive.terms.Named`);
* ``add a term vanishing at the checked sizes``: for an identity proved at fixed sizes, add
  Π_k (∫1 dz − k) (and Π_m (N − m) where the data index is used), a quantity that is 0 at every
  size checked symbolically and not 0 elsewhere;
* ``flip relation`` (≥ ↔ ≤) keeping the certificate, and ``flip relation with a forged square``:
  the flipped step certified by Gap(((larger − smaller)^(1/2))^2);
* ``swap semantics``: the step checked in a weaker or different family (a single support size,
  a Gaussian with fixed scales, i.i.d. draws of an unnormalised q) than the derivation's.

A surviving mutant that is a true step — it holds numerically on random instances at the sizes
checked *and* at the larger probe sizes, an oracle independent of the symbolic checks — is counted
as *true* and listed with that explanation (an edit can turn a step into another true one, e.g. log
p(x) ≥ log p(x)). A mutant whose *step* has no meaning (``q(x | z)``, a log of a quantity not known
to be positive, a term no semantics of the step can interpret) is counted as *invalid*, not as a
kill; a forged certificate that is refused as undefined is a kill. A surviving mutant whose
expression is provably equal to the original one is *equivalent* (no check could kill it). The
remaining survivors are listed: each marks a check that is too weak. Counts are kept per operator.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import sympy

from elbo_book.derive.chain import Derivation, Step
from elbo_book.derive.checks import (
    CheckFailed,
    Gap,
    InvalidTerm,
    Uninterpretable,
    check_equal,
    random_values,
)
from elbo_book.derive.draws import IIDDraws
from elbo_book.derive.semantics import (
    Finite,
    Gaussian,
    N,
    Semantics,
    Undefined,
    Unsupported,
    expand_loggap,
    uses_index,
)
from elbo_book.derive.terms import (
    KL,
    Add,
    Density,
    Div,
    Integral,
    Log,
    LogGap,
    Mul,
    Named,
    Neg,
    Num,
    Pow,
    Scalar,
    Term,
)

__all__ = ["OPERATORS", "MutationReport", "mutants", "mutate_derivation"]

_TWO = Num(sympy.Integer(2))
_HALF = Num(sympy.Rational(1, 2))
_ONES = Integral(Num(sympy.Integer(1)), "z")  # K (the support size) in a finite semantics

NAMED = "change a Named definition"
VANISHING = "add a term vanishing at the checked sizes"
FLIP = "flip relation"
FORGED = "flip relation with a forged square"
SWAP_SEMANTICS = "swap semantics"
OPERATORS = (
    "negate summand",
    "drop summand",
    "double summand",
    "drop factor",
    "double symbol",
    "change number",
    "swap family",
    "swap conditional",
    "swap KL arguments",
    "invert fraction",
    "drop denominator",
    "drop minus sign",
    "log of product → product of logs",
    "log of quotient → quotient of logs",
    "log of quotient → sum of logs",
    NAMED,
    VANISHING,
    FLIP,
    FORGED,
    SWAP_SEMANTICS,
)
"""Every operator, in report order."""

_ALTERNATIVES: tuple[Semantics, ...] = (
    Finite(sizes=(2,), index_sizes=(2,)),
    Gaussian(fix={"sigma_p": 1, "sigma_q": 1}),
    IIDDraws(sizes=(2,), normalised=False),
)


def _local(t: Term) -> Iterator[tuple[str, str, Term]]:
    """(operator, description, mutant) for every edit at the root of ``t``."""
    if isinstance(t, Add):
        for i, a in enumerate(t.terms):
            rest = t.terms[:i] + t.terms[i + 1 :]
            neg = a.arg if isinstance(a, Neg) else Neg(a)
            yield (
                "negate summand",
                f"negate summand {a.text()}",
                Add((*t.terms[:i], neg, *t.terms[i + 1 :])),
            )
            yield (
                "drop summand",
                f"drop summand {a.text()}",
                rest[0] if len(rest) == 1 else Add(rest),
            )
            yield (
                "double summand",
                f"double summand {a.text()}",
                Add((*t.terms[:i], Mul((_TWO, a)), *t.terms[i + 1 :])),
            )
    if isinstance(t, Mul):
        for i, f in enumerate(t.factors):
            rest = t.factors[:i] + t.factors[i + 1 :]
            yield "drop factor", f"drop factor {f.text()}", rest[0] if len(rest) == 1 else Mul(rest)
    if isinstance(t, Scalar):
        yield "double symbol", f"double {t.text()}", Mul((_TWO, t))
    if isinstance(t, Num):
        yield "change number", f"change number {t.text()} → {2 * t.value}", Num(2 * t.value)
        yield "change number", f"change number {t.text()} → {t.value + 1}", Num(t.value + 1)
    if isinstance(t, Density):
        other = t.swapped_family()
        yield "swap family", f"swap family {t.text()} → {other.text()}", other
        if t.given:
            swapped = Density(t.family, t.given, t.vars, t.sub)
            yield "swap conditional", f"swap conditional {t.text()} → {swapped.text()}", swapped
    if isinstance(t, KL):
        yield "swap KL arguments", "swap KL arguments", KL(t.b, t.a)
    if isinstance(t, Div):
        yield "invert fraction", f"invert {t.text()}", Div(t.den, t.num)
        yield "drop denominator", f"drop denominator {t.den.text()}", t.num
    if isinstance(t, Neg):
        yield "drop minus sign", f"drop minus sign of {t.arg.text()}", t.arg
    if isinstance(t, Log):
        a = t.arg
        if isinstance(a, Mul):
            yield (
                "log of product → product of logs",
                "log of product → product of logs",
                Mul(tuple(Log(f) for f in a.factors)),
            )
        if isinstance(a, Div):
            yield (
                "log of quotient → quotient of logs",
                "log of quotient → quotient of logs",
                Div(Log(a.num), Log(a.den)),
            )
            yield (
                "log of quotient → sum of logs",
                "log of quotient → sum of logs",
                Add((Log(a.num), Log(a.den))),
            )


def _operated(t: Term, inside_named: bool) -> Iterator[tuple[str, str, Term | None]]:
    """(operator, description, mutant) for every edit anywhere in ``t``; the mutant is None when
    it cannot even be built (a changed definition under a symbol tied to the old one)."""
    for op, desc, edited in _local(t):
        yield (NAMED if inside_named else op), desc, edited
    if isinstance(t, LogGap):
        return
    if isinstance(t, Named):
        for _, desc, m in _operated(t.definition(), True):
            changed: Term | None = None
            if m is not None:
                try:
                    changed = Named(t.tex, t.label, m)
                except ValueError:
                    pass  # refused: the symbol is tied to its definition
            yield NAMED, f"{desc} in the definition of {t.text()} (display kept)", changed
        return
    kids = t.children()
    for i, c in enumerate(kids):
        for op, desc, m in _operated(c, inside_named):
            if m is None:
                yield op, desc, None
                continue
            try:
                yield op, desc, t.rebuild((*kids[:i], m, *kids[i + 1 :]))
            except ValueError:
                continue


def mutants(t: Term) -> Iterator[tuple[str, Term]]:
    """Every single-place mutation of ``t``, as (description, mutant); edits inside a defined
    quantity keep its display."""
    for op, desc, m in _operated(t, False):
        if m is not None:
            yield f"{op}: {desc}" if op == NAMED else desc, m


def _vanishing(step: Step, prev: Term, semantics: tuple[Semantics, ...]) -> Term | None:
    """A term that is 0 at every size the step's fixed-size semantics check, or None."""
    terms = [prev, step.expr]
    factors: list[Term] = []
    for sem in semantics:
        if isinstance(sem, Finite):
            factors += [_ONES - k for k in sem.sizes]
            if uses_index(terms):
                factors += [N - m for m in sem.index_sizes]
        elif isinstance(sem, IIDDraws):
            factors += [_ONES - s for s in sem.sizes]
    return Mul(tuple(factors)) if factors else None


def _candidates(d: Derivation, i: int) -> Iterator[tuple[str, str, Step | None, bool]]:
    """(operator, description, mutated step, forged certificate) for step ``i``; the step is
    None for a mutant refused on construction."""
    step = d.steps[i]
    prev = d.previous(i)
    seen: set[Term] = {step.expr}
    for op, desc, m in _operated(step.expr, False):
        if m is None:
            yield op, desc, None, False
        elif m not in seen:
            seen.add(m)
            yield op, desc, replace(step, expr=m), False
    sem = step.semantics or d.semantics
    if step.rel == "=":
        extra = _vanishing(step, prev, sem)
        if extra is not None:
            yield VANISHING, f"add {extra.text()}", replace(step, expr=step.expr + extra), False
    else:
        flipped = "≤" if step.rel == "≥" else "≥"
        yield FLIP, f"flip relation {step.rel} → {flipped}", replace(step, rel=flipped), False
        diff = prev - step.expr if flipped == "≥" else step.expr - prev
        forged = Gap(Pow(Pow(diff, _HALF), _TWO))
        yield (
            FORGED,
            f"flip relation {step.rel} → {flipped} with Gap(((…)^(1/2))^2)",
            replace(step, rel=flipped, certificate=forged),
            True,
        )
    for alt in _ALTERNATIVES:
        if not all(alt.covers(s) for s in sem):
            yield (
                SWAP_SEMANTICS,
                f"check in {alt.describe()}",
                replace(step, semantics=(alt,)),
                False,
            )


@dataclass
class MutationReport:
    """Counts for one derivation, per operator, and the descriptions of surviving mutants."""

    name: str
    killed: int = 0
    survived: int = 0
    invalid: int = 0
    equivalent: int = 0
    true_steps: int = 0
    survivors: list[str] = field(default_factory=list)
    explained: list[str] = field(default_factory=list)
    by_operator: dict[str, list[int]] = field(default_factory=dict)
    """operator → [killed, survived, invalid, equivalent, true]"""

    @property
    def total(self) -> int:
        """Valid, non-equivalent mutants (killed + survived)."""
        return self.killed + self.survived

    def count(self, operator: str, outcome: int) -> None:
        """Record one mutant of ``operator`` with outcome 0 killed, 1 survived, 2 invalid,
        3 equivalent, 4 a true step."""
        self.by_operator.setdefault(operator, [0, 0, 0, 0, 0])[outcome] += 1
        if outcome == 0:
            self.killed += 1
        elif outcome == 1:
            self.survived += 1
        elif outcome == 2:
            self.invalid += 1
        elif outcome == 3:
            self.equivalent += 1
        else:
            self.true_steps += 1


def _equivalent(d: Derivation, i: int, expr: Term) -> bool:
    """Whether the mutated expression provably has the same value as the original one (an
    *equivalent* mutant, which no check can or should kill)."""
    step = d.steps[i]
    try:
        check_equal(step.expr, expr, step.semantics or d.semantics)
    except CheckFailed:
        return False
    return True


def _numerically_true(d: Derivation, i: int, step: Step) -> str | None:
    """Where the mutated step holds on random instances (the checked sizes and the probes), or
    None when it fails somewhere or cannot be evaluated."""
    prev, rel = d.previous(i), step.rel
    rng = random.Random(7)
    where: list[str] = []
    try:
        for sem in step.semantics or d.semantics:
            for inst in (*sem.instances([prev, step.expr]), *sem.probes([prev, step.expr])):
                ta = expand_loggap(inst.translate(prev))
                tb = expand_loggap(inst.translate(step.expr))
                for _ in range(3):
                    vals = random_values(inst, ta - tb, rng.random)
                    a, b = complex(ta.xreplace(vals)).real, complex(tb.xreplace(vals)).real
                    tol = 1e-9 * (1 + abs(a) + abs(b))
                    ok = {"=": abs(a - b) <= tol, "≥": a >= b - tol, "≤": a <= b + tol}[rel]
                    if not ok:
                        return None
                where.append(inst.label)
    except (CheckFailed, Undefined, Unsupported, TypeError, ValueError):
        return None
    return ", ".join(where) or None


def mutate_derivation(d: Derivation) -> MutationReport:
    """Apply every operator to every (non-expected-failure) step of ``d`` and re-check it."""
    rep = MutationReport(d.name)
    for i, step in enumerate(d.steps):
        if step.expect_fail:
            continue
        for op, desc, mutant, forged in _candidates(d, i):
            if mutant is None:
                rep.count(op, 0)  # refused on construction (a symbol tied to its definition)
                continue
            try:
                mutated = replace(d, steps=(*d.steps[:i], mutant, *d.steps[i + 1 :]))
                mutated.check_step(i)
            except ValueError:
                rep.count(op, 0)  # refused by the chain rules (direction, semantics)
                continue
            except (InvalidTerm, Uninterpretable):
                rep.count(op, 0 if forged else 2)
                continue
            except CheckFailed:
                rep.count(op, 0)
                continue
            if mutant.rel == step.rel and _equivalent(d, i, mutant.expr):
                rep.count(op, 3)
                continue
            where = _numerically_true(d, i, mutant)
            if where:
                rep.count(op, 4)
                rep.explained.append(
                    f"({step.label}) [{op}] {desc}: a true step (holds numerically at {where})"
                )
                continue
            rep.count(op, 1)
            rep.survivors.append(f"({step.label}) [{op}] {desc}")
    return rep
