"""Semantics: what a term *means*, as a SymPy expression, in a concrete family of models.

Two semantics are provided.

* :class:`Finite` — the workhorse.  The latent z takes values 1..K; the data index n takes values
  1..N.  Every probability is a free positive symbol: prior ``π_k`` = p(z=k), likelihood
  ``ℓ_k`` = p(x | z=k), encoder ``r_k`` = q(z=k | x); with the index, ``ℓ_{n,k}`` = p(x_n | z=k)
  and ``q_{n,k}`` = q(z=k | x_n).  Derived quantities follow from the rules of probability:
  p(x, z=k) = π_k ℓ_k, p(x) = Σ_k π_k ℓ_k, p(z=k | x) = π_k ℓ_k / p(x), q(n) = 1/N,
  q(n, z=k) = q_{n,k}/N, aggregate q(z=k) = (1/N) Σ_n q_{n,k}, q(n | z=k) = q_{n,k} / Σ_m q_{m,k}.
  Expectations, integrals (the counting measure) and KL/H/I become finite sums.  Normalisation
  (Σ_k π_k = 1, Σ_k r_k = 1, Σ_k q_{n,k} = 1) is imposed by substituting the last value of each
  distribution.  An identity proven here holds for *every* distribution on K points, for the
  sizes checked.

* :class:`Gaussian` — one-dimensional linear-Gaussian model: p(z) = N(μ_0, τ²),
  p(x | z) = N(w z + b, σ_x²), hence p(x) and p(z | x) in closed form, and q(z | x) = N(μ, σ²).
  An expectation over a Gaussian of a polynomial in z (log-densities of Gaussians are quadratics)
  is computed exactly from the Gaussian moments, which the library proves once by symbolic
  integration (derivations ``gaussian_moment_0`` … ``gaussian_moment_4`` in
  ``elbo_book.derive.library.foundations``; higher orders by the recursion
  :func:`prove_moment_recursion`).  With ``integrate=True`` expectations are instead
  computed by ``sympy.integrate`` (used to prove the moments themselves).

A semantics raises :class:`Unsupported` for a term it cannot interpret (e.g. an aggregate
posterior in the Gaussian model); the step is then simply not checked in that semantics.
:class:`Undefined` is raised for a term that has no meaning at all (``q(x | x)``).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sympy

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
    "Finite",
    "Gaussian",
    "Instance",
    "K",
    "LogGapF",
    "N",
    "Semantics",
    "Undefined",
    "Unsupported",
    "expand_loggap",
    "gaussian_moment",
    "moment_by_recursion",
    "positive_log",
    "prove_moment_recursion",
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


# =============================================================================================
# Finite support
# =============================================================================================
@dataclass
class _FiniteModel:
    K: int
    N: int
    zeros: tuple[str, ...] = ()
    pi: list[sympy.Expr] = field(init=False)
    lik: list[sympy.Expr] = field(init=False)
    enc: list[sympy.Expr] = field(init=False)
    lik_n: list[list[sympy.Expr]] = field(init=False)
    enc_n: list[list[sympy.Expr]] = field(init=False)

    def __post_init__(self) -> None:
        K, N = self.K, self.N
        pos = {"positive": True}
        self.pi = [sympy.Symbol(f"pi_{k}", **pos) for k in range(1, K + 1)]
        self.lik = [sympy.Symbol(f"l_{k}", **pos) for k in range(1, K + 1)]
        self.enc = [sympy.Symbol(f"r_{k}", **pos) for k in range(1, K + 1)]
        self.lik_n = [
            [sympy.Symbol(f"l_{m}{k}", **pos) for k in range(1, K + 1)] for m in range(1, N + 1)
        ]
        self.enc_n = [
            [sympy.Symbol(f"q_{m}{k}", **pos) for k in range(1, K + 1)] for m in range(1, N + 1)
        ]
        # a zero mass at the last point (any point, by symmetry): the prior's (so p(x, z) and
        # p(z | x) vanish there too) and/or the encoders'
        if "p" in self.zeros:
            self.pi[-1] = sympy.Integer(0)
        if "q" in self.zeros:
            self.enc[-1] = sympy.Integer(0)
            for row in self.enc_n:
                row[-1] = sympy.Integer(0)

    # ---- densities -----------------------------------------------------------------------
    def density(self, d: Density, env: dict[str, int]) -> sympy.Expr:
        vs, gs = _canon(d.vars), _canon(d.given)
        if vs & gs:
            raise Undefined(f"{d.text()}: a variable appears on both sides of '|'")
        needed = (vs | gs) - {"x"}
        for v in needed:
            if v in ("x_n",):
                if "n" not in env:
                    raise Undefined(f"{d.text()}: x_n used outside a sum or expectation over n")
            elif v not in env:
                raise Undefined(f"{d.text()}: the variable {v} is free (not bound by E, ∫ or Σ)")
        k = env.get("z", 0) - 1
        m = env.get("n", 0) - 1
        N = sympy.Integer(self.N)
        key = (d.family, vs, gs)
        pi, lik, enc = self.pi, self.lik, self.enc

        def px() -> sympy.Expr:
            return sympy.Add(*[pi[j] * lik[j] for j in range(self.K)])

        def pxn() -> sympy.Expr:
            return sympy.Add(*[pi[j] * self.lik_n[m][j] for j in range(self.K)])

        def qz_col() -> sympy.Expr:
            return sympy.Add(*[self.enc_n[i][k] for i in range(self.N)])

        table: dict[tuple[str, frozenset[str], frozenset[str]], Callable[[], sympy.Expr]] = {
            ("p", frozenset({"z"}), frozenset()): lambda: pi[k],
            ("p", frozenset({"x"}), frozenset({"z"})): lambda: lik[k],
            ("p", frozenset({"x", "z"}), frozenset()): lambda: pi[k] * lik[k],
            ("p", frozenset({"x"}), frozenset()): px,
            ("p", frozenset({"z"}), frozenset({"x"})): lambda: pi[k] * lik[k] / px(),
            ("p", frozenset({"x_n"}), frozenset({"z"})): lambda: self.lik_n[m][k],
            ("p", frozenset({"x_n", "z"}), frozenset()): lambda: pi[k] * self.lik_n[m][k],
            ("p", frozenset({"x_n"}), frozenset()): pxn,
            ("p", frozenset({"z"}), frozenset({"x_n"})): lambda: pi[k] * self.lik_n[m][k] / pxn(),
            ("p", frozenset({"n"}), frozenset()): lambda: 1 / N,
            ("q", frozenset({"z"}), frozenset({"x"})): lambda: enc[k],
            ("q", frozenset({"z"}), frozenset({"x_n"})): lambda: self.enc_n[m][k],
            ("q", frozenset({"z"}), frozenset({"n"})): lambda: self.enc_n[m][k],
            ("q", frozenset({"n"}), frozenset()): lambda: 1 / N,
            ("q", frozenset({"n", "z"}), frozenset()): lambda: self.enc_n[m][k] / N,
            ("q", frozenset({"z"}), frozenset()): lambda: qz_col() / N,
            ("q", frozenset({"n"}), frozenset({"z"})): lambda: self.enc_n[m][k] / qz_col(),
        }
        if key not in table:
            raise Undefined(f"{d.text()} has no meaning in the finite model")
        return table[key]()

    def values(self, var: str) -> range:
        if var == "z":
            return range(1, self.K + 1)
        if var == "n":
            return range(1, self.N + 1)
        raise Undefined(f"cannot sum or integrate over {var}")

    # ---- translation ------------------------------------------------------------------------
    def tr(self, t: Term, env: dict[str, int]) -> sympy.Expr:
        arithmetic = translate_arithmetic(t, lambda a: self.tr(a, env))
        if arithmetic is not None:
            return arithmetic
        if isinstance(t, Scalar):
            if t == K:
                return sympy.Integer(self.K)
            return sympy.Integer(self.N) if t == N else t.sympy()
        if isinstance(t, Density):
            return self.density(t, env)
        if isinstance(t, Log):
            return positive_log(t, self.tr(t.arg, env))
        if isinstance(t, Expect):
            bound = sorted(_canon(t.dist.vars))
            total = sympy.Integer(0)
            for vals in itertools.product(*[self.values(v) for v in bound]):
                e2 = {**env, **dict(zip(bound, vals, strict=True))}
                mass = self.density(t.dist, e2)
                if mass == 0:
                    continue  # an expectation sums over the support of its distribution only
                total += mass * self.tr(t.body, e2)
            return total
        if isinstance(t, Integral):
            var = _ALIASES.get(t.var, t.var)
            return sympy.Add(*[self.tr(t.body, {**env, var: v}) for v in self.values(var)])
        if isinstance(t, SumN):
            return sympy.Add(*[self.tr(t.body, {**env, "n": v}) for v in self.values("n")])
        if isinstance(t, KL):
            if _canon(t.a.vars) != _canon(t.b.vars):
                raise Undefined(f"{t.text()}: the two densities are over different variables")
            return self.tr(t.definition(), env)
        if isinstance(t, Entropy | MutualInfo):
            return self.tr(t.definition(), env)
        if isinstance(t, Named):
            return self.tr(t.definition(), env)
        if isinstance(t, Value):
            raise Unsupported("values of z are categorical in the finite model")
        raise Unsupported(f"the finite semantics has no rule for {type(t).__name__}")

    def normalisation(self) -> dict[sympy.Symbol, sympy.Expr]:
        sub: dict[sympy.Symbol, sympy.Expr] = {}
        for dist in [self.pi, self.enc, *self.enc_n]:
            masses = [m for m in dist if m != 0]
            sub[masses[-1]] = 1 - sympy.Add(*masses[:-1])
        return sub

    def sample(self, rnd: Callable[[], float]) -> dict[sympy.Symbol, float]:
        vals: dict[sympy.Symbol, float] = {}
        for dist in [self.pi, self.enc, *self.enc_n]:
            masses = [m for m in dist if m != 0]
            raw = [rnd() + 0.05 for _ in masses]
            tot = sum(raw)
            vals.update({s: r / tot for s, r in zip(masses, raw, strict=True)})
        for s in self.lik + [s for row in self.lik_n for s in row]:
            vals[s] = 0.05 + 2 * rnd()
        return vals


class Finite(Semantics):
    """Finite support: z ∈ {1..K} for each K in ``sizes``; n ∈ {1..N} for N in ``index_sizes``
    when the step mentions the data index."""

    name = "finite"

    def __init__(
        self,
        sizes: tuple[int, ...] = (2, 3, 4),
        index_sizes: tuple[int, ...] = (2, 3),
        zero_masses: tuple[str, ...] = (),
    ) -> None:
        if not sizes or min(sizes) < 2:
            raise ValueError(f"support sizes must be ≥ 2, got {sizes}")
        if not index_sizes or min(index_sizes) < 1:
            raise ValueError(f"index sizes must be ≥ 1, got {index_sizes}")
        if set(zero_masses) - {"p", "q"}:
            raise ValueError(f"zero_masses names 'p' (the prior) and/or 'q', got {zero_masses}")
        self.sizes = tuple(sizes)
        self.index_sizes = tuple(index_sizes)
        self.zero_masses = tuple(sorted(set(zero_masses)))

    def _shapes(self, terms: list[Term]) -> list[tuple[int, int]]:
        ns = self.index_sizes if uses_index(terms) else (1,)
        return [(K, N) for N in ns for K in self.sizes]

    def instances(self, terms: list[Term]) -> Iterator[Instance]:
        return self._instances(terms, self._shapes(terms))

    def probes(self, terms: list[Term]) -> Iterator[Instance]:
        """K = max + 1 with N = max + 3, and K = max + 3 with N = max + 1 (N = 1 without the
        index)."""
        k, m = max(self.sizes), max(self.index_sizes)
        shapes = [(k + 1, m + 3), (k + 3, m + 1)] if uses_index(terms) else [(k + 1, 1), (k + 3, 1)]
        return self._instances(terms, shapes)

    def _instances(self, terms: list[Term], shapes: list[tuple[int, int]]) -> Iterator[Instance]:
        for K, N in shapes:
            model = _FiniteModel(K, N, self.zero_masses)
            label = f"K={K}" + (f", N={N}" if uses_index(terms) else "")
            yield Instance(
                label,
                functools.partial(model.tr, env={}),
                model.normalisation(),
                model.sample,
            )

    def describe(self, terms: list[Term] | None = None) -> str:
        ks = sizes_text("K", self.sizes)
        if terms is None or uses_index(terms):
            ks += ", " + sizes_text("N", self.index_sizes)
        return f"finite support {ks}, normalised, {self._support_text()}"

    def _support_text(self) -> str:
        if not self.zero_masses:
            return "all masses > 0"
        names = {"p": "p(z) (so p(x, z), p(z|x))", "q": "q(z|x)"}
        zero = " and ".join(names[m] for m in self.zero_masses)
        return f"{zero} zero at one point, all other masses > 0"

    def describe_any_size(self, terms: list[Term] | None = None) -> str | None:
        """``any finite support K`` (``, any N`` when a term uses the data index); None with
        zero masses (the indexed-sum prover reads every mass as positive)."""
        if self.zero_masses:
            return None
        index = terms is None or uses_index(terms)
        return "any finite support K" + (", any N" if index else "")

    def covers(self, other: Semantics) -> bool:
        """A finite semantics covers another with no more sizes and the same zero masses."""
        return (
            isinstance(other, Finite)
            and other.zero_masses == self.zero_masses
            and (
                set(other.sizes) <= set(self.sizes)
                and set(other.index_sizes) <= set(self.index_sizes)
            )
        )


# =============================================================================================
# Gaussian family
# =============================================================================================
def gaussian_moment(j: int, mean: sympy.Expr, var: sympy.Expr) -> sympy.Expr:
    """E[z^j] for z ~ N(mean, var): Σ_{even i ≤ j} C(j, i) mean^{j-i} var^{i/2} (i-1)!!."""
    if j < 0:
        raise ValueError(f"moment order must be ≥ 0, got {j}")
    return sympy.Add(
        *[
            sympy.binomial(j, i) * mean ** (j - i) * var ** (i // 2) * sympy.factorial2(i - 1)
            for i in range(0, j + 1, 2)
        ]
    )


_Z, _M, _S = (
    sympy.Dummy("z", real=True),
    sympy.Dummy("m", real=True),
    sympy.Dummy("s", positive=True),
)


@functools.cache
def _integrated_moment(j: int) -> sympy.Expr:
    """∫ z^j N(z; m, s) dz by ``sympy.integrate``, for symbolic m (real) and s > 0 (a variance);
    substituting any real mean and positive variance afterwards is valid.  (Memoised within one
    process: it is a pure function of j.)"""
    pdf = sympy.exp(-((_Z - _M) ** 2) / (2 * _S)) / sympy.sqrt(2 * sympy.pi * _S)
    return sympy.integrate(_Z**j * pdf, (_Z, -sympy.oo, sympy.oo))


MAX_MOMENT = 4  # the moments proven by integration in the library (gaussian_moment_0 … _4)


@functools.cache
def prove_moment_recursion() -> str:
    """Prove E[z^{j+1}] = m E[z^j] + j s E[z^{j−1}] for z ~ N(m, s) and *every* integer j ≥ 1
    (j a symbol): the density satisfies d/dz N(z) = −(z − m)/s · N(z), and z^j N(z) → 0 at ±∞,
    so integrating by parts, E[(z − m) z^j] = −s ∫ z^j dN = s j E[z^{j−1}].  With the moments of
    order 0 and 1 proven by integration, this gives every moment (:func:`moment_by_recursion`).
    Raises :class:`Undefined` if SymPy does not confirm a step."""
    j = sympy.Symbol("j", integer=True, positive=True)
    pdf = sympy.exp(-((_Z - _M) ** 2) / (2 * _S)) / sympy.sqrt(2 * sympy.pi * _S)
    slope = sympy.simplify(sympy.diff(pdf, _Z) + (_Z - _M) / _S * pdf)
    ends = [sympy.limit(_Z**j * pdf, _Z, end) for end in (sympy.oo, -sympy.oo)]
    if slope != 0 or ends != [0, 0]:
        raise Undefined("the integration-by-parts proof of the moment recursion did not go through")
    return "E[z^{j+1}] = μ E[z^j] + j σ² E[z^{j−1}] (integration by parts, every j)"


def moment_by_recursion(j: int, mean: sympy.Expr, var: sympy.Expr) -> sympy.Expr:
    """E[z^j] for z ~ N(mean, var) from E[z^0] = 1, E[z^1] = mean and the recursion proven by
    :func:`prove_moment_recursion` (for any order j ≥ 0)."""
    if j < 0:
        raise ValueError(f"moment order must be ≥ 0, got {j}")
    prove_moment_recursion()
    low, high = sympy.Integer(1), mean
    if j == 0:
        return low
    for i in range(1, j):
        low, high = high, sympy.expand(mean * high + i * var * low)
    return high


# Parameters of the Gaussian model, as terms (so that chapters can write closed forms).
mu_p = Scalar("mu_p", r"\mu_0", positive=False)
sigma_p = Scalar("sigma_p", r"\sigma_0")
w = Scalar("w", "w", positive=False)
b = Scalar("b", "b", positive=False)
sigma_x = Scalar("sigma_x", r"\sigma_x")
mu_q = Scalar("mu_q", r"\mu", positive=False)
sigma_q = Scalar("sigma_q", r"\sigma")
_PARAMETERS = (mu_p, sigma_p, w, b, sigma_x, mu_q, sigma_q)
_SHOWN = {
    "mu_p": "μ₀",
    "sigma_p": "σ₀",
    "w": "w",
    "b": "b",
    "sigma_x": "σₓ",
    "mu_q": "μ",
    "sigma_q": "σ",
}


class Gaussian(Semantics):
    """The one-dimensional linear-Gaussian model (see module docstring).  ``fix`` pins
    parameters, e.g. ``{"mu_p": 0, "sigma_p": 1}`` for a standard normal prior."""

    name = "gaussian"

    def __init__(self, fix: dict[str, int] | None = None, integrate: bool = False) -> None:
        self.fix = dict(fix or {})
        known = {v.name for v in _PARAMETERS}
        bad = set(self.fix) - known
        if bad:
            raise ValueError(f"unknown Gaussian parameters {sorted(bad)}; known: {sorted(known)}")
        self.integrate = integrate
        self.z = sympy.Symbol("z", real=True)
        self.x = sympy.Symbol("x", real=True)

    def _par(self, v: Scalar) -> sympy.Expr:
        return sympy.Integer(self.fix[v.name]) if v.name in self.fix else v.sympy()

    def _gauss(self, d: Density) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """(variable, mean, variance) of a Gaussian density, or Unsupported."""
        m0, s0 = self._par(mu_p), self._par(sigma_p)
        ww, bb, sx = self._par(w), self._par(b), self._par(sigma_x)
        vs, gs = _canon(d.vars), _canon(d.given)
        post_var = 1 / (1 / s0**2 + ww**2 / sx**2)
        post_mean = post_var * (m0 / s0**2 + ww * (self.x - bb) / sx**2)
        table = {
            ("p", frozenset({"z"}), frozenset()): (self.z, m0, s0**2),
            ("p", frozenset({"x"}), frozenset({"z"})): (self.x, ww * self.z + bb, sx**2),
            ("p", frozenset({"x"}), frozenset()): (self.x, ww * m0 + bb, ww**2 * s0**2 + sx**2),
            ("p", frozenset({"z"}), frozenset({"x"})): (self.z, post_mean, post_var),
            ("q", frozenset({"z"}), frozenset({"x"})): (
                self.z,
                self._par(mu_q),
                self._par(sigma_q) ** 2,
            ),
        }
        key = (d.family, vs, gs)
        if key not in table:
            raise Unsupported(f"{d.text()} is not a Gaussian of the linear-Gaussian model")
        return table[key]

    def _pdf(self, d: Density) -> sympy.Expr:
        if _canon(d.vars) == frozenset({"x", "z"}) and d.family == "p" and not d.given:
            return self._pdf(Density("p", ("z",))) * self._pdf(Density("p", ("x",), ("z",)))
        v, mean, var = self._gauss(d)
        return sympy.exp(-((v - mean) ** 2) / (2 * var)) / sympy.sqrt(2 * sympy.pi * var)

    def _expect(self, d: Density, body: sympy.Expr) -> sympy.Expr:
        v, mean, var = self._gauss(d)
        if v != self.z:
            raise Unsupported("expectations are over z only")
        poly = sympy.expand(body)
        if not poly.is_polynomial(v):
            raise Unsupported("the integrand is not a polynomial in z (after expanding logs)")
        if self.integrate:
            return sympy.Add(
                *[
                    c * _integrated_moment(j).subs({_M: mean, _S: var})
                    for (j,), c in sympy.Poly(poly, v).terms()
                ]
            )
        P = sympy.Poly(poly, v)
        return sympy.Add(
            *[
                c
                * (
                    gaussian_moment(j, mean, var)
                    if j <= MAX_MOMENT
                    else moment_by_recursion(j, mean, var)
                )
                for (j,), c in P.terms()
            ]
        )

    def tr(self, t: Term) -> sympy.Expr:
        """The SymPy value of ``t`` in this family (fixed parameters substituted)."""
        if isinstance(t, LogGap):
            # written out: expectations are computed for polynomials in z only
            return self.tr(t.definition())
        arithmetic = translate_arithmetic(t, self.tr)
        if arithmetic is not None:
            return arithmetic
        if t == N:
            raise Unsupported("the Gaussian semantics has no data index")
        if t == K:
            raise Unsupported("the Gaussian semantics has no finite support size")
        if isinstance(t, Scalar):
            return self._par(t)
        if isinstance(t, Value):
            return {"z": self.z, "x": self.x}[t.name]
        if isinstance(t, Density):
            return self._pdf(t)
        if isinstance(t, Log):
            arg = self.tr(t.arg)
            if arg.is_positive is not True:
                raise Undefined(f"log of a quantity not known to be positive: log({t.arg.text()})")
            return sympy.expand_log(sympy.log(arg), force=True)
        if isinstance(t, Expect):
            return self._expect(t.dist, self.tr(t.body))
        if isinstance(t, Integral):
            dens = [f for f in (t.body.factors if isinstance(t.body, Mul) else (t.body,))]
            for i, f in enumerate(dens):
                if isinstance(f, Density) and _canon(f.vars) == {_ALIASES.get(t.var, t.var)}:
                    rest = dens[:i] + dens[i + 1 :]
                    body = self.tr(Mul(tuple(rest))) if rest else sympy.Integer(1)
                    return self._expect(f, body)
            raise Unsupported("an integral needs a Gaussian density factor over z")
        if isinstance(t, KL):
            return self.tr(t.definition())
        if isinstance(t, Entropy):
            return self.tr(t.definition())
        if isinstance(t, Named):
            return self.tr(t.definition())
        raise Unsupported(f"the Gaussian semantics has no rule for {type(t).__name__}")

    def instances(self, terms: list[Term]) -> Iterator[Instance]:
        def sample(rnd: Callable[[], float]) -> dict[sympy.Symbol, float]:
            out: dict[sympy.Symbol, float] = {self.x: 4 * rnd() - 2}
            for v in (mu_p, sigma_p, w, b, sigma_x, mu_q, sigma_q):
                s = v.sympy()
                out[s] = (0.3 + 2 * rnd()) if v.positive else (4 * rnd() - 2)
            return out

        label = "Gaussian (integration)" if self.integrate else "Gaussian"
        yield Instance(label, self.tr, {}, sample)

    def describe(self, terms: list[Term] | None = None) -> str:
        fixed = ", ".join(
            f"{_SHOWN[v.name]}={self.fix[v.name]}" for v in _PARAMETERS if v.name in self.fix
        )
        return (
            "Gaussian family" + (f", fixed {fixed}" if fixed else "") + (" (symbolic integration)")
        )

    def badge(self, terms: list[Term]) -> str:
        return f"✓ {self.describe(terms)}"

    def covers(self, other: Semantics) -> bool:
        """A Gaussian semantics covers one that fixes at least the same parameters alike."""
        return isinstance(other, Gaussian) and all(
            other.fix.get(k) == v for k, v in self.fix.items()
        )
