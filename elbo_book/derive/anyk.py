"""A proof for *every* finite support size K at once, with indexed sums.

The latent z ranges over {1..K} with K a symbol; prior ``π[k]``, likelihood ``ℓ[k]`` and encoder
``r[k]`` are indexed positive symbols, and expectations, integrals, KL and entropy become
``Sum(…, (k, 1, K))``.  A difference of two such expressions is rewritten with rules that hold for
every K ≥ 1:

* logarithms of products of positive factors are split into sums of logarithms;
* a sum of a sum is split (linearity) and factors that do not depend on the summation index are
  taken out;
* Σ_k π[k] = Σ_k r[k] = 1 (normalisation) and Σ_k 1 = K;
* the summation index is renamed canonically, so equal sums become the same object.

What remains is a rational function of the remaining sums and of logarithms of sums; it is
tested for zero like the fixed-size case (:mod:`elbo_book.derive.normal_form`), with every
remaining sum treated as an independent unknown.  A zero is a proof for every K; anything else is
*not* a disproof (the fixed sizes K = 2, 3, 4 are then checked instead).  The data index n is not
handled here.
"""

from __future__ import annotations

import sympy
from sympy.polys.fields import sfield

from elbo_book.derive.normal_form import LogAtoms
from elbo_book.derive.semantics import expand_loggap, proves_nonneg, translate_arithmetic
from elbo_book.derive.terms import (
    KL,
    Density,
    Entropy,
    Expect,
    Integral,
    Log,
    MutualInfo,
    Named,
    Term,
    Var,
)

__all__ = ["NotHandled", "proves_nonneg_any_k", "proves_zero"]

K = sympy.Symbol("K", integer=True, positive=True)
_PI = sympy.IndexedBase("pi", positive=True)
_LIK = sympy.IndexedBase("l", positive=True)
_ENC = sympy.IndexedBase("r", positive=True)
_QZ = sympy.IndexedBase("a", positive=True)  # a q(z) over z alone (no data index)
_CANON = sympy.Symbol("k", integer=True, positive=True)
_NORMALISED = (_PI, _ENC, _QZ)


class NotHandled(Exception):
    """The term is outside what the any-K prover handles (fall back to fixed sizes)."""


def _sum(f: sympy.Expr, j: sympy.Symbol) -> sympy.Expr:
    return sympy.Sum(f, (j, 1, K))


def _px() -> sympy.Expr:
    j = sympy.Dummy("j", integer=True, positive=True)
    return _sum(_PI[j] * _LIK[j], j)


class _Translator:
    def __init__(self) -> None:
        self.count = 0

    def fresh(self) -> sympy.Symbol:
        self.count += 1
        return sympy.Dummy(f"k{self.count}", integer=True, positive=True)

    def density(self, d: Density, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        vs, gs = frozenset(d.vars), frozenset(d.given)
        if {"n", "x_n", "z_n"} & (vs | gs):
            raise NotHandled("the data index")
        if "z" in vs | gs and "z" not in env:
            raise NotHandled("free z")
        k = env.get("z")
        table = {
            ("p", frozenset({"z"}), frozenset()): lambda: _PI[k],
            ("p", frozenset({"x"}), frozenset({"z"})): lambda: _LIK[k],
            ("p", frozenset({"x", "z"}), frozenset()): lambda: _PI[k] * _LIK[k],
            ("p", frozenset({"x"}), frozenset()): _px,
            ("p", frozenset({"z"}), frozenset({"x"})): lambda: _PI[k] * _LIK[k] / _px(),
            ("q", frozenset({"z"}), frozenset({"x"})): lambda: _ENC[k],
            ("q", frozenset({"z"}), frozenset()): lambda: _QZ[k],
        }
        key = (d.family, vs, gs)
        if key not in table:
            raise NotHandled(f"{d.text()}")
        return table[key]()

    def tr(self, t: Term, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        arithmetic = translate_arithmetic(t, lambda a: self.tr(a, env), _positive)
        if arithmetic is not None:
            return arithmetic
        if isinstance(t, Var):
            if t.name == "N":
                raise NotHandled("the data index")
            return t.sympy()
        if isinstance(t, Density):
            return self.density(t, env)
        if isinstance(t, Log):
            arg = self.tr(t.arg, env)
            if not _positive(arg):
                raise NotHandled("log of a quantity not known to be positive")
            return sympy.expand_log(sympy.log(arg), force=True)
        if isinstance(t, Expect):
            if frozenset(t.dist.vars) != {"z"}:
                raise NotHandled("expectation over variables other than z")
            j = self.fresh()
            e2 = {**env, "z": j}
            return _sum(self.density(t.dist, e2) * self.tr(t.body, e2), j)
        if isinstance(t, Integral):
            if t.var != "z":
                raise NotHandled("integral over a variable other than z")
            j = self.fresh()
            return _sum(self.tr(t.body, {**env, "z": j}), j)
        if isinstance(t, KL):
            if frozenset(t.a.vars) != frozenset(t.b.vars):
                raise NotHandled("KL over different variables")
            return self.tr(t.definition(), env)
        if isinstance(t, Entropy):
            return self.tr(t.definition(), env)
        if isinstance(t, Named):
            return self.tr(t.definition, env)
        if isinstance(t, MutualInfo):
            raise NotHandled("mutual information (needs the data index)")
        raise NotHandled(type(t).__name__)


def _positive(e: sympy.Expr) -> bool:
    if isinstance(e, sympy.Sum):
        return _positive(e.function)
    if isinstance(e, sympy.Indexed):
        return e.base in (_PI, _LIK, _ENC, _QZ)
    if e.is_Add or e.is_Mul:
        return all(_positive(a) for a in e.args)
    if e.is_Pow:
        return _positive(e.base) and e.exp.is_real is True
    return e.is_positive is True


def _canonical_sum(f: sympy.Expr, j: sympy.Symbol) -> sympy.Expr:
    """Σ_{j=1}^K f, rewritten by linearity, constant extraction and normalisation."""
    f = sympy.expand(f)
    out = sympy.Integer(0)
    for term in sympy.Add.make_args(f):
        const, dep = term.as_independent(j, as_Add=False)
        if dep == 1:
            out += const * K
            continue
        if dep.is_Indexed and dep.base in _NORMALISED and dep.indices == (j,):
            out += const
            continue
        if dep.has(sympy.Sum):
            # renaming j inside a dependent inner sum could capture its index: not handled
            raise NotHandled("a sum whose summand contains a dependent sum")
        out += const * sympy.Sum(dep.xreplace({j: _CANON}), (_CANON, 1, K))
    return out


def _normalise(e: sympy.Expr) -> sympy.Expr:
    """Rewrite every Sum bottom-up (inner sums first)."""
    if not e.has(sympy.Sum):
        return e
    if isinstance(e, sympy.Sum):
        # SymPy merges Sum(Sum(f, j), i) into one Sum with two limits, innermost first
        inner = _normalise(e.function)
        for j, lo, hi in e.limits:
            if lo != 1 or hi != K:
                raise NotHandled("a sum with other limits")
            if inner.has(sympy.log):
                inner = sympy.expand_log(inner, force=True)
            inner = _canonical_sum(inner, j)
        return inner
    return e.func(*[_normalise(a) for a in e.args])


def _linearise_outside_sums(atoms: LogAtoms, e: sympy.Expr) -> sympy.Expr:
    if isinstance(e, sympy.Sum) or not e.has(sympy.log):
        return e
    if isinstance(e, sympy.log):
        return atoms.log_of(e.args[0])
    return e.func(*[_linearise_outside_sums(atoms, a) for a in e.args])


def proves_zero(a: Term, b: Term) -> bool:
    """True iff ``a − b`` is proven zero for every support size K (raises NotHandled for terms
    outside the prover's language).  False means *not proven*, not *false*."""
    tr = _Translator()
    diff = expand_loggap(tr.tr(a, {}) - tr.tr(b, {}))
    normal = _normalise(sympy.expand_log(diff, force=True))
    atoms = LogAtoms()
    lin = _linearise_outside_sums(atoms, normal)
    _, frac = sfield(sympy.expand(lin))
    return frac == 0


def proves_nonneg_any_k(t: Term) -> bool:
    """True iff ``t`` ≥ 0 is proved for every support size K from its indexed-sum translation
    (:func:`~elbo_book.derive.semantics.proves_nonneg`; raises NotHandled outside the prover's
    language).  False means *not proven*."""
    return proves_nonneg(_Translator().tr(t, {}), _positive)
