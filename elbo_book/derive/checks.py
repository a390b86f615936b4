"""The three kinds of check, and their certificates.

1. **Identities** (relation ``=``): both sides are translated by each semantics of the derivation
   (:mod:`elbo_book.derive.semantics`) and their difference is shown to be identically zero by
   :func:`elbo_book.derive.normal_form.is_zero`.  This is a proof for the model family and sizes
   checked (e.g. every distribution on K = 2, 3, 4 points); it is not a proof for other families.
2. **Inequalities** (``≥``, ``≤``) need a certificate:

   * :class:`Gap` — the difference (larger − smaller) is proven *equal* to a quantity that is
     non-negative for a stated reason: a KL divergence (Gibbs' inequality, proven once in the
     library), a mutual information (a KL), a square, t − 1 − log t (proven by calculus), or a
     sum/expectation/positive multiple of such quantities;
   * :class:`Jensen` — the step has the shape log E_q[Y] ≥ E_q[log Y] (the same q and Y on both
     sides, Y matched pointwise) and log is concave, which SymPy confirms from its second
     derivative.
3. **Numeric** (:class:`Numeric`): the relation is evaluated on random instances.  This is never a
   proof, and its badge says "numeric only".

A step that fails raises :class:`CheckFailed` with the residual (what is not zero) and, where one
is found, a numeric counterexample.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from elbo_book.derive.anyk import NotHandled, proves_zero
from elbo_book.derive.normal_form import residual
from elbo_book.derive.semantics import Finite, Semantics, Undefined, Unsupported
from elbo_book.derive.terms import (
    KL,
    Add,
    Density,
    Div,
    Entropy,
    Expect,
    Integral,
    Log,
    LogGap,
    Mul,
    MutualInfo,
    Named,
    Num,
    Pow,
    SumN,
    Term,
    Var,
    walk,
)

__all__ = [
    "Certificate",
    "CheckFailed",
    "Gap",
    "InvalidTerm",
    "Jensen",
    "Numeric",
    "check_equal",
    "check_relation",
    "nonneg_reason",
    "prove_log_bound",
]

RELATIONS = ("=", "≥", "≤")
_TOL = 1e-9
_MAX_SHOWN = 400


class CheckFailed(Exception):
    """A check that did not go through; the message says why (residual, counterexample)."""


class InvalidTerm(CheckFailed):
    """A term of the step has no meaning in the model (``q(x | x)``, log of a non-positive)."""


def _short(expr: object) -> str:
    s = str(expr)
    return s if len(s) <= _MAX_SHOWN else s[:_MAX_SHOWN] + " …"


def _is_algebra(terms: list[Term]) -> bool:
    return not any(
        isinstance(s, Density | Expect | Integral | SumN | KL | MutualInfo)
        for t in terms
        for s in walk(t)
    )


def _counterexample(
    diff: sympy.Expr,
    inst_sample: Callable[[Callable[[], float]], dict[sympy.Symbol, float]],
    seed: int = 0,
) -> str:
    """A random instance (normalised probabilities) on which ``diff`` is not zero, as text."""
    rng = random.Random(seed)
    used = diff.free_symbols
    for _ in range(30):
        vals = inst_sample(rng.random)
        try:
            v = complex(diff.subs(vals).evalf())
        except (TypeError, ValueError):
            continue
        if abs(v) > _TOL:
            items = sorted(((k, x) for k, x in vals.items() if k in used), key=str)
            shown = ", ".join(f"{k}={float(x):.3g}" for k, x in items[:8])
            more = " …" if len(items) > 8 else ""
            return f"counterexample: {shown}{more} gives difference {v.real:.4g}"
    return "no numeric counterexample found in 30 random instances"


ANY_K_BADGE = "✓ symbolic, any finite support K (indexed sums)"


def _any_k(a: Term, b: Term) -> bool:
    """Whether the any-K prover proves a = b (False: not proven, fall back to fixed sizes)."""
    try:
        return proves_zero(a, b)
    except NotHandled:
        return False


def check_equal(a: Term, b: Term, semantics: tuple[Semantics, ...]) -> list[str]:
    """Prove ``a = b`` in each semantics that can interpret both; return the strength badges."""
    badges: list[str] = []
    terms = [a, b]
    algebra = _is_algebra(terms)
    for sem in semantics:
        if not algebra and isinstance(sem, Finite) and _any_k(a, b):
            badges.append(ANY_K_BADGE)
            continue
        try:
            for inst in sem.instances(terms):
                ta, tb = inst.translate(a), inst.translate(b)
                res, atoms = residual(ta - tb, inst.normalise)
                if res != 0:
                    raise CheckFailed(
                        f"not an identity ({sem.name}, {inst.label}): the residual "
                        f"{_short(atoms.restore(res))} is not zero; "
                        + _counterexample(ta - tb, inst.sample)
                    )
                if algebra:
                    break
        except Unsupported:
            continue
        except Undefined as err:
            raise InvalidTerm(f"undefined term: {err}") from err
        badges.append("✓ symbolic algebra (positive symbols)" if algebra else sem.badge(terms))
        if algebra:
            break
    if not badges:
        raise CheckFailed("no semantics of this derivation can interpret this step")
    return badges


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------
class Certificate:
    """Evidence for an inequality step (or a numeric check)."""

    def check(self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]) -> list[str]:
        raise NotImplementedError


def prove_log_bound() -> str:
    """Prove t − 1 − log t ≥ 0 for t > 0 by calculus: the only critical point is t = 1, the
    second derivative 1/t² is positive (so it is the global minimum on t > 0), and the value
    there is 0."""
    t = sympy.Symbol("t", positive=True)
    g = t - 1 - sympy.log(t)
    crit = sympy.solve(sympy.diff(g, t), t)
    second = sympy.diff(g, t, 2)
    if crit != [1] or second.is_positive is not True or g.subs(t, 1) != 0:
        raise CheckFailed("the calculus proof of log t ≤ t − 1 did not go through")
    return "t − 1 − log t ≥ 0 (calculus: minimum 0 at t = 1)"


def nonneg_reason(t: Term, discrete: bool = False) -> str | None:
    """Why ``t`` ≥ 0, from its structure, or None when no reason is known.  ``discrete``: every
    semantics in use is a finite support (then an entropy is ≥ 0; a differential entropy is not)."""
    if isinstance(t, Entropy):
        return "entropy of a discrete distribution ≥ 0 (each probability ≤ 1)" if discrete else None
    if isinstance(t, KL):
        return "KL ≥ 0 (Gibbs' inequality, derivation gibbs_inequality)"
    if isinstance(t, MutualInfo):
        return "mutual information is a KL, ≥ 0 (Gibbs)"
    if isinstance(t, LogGap):
        return prove_log_bound()
    if isinstance(t, Num):
        return "a non-negative number" if t.value >= 0 else None
    if isinstance(t, Var):
        return f"{t.name} > 0" if t.positive else None
    if isinstance(t, Density):
        return "a density is ≥ 0"
    if isinstance(t, Pow):
        e = t.exp
        if isinstance(e, Num) and e.value.q == 1 and e.value.p % 2 == 0:
            return "a square"
        inner = nonneg_reason(t.base, discrete)
        return inner
    if isinstance(t, Named):
        return nonneg_reason(t.definition, discrete)
    if isinstance(t, Expect | SumN | Integral):
        body = t.body
        inner = nonneg_reason(body, discrete)
        return f"sum/expectation of: {inner}" if inner else None
    if isinstance(t, Add | Mul):
        reasons = [nonneg_reason(c, discrete) for c in t.children()]
        if all(reasons):
            return "; ".join(dict.fromkeys(r for r in reasons if r))
        return None
    if isinstance(t, Div):
        num, den = nonneg_reason(t.num, discrete), nonneg_reason(t.den, discrete)
        return f"{num}; {den}" if num and den else None
    return None


@dataclass(frozen=True)
class Gap(Certificate):
    """The larger side minus the smaller side equals ``gap``, which is non-negative."""

    gap: Term

    def check(self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]) -> list[str]:
        reason = nonneg_reason(self.gap, all(isinstance(s, Finite) for s in semantics))
        if reason is None:
            raise CheckFailed(f"no reason is known why the gap {self.gap.text()} is ≥ 0")
        larger, smaller = (prev, new) if rel == "≥" else (new, prev)
        try:
            badges = check_equal(larger - smaller, self.gap, semantics)
        except CheckFailed as err:
            raise type(err)(
                f"the difference is not the certificate {self.gap.text()}: {err}"
            ) from err
        return [f"✓ gap = {self.gap.text()} ≥ 0: {reason}", *badges]


def _as_expectation(t: Term) -> tuple[Density, Term] | None:
    if isinstance(t, Expect):
        return t.dist, t.body
    if isinstance(t, Integral):
        factors = t.body.factors if isinstance(t.body, Mul) else (t.body,)
        for i, f in enumerate(factors):
            if isinstance(f, Density) and f.vars == (t.var,):
                rest = factors[:i] + factors[i + 1 :]
                body: Term = (
                    Num(sympy.Integer(1))
                    if not rest
                    else (rest[0] if len(rest) == 1 else Mul(tuple(rest)))
                )
                return f, body
    return None


@dataclass(frozen=True)
class Jensen(Certificate):
    """Jensen's inequality for the concave log: log E_q[Y] ≥ E_q[log Y]."""

    def check(self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]) -> list[str]:
        outer, inner = (prev, new) if rel == "≥" else (new, prev)
        if rel not in ("≥", "≤"):
            raise CheckFailed("Jensen's inequality gives ≥ or ≤, not =")
        if not isinstance(outer, Log):
            raise CheckFailed(
                "Jensen's shape: the larger side must be log E_q[Y] (log of an expectation)"
            )
        lhs = _as_expectation(outer.arg)
        rhs = _as_expectation(inner)
        if lhs is None or rhs is None:
            raise CheckFailed("Jensen's shape: expected log E_q[Y] on one side and E_q[log Y]")
        (d1, y1), (d2, body2) = lhs, rhs
        if d1 != d2:
            raise CheckFailed(
                f"Jensen: the two expectations are under different distributions "
                f"({d1.text()} vs {d2.text()})"
            )
        if not isinstance(body2, Log):
            raise CheckFailed("Jensen's shape: the smaller side must be E_q[log Y]")
        y2 = body2.arg
        t = sympy.Symbol("t", positive=True)
        second = sympy.diff(sympy.log(t), t, 2)
        if second.is_nonpositive is not True:
            raise CheckFailed("log is not certified concave")
        if y1 == y2:
            match = ["✓ the same Y on both sides (syntactic match)"]
        else:
            try:
                match = check_equal(
                    Expect(d1, Pow(Add((y1, -y2)), Num(sympy.Integer(2)))),
                    Num(sympy.Integer(0)),
                    semantics,
                )
            except CheckFailed as err:
                raise type(err)(
                    f"Jensen: the Y inside log E[Y] ({y1.text()}) differs from the Y inside "
                    f"E[log Y] ({y2.text()}): {err}"
                ) from err
        # both sides must be well defined (positive log arguments) in every semantics
        for sem in semantics:
            try:
                for inst in sem.instances([prev, new]):
                    inst.translate(prev)
                    inst.translate(new)
            except Unsupported:
                continue
            except Undefined as err:
                raise InvalidTerm(f"undefined term: {err}") from err
        shown = str(second).replace("**2", "²").replace("-", "−")
        return [f"✓ Jensen: log is concave (d²/dt² log t = {shown} ≤ 0, SymPy)", *match]


@dataclass(frozen=True)
class Numeric(Certificate):
    """Evaluate the relation on random instances.  Not a proof: the badge says so."""

    trials: int = 20

    def check(self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]) -> list[str]:
        rng = random.Random(0)
        done = 0
        for sem in semantics:
            try:
                for inst in sem.instances([prev, new]):
                    ta, tb = inst.translate(prev), inst.translate(new)
                    for _ in range(self.trials):
                        vals = inst.sample(rng.random)
                        a, b = float(ta.subs(vals).evalf()), float(tb.subs(vals).evalf())
                        ok = {
                            "=": abs(a - b) <= 1e-9 * (1 + abs(a)),
                            "≥": a >= b - 1e-12,
                            "≤": a <= b + 1e-12,
                        }[rel]
                        if not ok:
                            raise CheckFailed(
                                f"numeric check failed ({inst.label}): "
                                f"{a:.6g} {rel} {b:.6g} is false"
                            )
                        done += 1
            except Unsupported:
                continue
            except Undefined as err:
                raise InvalidTerm(f"undefined term: {err}") from err
        if not done:
            raise CheckFailed("no semantics could evaluate this step numerically")
        return [f"numeric only ({done} random instances)"]


def check_relation(
    prev: Term,
    rel: str,
    new: Term,
    certificate: Certificate | None,
    semantics: tuple[Semantics, ...],
) -> list[str]:
    """Check ``prev rel new``; return the badges or raise :class:`CheckFailed`."""
    if rel not in RELATIONS:
        raise CheckFailed(f"unknown relation {rel!r}; expected one of {RELATIONS}")
    if certificate is not None:
        if rel == "=" and not isinstance(certificate, Numeric):
            raise CheckFailed("an equality is checked directly; certificates are for ≥ and ≤")
        return certificate.check(prev, rel, new, semantics)
    if rel != "=":
        raise CheckFailed(
            f"an inequality ({rel}) needs a certificate: Gap(...), Jensen() or Numeric()"
        )
    return check_equal(prev, new, semantics)
