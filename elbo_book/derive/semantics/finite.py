"""The finite semantics: every distribution on a support of K points (and N data points).

The latent z takes values 1..K; the data index n takes values 1..N.  Every probability is a free
positive symbol: prior ``π_k`` = p(z=k), likelihood ``ℓ_k`` = p(x | z=k), encoder ``r_k`` =
q(z=k | x); with the index, ``ℓ_{n,k}`` = p(x_n | z=k) and ``q_{n,k}`` = q(z=k | x_n).  Derived
quantities follow from the rules of probability: p(x, z=k) = π_k ℓ_k, p(x) = Σ_k π_k ℓ_k,
p(z=k | x) = π_k ℓ_k / p(x), q(n) = 1/N, q(n, z=k) = q_{n,k}/N, aggregate
q(z=k) = (1/N) Σ_n q_{n,k}, q(n | z=k) = q_{n,k} / Σ_m q_{m,k}.  Expectations, integrals (the
counting measure) and KL/H/I become finite sums.  Normalisation (Σ_k π_k = 1, Σ_k r_k = 1,
Σ_k q_{n,k} = 1) is imposed by substituting the last value of each distribution.  An identity
proven here holds for *every* distribution on K points, for the sizes checked.  It is the
workhorse of the engine (:class:`Finite`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sympy

from elbo_book.derive.semantics.translator import (
    _ALIASES,
    Instance,
    K,
    N,
    Semantics,
    Undefined,
    Unsupported,
    _canon,
    positive_log,
    sizes_text,
    translate_arithmetic,
    uses_index,
)
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
    "Finite",
]


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
        for k, n in shapes:
            model = _FiniteModel(k, n, self.zero_masses)
            label = f"K={k}" + (f", N={n}" if uses_index(terms) else "")
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
