"""The three kinds of check, and their certificates.

Every term of a step and of its certificate first passes the well-formedness pass
(``elbo_book.derive.wellformed``).

1. **Identities** (relation ``=``): both sides are translated by each semantics of the derivation
   (:mod:`elbo_book.derive.semantics`) and their difference is shown to be identically zero by
   :func:`elbo_book.derive.zero_test.is_zero` (first for every support size K by the indexed-sum
   prover, ``elbo_book.derive.indexed_sums``).  At fixed sizes this is a proof for the model family
   and the sizes checked (e.g. every distribution on K = 2, 3, 4 points), and the two sides are
   also compared numerically at larger sizes
   (:meth:`~elbo_book.derive.semantics.translator.Semantics.probes`).
   A step without densities is plain algebra, proved once outside every model.
2. **Inequalities** (``≥``, ``≤``) need a certificate:

   * :class:`Gap` — the difference (larger − smaller) is proven *equal* to a quantity that is
     proven non-negative inside each semantics from its translation: KL and mutual information
     are first rewritten as E[t − 1 − log t] (a rewrite that is itself proven, and holds only for
     normalised densities: Gibbs' inequality), entropy as −E[log a] (≥ 0 where masses are ≤ 1);
   * :class:`Jensen` — the step has the shape log E_q[Y] ≥ E_q[log Y] and the difference is
     proven equal to E_q[LogGap(Y / E_q[Y])] (which needs q normalised), then ≥ 0 as for a gap.
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

from elbo_book.derive import indexed_sums
from elbo_book.derive.draws import IIDDraws
from elbo_book.derive.indexed_sums import NoIndexedSumForm
from elbo_book.derive.semantics import (
    Finite,
    Gaussian,
    Instance,
    Semantics,
    Undefined,
    Unsupported,
    expand_loggap,
    proves_nonneg,
    translate_algebra,
)
from elbo_book.derive.strength import Badge, Sizes, Strength
from elbo_book.derive.terms import (
    KL,
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
    walk,
)
from elbo_book.derive.wellformed import Malformed, check_wellformed
from elbo_book.derive.zero_test import residual

__all__ = [
    "Certificate",
    "CheckFailed",
    "Gap",
    "InvalidTerm",
    "Jensen",
    "Numeric",
    "Uninterpretable",
    "any_size_badge",
    "check_algebra",
    "check_equal",
    "check_pointwise",
    "check_relation",
    "lemma_form",
    "prove_log_bound",
    "prove_nonneg",
    "random_values",
    "size_model",
]

RELATIONS = ("=", "≥", "≤")
_TOL = 1e-9
_MAX_SHOWN = 400


class CheckFailed(Exception):
    """A check that did not go through; the message says why (residual, counterexample)."""


class InvalidTerm(CheckFailed):
    """A term of the step has no meaning in the model (``q(x | x)``, log of a non-positive)."""


class Uninterpretable(CheckFailed):
    """No semantics of the step can interpret it (it is checked nowhere)."""


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
    diff = expand_loggap(diff)
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


def size_model(sem: Semantics) -> indexed_sums.SizeModel | None:
    """The indexed-sum reading of ``sem`` (symbolic sizes), or None for a family without sizes."""
    if isinstance(sem, Finite):
        return None if sem.zero_masses else indexed_sums.finite_model()
    if isinstance(sem, IIDDraws):
        return indexed_sums.draws_model(sem.normalised)
    return None


def any_size_badge(sem: Semantics, terms: list[Term]) -> str:
    """The badge of an identity proved by the indexed-sum prover in ``sem``."""
    return f"✓ symbolic, {sem.describe_any_size(terms)} (indexed sums)"


def _any_size(sem: Semantics, a: Term, b: Term) -> bool:
    """Whether the indexed-sum prover proves a = b in ``sem`` for every size (False: not
    proven, fall back to fixed sizes)."""
    model = size_model(sem)
    if model is None:
        return False
    try:
        return indexed_sums.proves_identity_every_size(model, a, b)
    except (NoIndexedSumForm, Undefined):
        return False


ALGEBRA_BADGE = "✓ symbolic algebra (plain symbols, outside any model)"


def _free_sampler(expr: sympy.Expr) -> Callable[[Callable[[], float]], dict[sympy.Symbol, float]]:
    """Random values for the free symbols of ``expr`` (positive ones in (0.05, 2.05))."""

    def sample(rnd: Callable[[], float]) -> dict[sympy.Symbol, float]:
        return {
            s: (0.05 + 2 * rnd()) if s.is_positive else (4 * rnd() - 2) for s in expr.free_symbols
        }

    return sample


def check_algebra(a: Term, b: Term) -> list[Badge]:
    """Prove ``a = b`` for terms without densities, reading every symbol as a plain symbol (its
    declared sign only): no model instance, no size, no fixed parameter, no normalisation."""
    try:
        ta, tb = translate_algebra(a), translate_algebra(b)
    except Undefined as err:
        raise InvalidTerm(f"undefined term: {err}") from err
    res, atoms = residual(ta - tb)
    if res != 0:
        raise CheckFailed(
            f"not an identity (algebra): the residual {_short(atoms.restore(res))} is not "
            "zero; " + _counterexample(ta - tb, _free_sampler(ta - tb))
        )
    return [Badge(ALGEBRA_BADGE, Strength.ALGEBRA)]


def random_values(
    inst: Instance, expr: sympy.Expr, rnd: Callable[[], float]
) -> dict[sympy.Symbol, sympy.Float]:
    """A random instance of ``inst``'s model, with values for every other free symbol of
    ``expr`` too (scalar symbols of the step such as β, δ), as SymPy floats."""
    vals = dict(inst.sample(rnd))
    vals.update({k: v for k, v in _free_sampler(expr)(rnd).items() if k not in vals})
    return {k: sympy.Float(v) for k, v in vals.items()}


def _probe(a: Term, b: Term, sem: Semantics) -> list[str]:
    """Evaluate ``a`` and ``b`` numerically on ``sem``'s probe instances (sizes above the ones
    proved at); raise :class:`CheckFailed` on a difference; return the probes' labels."""
    rng = random.Random(1)
    labels: list[str] = []
    for inst in sem.probes([a, b]):
        ta, tb = expand_loggap(inst.translate(a)), expand_loggap(inst.translate(b))
        # one random instance: a non-zero difference vanishes on it with probability 0
        vals = random_values(inst, ta - tb, rng.random)
        try:
            va, vb = complex(ta.xreplace(vals)), complex(tb.xreplace(vals))
        except TypeError:
            continue  # not a number there (no claim is made for this probe)
        if abs(va - vb) > 1e-8 * (1 + abs(va) + abs(vb)):
            raise CheckFailed(
                f"an identity at the sizes checked symbolically, but not at {inst.label}: "
                f"{va.real:.10g} ≠ {vb.real:.10g} on a random instance (a difference that "
                "vanishes at the checked sizes only)"
            )
        labels.append(inst.label)
    return labels


def check_equal(a: Term, b: Term, semantics: tuple[Semantics, ...]) -> list[Badge]:
    """Prove ``a = b`` in each semantics that can interpret both; return the strength badges.
    A step without densities is algebra: it is proved once, outside every model
    (:func:`check_algebra`)."""
    terms = [a, b]
    if _is_algebra(terms):
        return check_algebra(a, b)
    badges: list[Badge] = []
    for sem in semantics:
        if _any_size(sem, a, b):
            badges.append(Badge(any_size_badge(sem, terms), Strength.ANY_SIZE, Sizes.ANY))
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
            probed = _probe(a, b, sem)
        except Unsupported:
            continue
        except Undefined as err:
            raise InvalidTerm(f"undefined term: {err}") from err
        badge = sem.badge(terms)
        text = badge + (f"; also numerically at {' and '.join(probed)}" if probed else "")
        if isinstance(sem, Gaussian):
            badges.append(Badge(text, Strength.GAUSSIAN))
        else:
            badges.append(Badge(text, Strength.FIXED_SIZES, Sizes.FIXED))
    if not badges:
        raise Uninterpretable("no semantics of this derivation can interpret this step")
    return badges


def check_pointwise(a: Term, b: Term, semantics: tuple[Semantics, ...]) -> list[Badge]:
    """Prove ``a = b`` as functions of the latent z, at *every* value of z (not in expectation):
    the terms may mention z free (each is first checked well-formed with z bound, as in
    ``∫ a dz``).  In the Gaussian family z is a real symbol; in the finite family z is a free
    index k of the indexed-sum prover (every point of every support size K).  Raises
    :class:`CheckFailed` when no semantics proves it."""
    try:
        for t in (a, b):
            check_wellformed(Integral(t, "z"))
    except Malformed as err:
        raise InvalidTerm(str(err)) from err
    badges: list[Badge] = []
    k = indexed_sums.free_index()
    for sem in semantics:
        try:
            if isinstance(sem, Gaussian):
                res, atoms = residual(sem.tr(a) - sem.tr(b))
                if res != 0:
                    raise CheckFailed(
                        f"not an identity at every z ({sem.name}): the residual "
                        f"{_short(atoms.restore(res))} is not zero"
                    )
                badges.append(Badge(f"✓ at every z, {sem.describe([a, b])}", Strength.GAUSSIAN))
            elif (model := size_model(sem)) is not None:
                if not indexed_sums.proves_identity_every_size(model, a, b, {"z": k}):
                    raise CheckFailed(f"not proved at every z ({sem.name}, indexed sums)")
                text = f"✓ at every z, {sem.describe_any_size([a, b])} (indexed sums)"
                badges.append(Badge(text, Strength.ANY_SIZE, Sizes.ANY))
        except (Unsupported, NoIndexedSumForm):
            continue
        except Undefined as err:
            raise InvalidTerm(f"undefined term: {err}") from err
    if not badges:
        raise Uninterpretable("no semantics can check this pointwise identity")
    return badges


# ---------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------
class Certificate:
    """Evidence for an inequality step (or a numeric check)."""

    def check(
        self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]
    ) -> list[Badge]:
        raise NotImplementedError

    def terms(self) -> tuple[Term, ...]:
        """The terms the certificate is made of (checked for well-formedness like the step's)."""
        return ()


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


def lemma_form(t: Term) -> Term:
    """``t`` with each information quantity replaced by the form its non-negativity is proved
    from: KL(a ‖ b) by E_a[LogGap(b / a)] (equal to it exactly when b is normalised on the
    support of a: Gibbs' inequality), 𝕀_j(u; v) by E_j[LogGap(j(u) j(v) / j)], ℍ[a] by its
    definition −E_a[log a] (≥ 0 only where every mass is ≤ 1, i.e. on a discrete support)."""
    if isinstance(t, KL):
        return Expect(t.a, LogGap(Div(t.b, t.a)))
    if isinstance(t, MutualInfo):
        j = t.joint
        mu = Density(j.family, (t.u,), j.given, j.sub)
        mv = Density(j.family, (t.v,), j.given, j.sub)
        return Expect(j, LogGap(Div(Mul((mu, mv)), j)))
    if isinstance(t, Entropy):
        return t.definition()
    if isinstance(t, Named):
        return lemma_form(t.definition())
    kids = t.children()
    new = tuple(lemma_form(c) for c in kids)
    return t if new == kids else t.rebuild(new)


def _lemmas(t: Term) -> list[str]:
    """The lemmas a certificate's non-negativity proof uses, for its badge."""
    out: list[str] = []
    for s in walk(t):
        if isinstance(s, KL):
            out.append("Gibbs: KL(a ‖ b) = E_a[t − 1 − log t], t = b/a, b normalised")
        elif isinstance(s, MutualInfo):
            out.append("𝕀 is a KL (Gibbs)")
        elif isinstance(s, Entropy):
            out.append("discrete entropy (every mass ≤ 1)")
        elif isinstance(s, LogGap):
            out.append(prove_log_bound())
        elif isinstance(s, Pow):
            out.append("a square of a real")
    if any(isinstance(s, KL | MutualInfo) for s in walk(t)):
        out.append(prove_log_bound())
    return list(dict.fromkeys(out)) or ["positive factors"]


def prove_nonneg(t: Term, semantics: tuple[Semantics, ...]) -> list[Badge]:
    """Prove ``t`` ≥ 0 in every semantics that can interpret it, from its translation
    (:func:`~elbo_book.derive.semantics.translator.proves_nonneg`); return where it was proved
    (each a ``elbo_book.derive.strength.Badge`` saying whether it covers every size).  In the
    finite semantics a proof for every K (indexed sums) is tried first; a term without densities
    is proved once, as plain algebra."""
    if _is_algebra([t]):
        try:
            e = translate_algebra(t)
        except Undefined as err:
            raise InvalidTerm(f"undefined term: {err}") from err
        if not proves_nonneg(e):
            raise CheckFailed(f"the certificate {t.text()} is not proved ≥ 0 (algebra)")
        return [Badge("plain algebra", Strength.ALGEBRA)]
    where: list[Badge] = []
    for sem in semantics:
        model = size_model(sem)
        if model is not None:
            try:
                if indexed_sums.proves_nonneg_every_size(model, t):
                    text = str(sem.describe_any_size([t]))
                    where.append(Badge(text, Strength.ANY_SIZE, Sizes.ANY))
                    continue
            except (indexed_sums.NoIndexedSumForm, Undefined):
                pass
        try:
            for inst in sem.instances([t]):
                e = inst.translate(t)
                if not proves_nonneg(e):
                    raise CheckFailed(
                        f"the certificate {t.text()} is not proved ≥ 0 ({sem.name}, "
                        f"{inst.label}): no rule shows {_short(e)} ≥ 0"
                    )
        except Unsupported:
            continue
        except Undefined as err:
            raise InvalidTerm(f"undefined term: {err}") from err
        if isinstance(sem, Gaussian):
            where.append(Badge(sem.describe([t]), Strength.GAUSSIAN))
        else:
            where.append(Badge(sem.describe([t]), Strength.FIXED_SIZES, Sizes.FIXED))
    if not where:
        raise CheckFailed(f"no semantics of this step can prove {t.text()} ≥ 0")
    return where


def _sizes_of(where: list[Badge]) -> Sizes:
    """FIXED if any part was proved at fixed sizes only, ANY if every finite part holds for
    every size, NONE without a finite family."""
    kinds = {b.sizes for b in where}
    if Sizes.FIXED in kinds:
        return Sizes.FIXED
    return Sizes.ANY if Sizes.ANY in kinds else Sizes.NONE


@dataclass(frozen=True)
class Gap(Certificate):
    """The larger side minus the smaller side equals ``gap``, which is proved non-negative inside
    each semantics (nothing is non-negative because of its name: a KL is first shown equal to
    E_a[t − 1 − log t], which needs b normalised; see :func:`lemma_form`)."""

    gap: Term

    def terms(self) -> tuple[Term, ...]:
        return (self.gap,)

    def check(
        self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]
    ) -> list[Badge]:
        form = lemma_form(self.gap)
        where = prove_nonneg(form, semantics)
        if form != self.gap:
            try:
                check_equal(self.gap, form, semantics)
            except CheckFailed as err:
                raise type(err)(
                    f"the certificate {self.gap.text()} is not {form.text()} (a KL is "
                    f"E_a[t − 1 − log t] only for a normalised b over the variables of a): {err}"
                ) from err
        larger, smaller = (prev, new) if rel == "≥" else (new, prev)
        try:
            badges = check_equal(larger - smaller, self.gap, semantics)
        except CheckFailed as err:
            raise type(err)(
                f"the difference is not the certificate {self.gap.text()}: {err}"
            ) from err
        reason = "; ".join(_lemmas(self.gap))
        text = f"✓ gap = {self.gap.text()} ≥ 0: {reason} (in {', '.join(where)})"
        return [Badge(text, Strength.GAP, _sizes_of(where)), *badges]


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


def _jensen_gaps(larger: Term, smaller: Term) -> list[Term]:
    """Candidate gaps E_q[LogGap(Y₂ / E_q[Y₁])] for a Jensen step: a log E_q[Y₁] somewhere in
    one side and an E_q[log Y₂] under the same q in the other (so that c + log E[Y] ≥
    c + E[log Y] and −log E[Y] ≤ −E[log Y] are covered); for two sums over the data index, the
    gaps of their bodies, summed."""
    if isinstance(larger, SumN) and isinstance(smaller, SumN):
        return [SumN(g) for g in _jensen_gaps(larger.body, smaller.body)]
    out: list[Term] = []
    for one, other in ((larger, smaller), (smaller, larger)):
        for t in walk(one):
            outer = _as_expectation(t.arg) if isinstance(t, Log) else None
            if outer is None:
                continue
            d1, y1 = outer
            for u in walk(other):
                inner = _as_expectation(u)
                if inner is not None and inner[0] == d1 and isinstance(inner[1], Log):
                    out.append(Expect(d1, LogGap(Div(inner[1].arg, Expect(d1, y1)))))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Jensen(Certificate):
    """Jensen's inequality for the concave log, log E_q[Y] ≥ E_q[log Y], as a proof: the
    difference of the two sides is shown equal to E_q[LogGap(Y / E_q[Y])] (which needs q
    normalised and the same Y on both sides, up to an identity) and that is proved ≥ 0 like a
    :class:`Gap`.  The two expectations may sit inside larger expressions (c + log E[Y],
    −log E[Y], a sum over n of such terms): only the identity with the gap matters."""

    def check(
        self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]
    ) -> list[Badge]:
        if rel not in ("≥", "≤"):
            raise CheckFailed("Jensen's inequality gives ≥ or ≤, not =")
        larger, smaller = (prev, new) if rel == "≥" else (new, prev)
        gaps = _jensen_gaps(larger, smaller)
        if not gaps:
            raise CheckFailed(
                "Jensen's shape: expected log E_q[Y] on one side and E_q[log Y] under the same q "
                "on the other"
            )
        failure: CheckFailed | None = None
        for gap in gaps:
            try:
                badges = check_equal(larger - smaller, gap, semantics)
            except CheckFailed as err:
                failure = err
                continue
            where = prove_nonneg(gap, semantics)
            text = (
                f"✓ Jensen: log E_q[Y] − E_q[log Y] = E_q[t − 1 − log t] ≥ 0, t = Y / E_q[Y] "
                f"({prove_log_bound()}; in {', '.join(where)})"
            )
            return [Badge(text, Strength.JENSEN, _sizes_of(where)), *badges]
        assert failure is not None
        raise type(failure)(
            f"Jensen: larger − smaller is not E_q[t − 1 − log t] with t = Y / E_q[Y] (q must be "
            f"normalised, Y the same on both sides, the rest equal): {failure}"
        ) from failure


@dataclass(frozen=True)
class Numeric(Certificate):
    """Evaluate the relation on random instances.  Not a proof: the badge says so."""

    trials: int = 20

    def check(
        self, prev: Term, rel: str, new: Term, semantics: tuple[Semantics, ...]
    ) -> list[Badge]:
        rng = random.Random(0)
        done = 0
        for sem in semantics:
            try:
                for inst in sem.instances([prev, new]):
                    ta = expand_loggap(inst.translate(prev))
                    tb = expand_loggap(inst.translate(new))
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
        return [Badge(f"numeric only ({done} random instances)", Strength.NUMERIC)]


def check_relation(
    prev: Term,
    rel: str,
    new: Term,
    certificate: Certificate | None,
    semantics: tuple[Semantics, ...],
) -> list[Badge]:
    """Check ``prev rel new``; return the badges or raise :class:`CheckFailed`."""
    if rel not in RELATIONS:
        raise CheckFailed(f"unknown relation {rel!r}; expected one of {RELATIONS}")
    try:
        for t in (prev, new, *(certificate.terms() if certificate else ())):
            check_wellformed(t)
    except Malformed as err:
        raise InvalidTerm(str(err)) from err
    if certificate is not None:
        if rel == "=" and not isinstance(certificate, Numeric):
            raise CheckFailed("an equality is checked directly; certificates are for ≥ and ≤")
        return certificate.check(prev, rel, new, semantics)
    if rel != "=":
        raise CheckFailed(
            f"an inequality ({rel}) needs a certificate: Gap(...), Jensen() or Numeric()"
        )
    return check_equal(prev, new, semantics)
