"""The shared translator: what every semantics has in common.

A semantics (:class:`Semantics`) reads a term as a SymPy expression in one family of models.
This module holds what the families share: the sizes ``N`` and ``K``, the translation of
arithmetic (:func:`translate_arithmetic`, which each semantics calls with its own reading of the
leaves), plain algebra outside every model (:func:`translate_algebra`), the log-gap function
``LogGapF`` (t − 1 − log t) and the non-negativity prover (:func:`proves_nonneg`), the
instances a semantics is checked at (:class:`Instance`), and the two ways a translation can
refuse a term: :class:`Unsupported` (this family cannot interpret it; the step is not checked
here) and :class:`Undefined` (the term has no meaning at all, e.g. ``q(x | x)``).  The families
themselves are ``elbo_book.derive.semantics.finite`` and ``elbo_book.derive.semantics.gaussian``
(and the i.i.d.-draws semantics, ``elbo_book.derive.draws``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy

from elbo_book.derive.terms import (
    Add,
    Density,
    Div,
    Log,
    LogGap,
    Mul,
    MutualInfo,
    Named,
    Neg,
    Num,
    Pi,
    Pow,
    Scalar,
    SumN,
    Term,
    Value,
    walk,
)

__all__ = [
    "Instance",
    "K",
    "LogGapF",
    "N",
    "Semantics",
    "Undefined",
    "Unsupported",
    "expand_loggap",
    "positive_log",
    "proves_nonneg",
    "sizes_text",
    "translate_algebra",
    "translate_arithmetic",
    "uses_index",
]


N = Scalar("N")
"""The number of data points; the finite semantics replaces it by the instance's N."""
K = Scalar("K")
"""The number of points of the latent's support; the finite semantics replaces it by the
instance's K (the i.i.d.-draws semantics by its S).  No continuous family has it."""


class LogGapF(sympy.Function):
    """t − 1 − log t, kept as one node when a semantics translates ``LogGap(t)``: a certificate's
    non-negativity is proved on the translated expression (:func:`proves_nonneg`), so the lemma
    t − 1 − log t ≥ 0 (t > 0) must still be visible there.  :func:`expand_loggap` writes it out
    for the zero test and for numerical evaluation."""

    nargs = 1

    def _eval_is_extended_real(self) -> bool | None:
        return True if self.args[0].is_positive else None

    def _eval_is_nonnegative(self) -> bool | None:
        return True if self.args[0].is_positive else None


def expand_loggap(e: sympy.Expr) -> sympy.Expr:
    """``e`` with every :class:`LogGapF` node written out as t − 1 − log t; a product around it
    is multiplied into the three terms (so that a density times a ratio over the same density
    cancels before any substitution: the zero test stays fast)."""
    if not e.has(LogGapF):
        return e
    if isinstance(e, LogGapF):
        t = expand_loggap(e.args[0])
        return t - 1 - sympy.log(t)
    if e.is_Mul:
        gaps = [f for f in e.args if isinstance(f, LogGapF)]
        if len(gaps) == 1:
            rest = sympy.Mul(*[expand_loggap(f) for f in e.args if f is not gaps[0]])
            t = expand_loggap(gaps[0].args[0])
            return rest * t - rest - rest * sympy.log(t)
    return e.func(*[expand_loggap(a) for a in e.args])


def _known_positive(e: sympy.Expr) -> bool:
    return e.is_positive is True


def translate_arithmetic(
    t: Term,
    tr: Callable[[Term], sympy.Expr],
    positive: Callable[[sympy.Expr], bool] = _known_positive,
) -> sympy.Expr | None:
    """Translate the arithmetic terms every semantics reads the same way (numbers, π, +, ×, −, ÷,
    powers, t − 1 − log t), recursing with ``tr``; ``None`` for any other term.

    Every translated quantity is real: a quotient needs a denominator known to be non-zero, a
    power with a non-integer exponent a base known to be positive (and a negative integer
    exponent a non-zero base); otherwise :class:`Undefined` is raised.  (A power like
    ``(ℒ − log p(x))^(1/2)`` is not real where its base is negative, so it is refused instead of
    being squared into a "non-negative" certificate.)  ``positive`` decides "known to be
    positive" (the any-K prover passes its own rule for indexed sums).
    """
    if isinstance(t, Num):
        return t.value
    if isinstance(t, Pi):
        return sympy.pi
    if isinstance(t, Add):
        return sympy.Add(*[tr(a) for a in t.terms])
    if isinstance(t, Mul):
        return sympy.Mul(*[tr(a) for a in t.factors])
    if isinstance(t, Neg):
        return -tr(t.arg)
    if isinstance(t, Div):
        den = tr(t.den)
        if den.is_zero is not False and not positive(den):
            raise Undefined(f"division by a quantity not known to be non-zero: {t.den.text()}")
        return tr(t.num) / den
    if isinstance(t, Pow):
        base, exp = tr(t.base), tr(t.exp)
        if exp.is_integer is not True:
            if not positive(base) or exp.is_real is not True:
                raise Undefined(
                    f"a power with a non-integer exponent of a quantity not known to be "
                    f"positive: {t.text()}"
                )
        elif exp.is_negative is not False and base.is_zero is not False and not positive(base):
            raise Undefined(f"a negative power of a quantity not known to be non-zero: {t.text()}")
        return base**exp
    if isinstance(t, LogGap):
        arg = tr(t.arg)
        if not positive(arg):
            raise Undefined(f"t − 1 − log t of a quantity not known to be positive: {t.text()}")
        return LogGapF(arg)
    return None


def positive_log(t: Log, arg: sympy.Expr) -> sympy.Expr:
    """log(arg) for the translated argument of ``t``; :class:`Undefined` unless it is positive."""
    if arg.is_positive is not True:
        raise Undefined(f"log of a quantity not known to be positive: log({t.arg.text()})")
    return sympy.log(arg)


def translate_algebra(t: Term) -> sympy.Expr:
    """A term without densities as plain algebra: each ``Scalar`` its own symbol (positive or real,
    as declared; N too), each ``Value`` a real symbol.  No model is involved: nothing is
    substituted (no size, no fixed parameter, no normalisation)."""
    arithmetic = translate_arithmetic(t, translate_algebra)
    if arithmetic is not None:
        return arithmetic
    if isinstance(t, Scalar):
        return t.sympy()
    if isinstance(t, Value):
        return sympy.Symbol(t.name, real=True)
    if isinstance(t, Log):
        return positive_log(t, translate_algebra(t.arg))
    if isinstance(t, Named):
        return translate_algebra(t.definition())
    raise Unsupported(f"{type(t).__name__} is not algebra")


def proves_nonneg(
    e: sympy.Expr,
    positive: Callable[[sympy.Expr], bool] = _known_positive,
    ranges: dict[sympy.Symbol, tuple[sympy.Expr, sympy.Expr]] | None = None,
) -> bool:
    """True when ``e`` ≥ 0 is proved for every value of its symbols allowed by their assumptions
    (probabilities and scales positive, means real), by these rules only: a sum or product of
    non-negative factors; t − 1 − log t with t > 0; an even power of a real; a power of a
    positive base; log u with u − 1 ≥ 0, and −log u with 1 − u ≥ 0 (both tested after
    cancelling to one fraction); a finite sum of non-negative terms, and −Σ f as Σ (−f);
    Σ_{m=lo}^{hi} f(m) − f(i) for f ≥ 0 and an index i bound to the same range by an enclosing
    sum (``ranges``: index → (lo, hi); the sum of the other terms); a leaf that SymPy's
    assumptions call non-negative.  False means *not proved*.  ``positive`` decides "known to be
    positive" (as in :func:`translate_arithmetic`)."""
    ranges = ranges or {}

    def rec(a: sympy.Expr) -> bool:
        return proves_nonneg(a, positive, ranges)

    if isinstance(e, LogGapF):
        return positive(e.args[0])
    if e.is_Add:
        if len(e.args) == 2:
            for whole, part in (e.args, e.args[::-1]):
                if _sum_minus_term(whole, part, ranges) and rec(whole.function):
                    return True
        return all(rec(a) for a in e.args)
    if e.is_Mul:
        coeff, rest = e.as_coeff_Mul()
        factors = list(sympy.Mul.make_args(rest))
        if coeff.is_negative:
            sums = [f for f in factors if isinstance(f, sympy.Sum)]
            logs = [f for f in factors if isinstance(f, sympy.log)]
            if len(logs) == 1 and rec(sympy.cancel(1 - logs[0].args[0])):
                factors.remove(logs[0])
            elif sums:
                inner = sums[0]
                factors.remove(inner)
                factors.append(sympy.Sum(-inner.function, *inner.limits))
            else:
                return False
        return all(rec(f) for f in factors)
    if e.is_Pow:
        base, exp = e.args
        if exp.is_integer and exp.is_even and base.is_extended_real is True:
            return bool(exp.is_nonnegative) or base.is_zero is False
        return exp.is_real is True and positive(base)
    if isinstance(e, sympy.log):
        return rec(sympy.cancel(e.args[0] - 1))
    if isinstance(e, sympy.Sum):
        inner = {**ranges, **{v: (lo, hi) for v, lo, hi in e.limits}}
        return proves_nonneg(e.function, positive, inner)
    return e.is_nonnegative is True or positive(e)


def _sum_minus_term(
    whole: sympy.Expr, part: sympy.Expr, ranges: dict[sympy.Symbol, tuple[sympy.Expr, sympy.Expr]]
) -> bool:
    """Whether ``whole + part`` is Σ_{m=lo}^{hi} f(m) − f(i) with i bound to (lo, hi)."""
    if not isinstance(whole, sympy.Sum) or len(whole.limits) != 1:
        return False
    m, lo, hi = whole.limits[0]
    return any(
        ranges.get(i) == (lo, hi) and sympy.expand(part + whole.function.xreplace({m: i})) == 0
        for i in ranges
    )


class Unsupported(Exception):
    """The semantics cannot interpret this term (it is not an error in the derivation)."""


class Undefined(Exception):
    """The term has no meaning (a malformed density, a free variable, a log of a non-positive)."""


_ALIASES = {"z_n": "z"}


def _canon(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_ALIASES.get(v, v) for v in names)


@dataclass
class Instance:
    """One concrete model: a translation function and the normalisation substitution."""

    label: str
    translate: Callable[[Term], sympy.Expr]
    normalise: dict[sympy.Symbol, sympy.Expr]
    sample: Callable[[Callable[[], float]], dict[sympy.Symbol, float]]


class Semantics:
    """Base class: a semantics yields the model instances on which a step is checked."""

    name: str = ""

    def instances(self, terms: list[Term]) -> Iterator[Instance]:
        raise NotImplementedError

    def probes(self, terms: list[Term]) -> Iterator[Instance]:
        """Instances at sizes *above* the ones ``instances`` proves at, on which an identity
        proved at those sizes is also evaluated numerically: a false step that differs by a term
        vanishing at the checked sizes (a polynomial in K or N with those roots) is refuted
        there.  None by default (a family without sizes)."""
        return iter(())

    def describe(self, terms: list[Term] | None = None) -> str:
        """What a proof in this semantics covers, generated from the object itself (family,
        sizes, fixed parameters, normalisation, support), for the step's ``terms`` (e.g. the
        data-index sizes only when a term uses the index) or in general."""
        raise NotImplementedError

    def describe_any_size(self, terms: list[Term] | None = None) -> str | None:
        """What a proof by the indexed-sum prover (``elbo_book.derive.indexed_sums``, symbolic
        sizes) covers in this family, or None when the family has no sizes."""
        return None

    def badge(self, terms: list[Term]) -> str:
        """The strength badge of a step proved here: "✓ symbolic," followed by :meth:`describe`."""
        return f"✓ symbolic, {self.describe(terms)}"

    def covers(self, other: Semantics) -> bool:
        """Whether a proof in this semantics is a proof in ``other`` (its family contains
        ``other``'s).  By default: the same object, or one with the same description."""
        return self is other or (type(self) is type(other) and self.describe() == other.describe())


def sizes_text(name: str, sizes: tuple[int, ...]) -> str:
    """``K=2..4`` for consecutive sizes, ``K∈{2, 5}`` otherwise."""
    ordered = sorted(sizes)
    if len(ordered) == 1:
        return f"{name}={ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{name}={ordered[0]}..{ordered[-1]}"
    return f"{name}∈{{{', '.join(map(str, ordered))}}}"


def uses_index(terms: list[Term]) -> bool:
    """Whether any term mentions the data index n (``SumN``, ``x_n``, ``q(n | z)``, …)."""
    for t in terms:
        for s in walk(t):
            if isinstance(s, SumN):
                return True
            if isinstance(s, Density) and {"n", "x_n", "z_n"} & set(s.vars + s.given):
                return True
            if isinstance(s, MutualInfo) and "n" in (s.u, s.v):
                return True
            if s == N:
                return True
    return False
