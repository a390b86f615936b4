"""Proofs for *every* size at once, with indexed sums.

The finite semantics (:class:`~elbo_book.derive.semantics.finite.Finite`) and the i.i.d.-draws
semantics (:class:`~elbo_book.derive.draws.IIDDraws`) are checked here for a *symbolic* support
size and a symbolic number of data points: the latent ranges over {1..K} (``S`` for the draws),
the data index over {1..N}, and the probabilities are indexed positive symbols — prior ``π[k]``,
likelihood ``ℓ[k]``, encoder ``r[k]``, a free distribution ``a[k]`` over z, and per data point
``L[n, k]`` = p(x_n | z = k), ``Q[n, k]`` = q(z = k | x_n).  Expectations, integrals, sums over n,
KL, entropy and mutual information become ``Sum(…, (k, 1, K))``, ``Sum(…, (n, 1, N))``.

A difference of two such expressions is brought to a canonical form by rules that hold for every
K ≥ 1 and N ≥ 1:

* **flattening**: products of sums are multiple sums over fresh indices (Σ_i a_i · Σ_j b_j =
  Σ_{i,j} a_i b_j), and sums of sums are multiple sums;
* **linearity**: a multiple sum of a sum of monomials is a sum of multiple sums; factors that do
  not depend on the summation indices are taken out;
* **marginalisation**: an index that occurs nowhere in a monomial contributes its range (Σ_k 1 =
  K); an index that occurs only once, in a normalised distribution at its normalised axis, is
  summed out (Σ_k π[k] = Σ_k r[k] = Σ_k Q[n, k] = 1);
* **symmetry**: a multiple sum is unchanged by a permutation of indices with the same range, so
  its body is replaced by the average of its images under all such permutations (this is what
  identifies E_q(z_1, z_3)[f(z_1, z_3)] with E_q(z_1, z_2)[f(z_1, z_2)], and what proves
  (1/3) Σ_j Σ_{z_1..z_3} q(z_1) q(z_2) q(z_3) w_j / ẑ = Σ q(z_1) q(z_2) q(z_3) when ẑ is the mean
  of the w_j);
* **logarithms**: the argument of every logarithm is first brought to canonical form and factored
  into irreducible polynomials (of the indexed symbols and of the canonical sums); log of a
  product is the sum of the logs of its factors (every argument is positive);
* the bound indices of every canonical sum are named by their range, slot and nesting level, so
  equal sums are the same object and no renaming captures an index.

What remains is a rational function of indexed symbols, canonical sums and logarithm atoms, each
treated as an independent unknown; it is tested for zero in the field of rational functions.  A
zero is a proof for every K and N (and every S); anything else is *not* a disproof (the caller
then checks fixed sizes).  Only the rules above are used: nothing is evaluated at a size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import sympy
from sympy.polys.fields import sfield

from elbo_book.derive.semantics import K as SIZE_K
from elbo_book.derive.semantics import (
    LogGapF,
    Undefined,
    expand_loggap,
    proves_nonneg,
    translate_arithmetic,
    uses_index,
)
from elbo_book.derive.semantics import N as SIZE_N
from elbo_book.derive.terms import (
    KL,
    Density,
    Entropy,
    Expect,
    Integral,
    Log,
    MutualInfo,
    Named,
    Scalar,
    SumN,
    Term,
    Value,
)

__all__ = [
    "NoIndexedSumForm",
    "SizeModel",
    "draws_model",
    "finite_model",
    "free_index",
    "proves_identity_every_size",
    "proves_nonneg_every_size",
]

K = sympy.Symbol("K", integer=True, positive=True)
"""The latent support size of the finite semantics."""
NDATA = sympy.Symbol("N", integer=True, positive=True)
"""The number of data points."""
S = sympy.Symbol("S", integer=True, positive=True)
"""The support size of the i.i.d.-draws semantics."""

_PI = sympy.IndexedBase("pi", positive=True)
_LIK = sympy.IndexedBase("l", positive=True)
_ENC = sympy.IndexedBase("r", positive=True)
_QZ = sympy.IndexedBase("a", positive=True)  # a q(z) over z alone (no data index)
_LN = sympy.IndexedBase("L", positive=True)  # p(x_n | z = k)
_QN = sympy.IndexedBase("Q", positive=True)  # q(z = k | x_n)
_BASES = (_PI, _LIK, _ENC, _QZ, _LN, _QN)


class NoIndexedSumForm(Exception):
    """The term has no translation into indexed sums (a Gaussian value, mutual information in
    the i.i.d.-draws model, …): the prover does not apply, and the caller checks fixed sizes."""


@dataclass(frozen=True)
class SizeModel:
    """Which semantics is read with symbolic sizes: ``kind`` is ``"finite"`` or ``"draws"``;
    ``normalised`` maps each distribution that sums to one to the axis it sums over."""

    kind: str
    normalised: tuple[tuple[sympy.IndexedBase, int], ...]

    def axis(self, base: sympy.Basic) -> int | None:
        """The normalised axis of ``base``, or None when it is not a normalised distribution."""
        return dict(self.normalised).get(base)


def finite_model() -> SizeModel:
    """The finite semantics: π, r, a and every Q[n, ·] are normalised."""
    return SizeModel("finite", ((_PI, 0), (_ENC, 0), (_QZ, 0), (_QN, 1)))


def draws_model(normalised: bool = True) -> SizeModel:
    """The i.i.d.-draws semantics: r normalised (unless ``normalised=False``); the prior free."""
    return SizeModel("draws", ((_ENC, 0),) if normalised else ())


def _positive(e: sympy.Expr) -> bool:
    if isinstance(e, sympy.Sum):
        return _positive(e.function)
    if isinstance(e, sympy.Indexed):
        return e.base in _BASES
    if e.is_Add or e.is_Mul:
        return all(_positive(a) for a in e.args)
    if e.is_Pow:
        return _positive(e.base) and e.exp.is_real is True
    return e.is_positive is True


def _sign_normal(f: sympy.Expr) -> sympy.Expr:
    """±f, whichever has a positive coefficient on its first term (log|f| = log|−f|)."""
    f = sympy.expand(f)
    first = min(sympy.Add.make_args(f), key=sympy.default_sort_key)
    return f if first.as_coeff_Mul()[0] > 0 else sympy.expand(-f)


def _idx(name: str) -> sympy.Symbol:
    return sympy.Dummy(name, integer=True, positive=True)


def _latent_draw(v: str) -> bool:
    return v == "z" or (v.startswith("z_") and v[2:].isdigit())


# ---------------------------------------------------------------------------------------------
# Translation with symbolic sizes
# ---------------------------------------------------------------------------------------------
class _Translator:
    """Terms to SymPy expressions with ``Sum`` nodes, in one :class:`SizeModel`."""

    def __init__(self, model: SizeModel, terms: list[Term]) -> None:
        self.model = model
        self.index = model.kind == "finite" and uses_index(terms)

    # ---- finite semantics -------------------------------------------------------------------
    def _finite_density(self, d: Density, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        alias = {"z_n": "z"}
        vs = frozenset(alias.get(v, v) for v in d.vars)
        gs = frozenset(alias.get(v, v) for v in d.given)
        for v in vs | gs:
            bound = "n" if v == "x_n" else v
            if bound in ("z", "n") and bound not in env:
                raise Undefined(f"{d.text()}: the variable {bound} is free (not bound by E or ∫)")
        k, m = env.get("z"), env.get("n")

        def px() -> sympy.Expr:
            j = _idx("j")
            return sympy.Sum(_PI[j] * _LIK[j], (j, 1, K))

        def pxn() -> sympy.Expr:
            j = _idx("j")
            return sympy.Sum(_PI[j] * _LN[m, j], (j, 1, K))

        def column() -> sympy.Expr:
            i = _idx("i")
            return sympy.Sum(_QN[i, k], (i, 1, NDATA))

        def qz() -> sympy.Expr:
            return column() / NDATA if self.index else _QZ[k]

        table: dict[tuple[str, frozenset[str], frozenset[str]], Callable[[], sympy.Expr]] = {
            ("p", frozenset({"z"}), frozenset()): lambda: _PI[k],
            ("p", frozenset({"x"}), frozenset({"z"})): lambda: _LIK[k],
            ("p", frozenset({"x", "z"}), frozenset()): lambda: _PI[k] * _LIK[k],
            ("p", frozenset({"x"}), frozenset()): px,
            ("p", frozenset({"z"}), frozenset({"x"})): lambda: _PI[k] * _LIK[k] / px(),
            ("p", frozenset({"x_n"}), frozenset({"z"})): lambda: _LN[m, k],
            ("p", frozenset({"x_n", "z"}), frozenset()): lambda: _PI[k] * _LN[m, k],
            ("p", frozenset({"x_n"}), frozenset()): pxn,
            ("p", frozenset({"z"}), frozenset({"x_n"})): lambda: _PI[k] * _LN[m, k] / pxn(),
            ("p", frozenset({"n"}), frozenset()): lambda: 1 / NDATA,
            ("q", frozenset({"z"}), frozenset({"x"})): lambda: _ENC[k],
            ("q", frozenset({"z"}), frozenset({"x_n"})): lambda: _QN[m, k],
            ("q", frozenset({"z"}), frozenset({"n"})): lambda: _QN[m, k],
            ("q", frozenset({"n"}), frozenset()): lambda: 1 / NDATA,
            ("q", frozenset({"n", "z"}), frozenset()): lambda: _QN[m, k] / NDATA,
            ("q", frozenset({"z"}), frozenset()): qz,
            ("q", frozenset({"n"}), frozenset({"z"})): lambda: _QN[m, k] / column(),
        }
        key = (d.family, vs, gs)
        if key not in table:
            raise Undefined(f"{d.text()} has no meaning in the finite model")
        return table[key]()

    def _finite_range(self, v: str) -> sympy.Symbol:
        v = {"z_n": "z"}.get(v, v)
        if v == "z":
            return K
        if v == "n":
            return NDATA
        raise Undefined(f"cannot sum or integrate over {v}")

    # ---- i.i.d. draws -----------------------------------------------------------------------
    def _draws_density(self, d: Density, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        latents = [v for v in d.vars if _latent_draw(v)]
        given_latents = [v for v in d.given if _latent_draw(v)]
        others = (set(d.vars) - set(latents)) | (set(d.given) - set(given_latents))
        if others - {"x"} or set(d.vars) & set(d.given):
            raise NoIndexedSumForm(f"{d.text()} is not a density of the i.i.d.-draws model")
        for v in latents + given_latents:
            if v not in env:
                raise Undefined(f"{d.text()}: the variable {v} is free (not bound by E or ∫)")
        has_x, x_given = "x" in d.vars, "x" in d.given

        def px() -> sympy.Expr:
            j = _idx("j")
            return sympy.Sum(_PI[j] * _LIK[j], (j, 1, S))

        if d.family == "q":
            if not x_given or has_x or given_latents or not latents:
                raise Undefined(f"{d.text()} has no meaning: q is the encoder q(z_1, … | x)")
            return sympy.Mul(*[_ENC[env[v]] for v in latents])
        if len(latents) + len(given_latents) > 1:
            raise NoIndexedSumForm(f"{d.text()}: the model p involves one latent at a time")
        if not latents and not given_latents:
            if has_x and not d.given:
                return px()
            raise Undefined(f"{d.text()} has no meaning in the model")
        s = env[(latents + given_latents)[0]]
        if latents and not d.given:
            return _PI[s] * _LIK[s] if has_x else _PI[s]
        if given_latents and has_x and len(d.vars) == 1:
            return _LIK[s]
        if latents and x_given and len(d.vars) == 1:
            return _PI[s] * _LIK[s] / px()
        raise Undefined(f"{d.text()} has no meaning in the model")

    def _draws_range(self, v: str) -> sympy.Symbol:
        if not _latent_draw(v):
            raise NoIndexedSumForm(f"the i.i.d.-draws model sums over latents only, not {v}")
        return S

    # ---- shared -----------------------------------------------------------------------------
    def density(self, d: Density, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        if self.model.kind == "finite":
            return self._finite_density(d, env)
        return self._draws_density(d, env)

    def var_range(self, v: str) -> sympy.Symbol:
        return self._finite_range(v) if self.model.kind == "finite" else self._draws_range(v)

    def _binder(self, v: str) -> str:
        return {"z_n": "z"}.get(v, v) if self.model.kind == "finite" else v

    def tr(self, t: Term, env: dict[str, sympy.Symbol]) -> sympy.Expr:
        arithmetic = translate_arithmetic(t, lambda a: self.tr(a, env), _positive)
        if arithmetic is not None:
            return arithmetic
        if t == SIZE_K:
            return K if self.model.kind == "finite" else S
        if isinstance(t, Scalar):
            if t.name == "N":
                if self.model.kind != "finite" or t != SIZE_N:
                    raise NoIndexedSumForm("the data index N of this model")
                return NDATA
            return t.sympy()
        if isinstance(t, Density):
            return self.density(t, env)
        if isinstance(t, Log):
            arg = self.tr(t.arg, env)
            if not _positive(arg):
                raise Undefined(f"log of a quantity not known to be positive: log({t.arg.text()})")
            return sympy.log(arg)
        if isinstance(t, Expect):
            names = [self._binder(v) for v in t.dist.vars]
            idx = {v: _idx(v) for v in names}
            e2 = {**env, **idx}
            body = self.density(t.dist, e2) * self.tr(t.body, e2)
            return sympy.Sum(body, *[(idx[v], 1, self.var_range(v)) for v in names])
        if isinstance(t, Integral):
            v = self._binder(t.var)
            j = _idx(v)
            return sympy.Sum(self.tr(t.body, {**env, v: j}), (j, 1, self.var_range(v)))
        if isinstance(t, SumN):
            if self.model.kind != "finite":
                raise NoIndexedSumForm("the i.i.d.-draws model has no data index")
            j = _idx("n")
            return sympy.Sum(self.tr(t.body, {**env, "n": j}), (j, 1, NDATA))
        if isinstance(t, KL):
            if {self._binder(v) for v in t.a.vars} != {self._binder(v) for v in t.b.vars}:
                raise Undefined(f"{t.text()}: the two densities are over different variables")
            return self.tr(t.definition(), env)
        if isinstance(t, Entropy):
            return self.tr(t.definition(), env)
        if isinstance(t, MutualInfo):
            if self.model.kind != "finite":
                raise NoIndexedSumForm("mutual information in the i.i.d.-draws model")
            return self.tr(t.definition(), env)
        if isinstance(t, Named):
            return self.tr(t.definition(), env)
        if isinstance(t, Value):
            raise NoIndexedSumForm("values of z are categorical in the finite model")
        raise NoIndexedSumForm(type(t).__name__)


# ---------------------------------------------------------------------------------------------
# Canonical form of expressions with indexed sums
# ---------------------------------------------------------------------------------------------
_Limits = tuple[tuple[sympy.Symbol, sympy.Symbol], ...]  # (index, range)


class _Canon:
    """The canonical form described in the module docstring, for one :class:`SizeModel`."""

    def __init__(self, model: SizeModel) -> None:
        self.model = model
        self.levels: dict[sympy.Symbol, int] = {}
        self.memo: dict[sympy.Expr, sympy.Expr] = {}

    # ---- flattening -------------------------------------------------------------------------
    def flat(self, e: sympy.Expr) -> list[tuple[_Limits, sympy.Expr]]:
        """``e`` as Σ_i Σ_{limits_i} monomial_i (monomials: products of atoms)."""
        if e.is_Add:
            return [t for a in e.args for t in self.flat(a)]
        if e.is_Mul:
            out: list[tuple[_Limits, sympy.Expr]] = [((), sympy.Integer(1))]
            for f in e.args:
                out = [(l1 + l2, m1 * m2) for l1, m1 in out for l2, m2 in self.flat(f)]
            return out
        if isinstance(e, sympy.Sum):
            lims: list[tuple[sympy.Symbol, sympy.Symbol]] = []
            ren: dict[sympy.Symbol, sympy.Symbol] = {}
            for v, lo, hi in e.limits:
                if lo != 1 or hi not in (K, NDATA, S):
                    raise NoIndexedSumForm("a sum with other limits")
                fresh = _idx("i")
                ren[v] = fresh
                lims.append((fresh, hi))
            body = e.function.xreplace(ren)
            return [(tuple(lims) + lb, m) for lb, m in self.flat(body)]
        if e.is_Pow:
            base, exp = e.args
            if exp.is_Integer and exp > 0 and base.has(sympy.Sum, sympy.Add):
                return self.flat(sympy.Mul(*([base] * int(exp)), evaluate=False))
            return self.power_terms(base, exp)
        if isinstance(e, sympy.log):
            split = sympy.expand_log(e, force=True)  # every log argument is positive
            if split != e:
                return self.flat(split)
            logs = self.log_linear(self.canon(e.args[0]))
            return [((), t) for t in sympy.Add.make_args(logs)]
        if isinstance(e, LogGapF):
            return self.flat(expand_loggap(e))
        if e.is_Atom or isinstance(e, sympy.Indexed):
            return [((), e)]
        raise NoIndexedSumForm(f"no canonical form for {e.func}")

    def power_terms(self, base: sympy.Expr, exp: sympy.Expr) -> list[tuple[_Limits, sympy.Expr]]:
        """base**exp (exp not a positive integer) with the base in canonical, factored form:
        the factors with a positive power are flattened, the others kept as atoms."""
        if not base.has(sympy.Sum, sympy.Add, sympy.log):
            return [((), base**exp)]
        cb = self.canon(base)
        if not exp.is_Integer:
            return [((), cb**exp)]
        num, den = sympy.fraction(sympy.together(cb))
        pos, neg = sympy.Integer(1), sympy.Integer(1)
        for poly, sign in ((num, 1), (den, -1)):
            coeff, factors = sympy.factor_list(sympy.expand(poly))
            neg *= coeff ** (sign * exp)
            for f, m in factors:
                k = sign * m * exp
                if k > 0:
                    pos *= f**k
                else:
                    neg *= f**k
        if pos == 1:
            return [((), neg)]
        return [(lims, m * neg) for lims, m in self.flat(sympy.expand(pos))]

    def log_linear(self, arg: sympy.Expr) -> sympy.Expr:
        """log(arg) for a positive canonical ``arg``: Σ e_i log|f_i| over its irreducible
        factors (rational constants split into primes)."""
        num, den = sympy.fraction(sympy.together(arg))
        out = sympy.Integer(0)
        for poly, sign in ((num, 1), (den, -1)):
            coeff, factors = sympy.factor_list(sympy.expand(poly))
            coeff = abs(coeff)
            if coeff.is_Rational:
                for prime, e in sympy.factorint(coeff.p).items():
                    out += sign * e * sympy.log(sympy.Integer(prime))
                for prime, e in sympy.factorint(coeff.q).items():
                    out -= sign * e * sympy.log(sympy.Integer(prime))
            else:
                out += sign * sympy.log(coeff)
            for f, m in factors:
                out += sign * m * sympy.log(_sign_normal(f), evaluate=False)
        return out

    # ---- reduction and canonical sums ---------------------------------------------------------
    def reduce(self, lims: _Limits, m: sympy.Expr, fold: bool = True) -> tuple[_Limits, sympy.Expr]:
        """Marginalisation: drop indices that occur nowhere (× range) or only in one normalised
        distribution at its normalised axis (Σ = 1); with ``fold`` (and at least two indices),
        an index v that occurs only in one other indexed factor f, or only in factors without
        any other index of the sum, is summed into the canonical sum Σ_v f (so that, e.g.,
        Σ_m Q[m, k] and Σ_j π[j] ℓ[j] meet their reciprocals)."""
        lims = tuple(lims)
        changed = True
        while changed:
            changed = False
            powers = m.as_powers_dict()
            for v, rng in lims:
                occ = [b for b in powers if v in b.free_symbols]
                rest = tuple(lim for lim in lims if lim[0] != v)
                if not occ:
                    m, lims, changed = m * rng, rest, True
                    break
                if len(occ) == 1 and powers[occ[0]] == 1 and isinstance(occ[0], sympy.Indexed):
                    f = occ[0]
                    ax = self.model.axis(f.base)
                    others = [i for j, i in enumerate(f.indices) if j != ax]
                    if (
                        ax is not None
                        and f.indices[ax] == v
                        and not any(v in i.free_symbols for i in others)
                    ):
                        m, lims, changed = m / f, rest, True
                        break
            if changed or not fold or len(lims) < 2:
                continue
            bound = {u for u, _ in lims}
            for v, rng in lims:
                occ = [b for b in powers if v in b.free_symbols]
                single = len(occ) == 1 and powers[occ[0]] == 1 and isinstance(occ[0], sympy.Indexed)
                alone = all(b.free_symbols & bound == {v} for b in occ)
                if single or alone:
                    f = sympy.Mul(*[b ** powers[b] for b in occ])
                    rest = tuple(lim for lim in lims if lim[0] != v)
                    m, lims, changed = m / f * self.sum_atom(((v, rng),), f), rest, True
                    break
        return lims, m

    def term(self, lims: _Limits, m: sympy.Expr) -> sympy.Expr:
        """The canonical value of Σ_lims m for a monomial m."""
        lims, m = self.reduce(lims, m)
        if not lims:
            return m
        bound = {v for v, _ in lims}
        ind, dep = sympy.Integer(1), sympy.Integer(1)
        for f in sympy.Mul.make_args(m):
            if f.free_symbols & bound:
                dep *= f
            else:
                ind *= f
        return ind * self.sum_atom(lims, dep)

    def _level(self, e: sympy.Expr) -> int:
        return max(
            (self.levels.get(s.limits[0][0], 0) for s in e.atoms(sympy.Sum)),
            default=0,
        )

    def sum_atom(self, lims: _Limits, dep: sympy.Expr) -> sympy.Expr:
        """Σ_lims dep with canonical index names and a symmetrised, normalised body."""
        level = 1 + self._level(dep)
        std: dict[sympy.Symbol, sympy.Symbol] = {}
        by_range: dict[sympy.Symbol, list[sympy.Symbol]] = {}
        for v, rng in sorted(lims, key=lambda lim: str(lim[1])):
            slot = len(by_range.setdefault(rng, []))
            s = sympy.Symbol(f"{rng}{level}_{slot}", integer=True, positive=True)
            self.levels[s] = level
            by_range[rng].append(s)
            std[v] = s
        body = dep.xreplace(std)
        groups = list(by_range.values())
        images = []
        for perms in itertools.product(*[itertools.permutations(g) for g in groups]):
            mapping = {
                a: b
                for g, pg in zip(groups, perms, strict=True)
                for a, b in zip(g, pg, strict=True)
            }
            images.append(body.xreplace(mapping))
        sym = self.normal(sympy.Add(*images) / len(images))
        new_lims = tuple((s, rng) for rng, g in by_range.items() for s in g)
        num, _ = sympy.fraction(sym)
        if not sympy.expand(num).is_Add:
            l2, m2 = self.reduce(new_lims, sym)
            bound = {v for v, _ in new_lims}
            loose = any(not (f.free_symbols & bound) for f in sympy.Mul.make_args(sym))
            if len(l2) < len(new_lims) or (loose and sym != 1):
                return self.term(l2, m2)
        if sym == 0:
            return sympy.Integer(0)
        return sympy.Sum(sym, *[(s, 1, rng) for s, rng in new_lims])

    # ---- assembly ---------------------------------------------------------------------------
    def normal(self, e: sympy.Expr) -> sympy.Expr:
        """The normal form of ``e`` in the field of rational functions of its atoms."""
        e = sympy.expand(e)
        if e.is_Atom:
            return e
        _, frac = sfield(e)
        return sympy.Mul(
            sympy.expand(frac.numer.as_expr()), sympy.Pow(sympy.expand(frac.denom.as_expr()), -1)
        )

    def canon(self, e: sympy.Expr) -> sympy.Expr:
        """The canonical form of ``e``."""
        if e not in self.memo:
            total = sympy.Add(*[self.term(lims, m) for lims, m in self.flat(e)])
            self.memo[e] = self.normal(total)
        return self.memo[e]


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------
def free_index() -> sympy.Symbol:
    """A free point k of the latent's support (for identities at every z)."""
    return _idx("k")


def proves_identity_every_size(
    model: SizeModel, a: Term, b: Term, env: dict[str, sympy.Symbol] | None = None
) -> bool:
    """True iff ``a − b`` is proven zero for every size in ``model`` (and every value of the
    free indices in ``env``, e.g. ``{"z": free_index()}``; raises NoIndexedSumForm for terms outside
    the prover's language).  False means *not proven*, not *false*."""
    tr = _Translator(model, [a, b])
    env = env or {}
    diff = expand_loggap(tr.tr(a, env) - tr.tr(b, env))
    return _Canon(model).canon(diff) == 0


def proves_nonneg_every_size(model: SizeModel, t: Term) -> bool:
    """True iff ``t`` ≥ 0 is proved for every size in ``model`` from its indexed-sum translation
    (:func:`~elbo_book.derive.semantics.translator.proves_nonneg`; raises NoIndexedSumForm
    outside the prover's language).  False means *not proven*."""
    return proves_nonneg(_Translator(model, [t]).tr(t, {}), _positive)
