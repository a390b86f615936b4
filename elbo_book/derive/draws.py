"""The i.i.d.-draws semantics: several independent draws z_1, z_2, … of q(z|x) on a finite support.

z and every z_j range over a finite support of size S with symbolic prior π_s, likelihood ℓ_s and
encoder r_s (Σ_s r_s = 1 substituted unless ``normalised=False``; the prior is left free), and the
joint q(z_1, …, z_K | x) is the product Π_j r_{z_j}.  A proven identity therefore holds for every
such distribution on S points, for the S checked (the badge states them), and K as written.
Chapter 6 (the importance-weighted bound) is checked in it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator

import sympy

from elbo_book.derive.semantics import (
    Instance,
    K,
    N,
    Semantics,
    Undefined,
    Unsupported,
    positive_log,
    sizes_text,
    translate_arithmetic,
)
from elbo_book.derive.terms import (
    KL,
    Density,
    Entropy,
    Expect,
    Integral,
    Log,
    Named,
    Scalar,
    Term,
    walk,
)

__all__ = ["IIDDraws"]


def _latent_names(names: tuple[str, ...]) -> list[str]:
    """The latent variables among ``names``: ``z`` or ``z_j`` (j a positive integer)."""
    return [v for v in names if v == "z" or (v.startswith("z_") and v[2:].isdigit())]


class _DrawsModel:
    """One instance: support {1..S}, symbols π_s, ℓ_s, r_s, any number of draws of z."""

    def __init__(self, size: int) -> None:
        pos = {"positive": True}
        self.size = size
        self.pi = [sympy.Symbol(f"pi_{s}", **pos) for s in range(1, size + 1)]
        self.lik = [sympy.Symbol(f"l_{s}", **pos) for s in range(1, size + 1)]
        self.enc = [sympy.Symbol(f"r_{s}", **pos) for s in range(1, size + 1)]

    def evidence(self) -> sympy.Expr:
        return sympy.Add(*[a * b for a, b in zip(self.pi, self.lik, strict=True)])

    def density(self, d: Density, env: dict[str, int]) -> sympy.Expr:
        latents = _latent_names(d.vars)
        given_latents = _latent_names(d.given)
        others = (set(d.vars) - set(latents)) | (set(d.given) - set(given_latents))
        if others - {"x"} or set(d.vars) & set(d.given):
            raise Unsupported(f"{d.text()} is not a density of the i.i.d.-draws model")
        for v in latents + given_latents:
            if v not in env:
                raise Undefined(f"{d.text()}: the variable {v} is free (not bound by E or ∫)")
        has_x = "x" in d.vars
        x_given = "x" in d.given
        if d.family == "q":
            if not x_given or has_x or given_latents or not latents:
                raise Undefined(f"{d.text()} has no meaning: q is the encoder q(z_1, … | x)")
            return sympy.Mul(*[self.enc[env[v] - 1] for v in latents])
        if len(latents) + len(given_latents) > 1:
            raise Unsupported(f"{d.text()}: the model p involves one latent at a time")
        if not latents and not given_latents:
            if has_x and not d.given:
                return self.evidence()  # p(x)
            raise Undefined(f"{d.text()} has no meaning in the model")
        s = env[(latents + given_latents)[0]] - 1
        prior, lik = self.pi[s], self.lik[s]
        if latents and not d.given:
            return prior * lik if has_x else prior  # p(x, z_j) or p(z_j)
        if given_latents and has_x and len(d.vars) == 1:
            return lik  # p(x | z_j)
        if latents and x_given and len(d.vars) == 1:
            return prior * lik / self.evidence()  # p(z_j | x)
        raise Undefined(f"{d.text()} has no meaning in the model")

    def tr(self, t: Term, env: dict[str, int]) -> sympy.Expr:
        arithmetic = translate_arithmetic(t, lambda a: self.tr(a, env))
        if arithmetic is not None:
            return arithmetic
        if t == K:
            return sympy.Integer(self.size)
        if t == N:
            raise Unsupported("the i.i.d.-draws model has no data index")
        if isinstance(t, Scalar):
            return t.sympy()
        if isinstance(t, Density):
            return self.density(t, env)
        if isinstance(t, Log):
            return positive_log(t, self.tr(t.arg, env))
        if isinstance(t, Expect):
            bound = _latent_names(t.dist.vars)
            if len(bound) != len(t.dist.vars):
                raise Unsupported("expectations in the i.i.d.-draws model are over latents only")
            total = sympy.Integer(0)
            support = range(1, self.size + 1)
            for vals in itertools.product(support, repeat=len(bound)):
                inner = {**env, **dict(zip(bound, vals, strict=True))}
                total += self.density(t.dist, inner) * self.tr(t.body, inner)
            return total
        if isinstance(t, Integral):
            if not _latent_names((t.var,)):
                raise Unsupported(f"cannot integrate over {t.var} in the i.i.d.-draws model")
            support = range(1, self.size + 1)
            return sympy.Add(*[self.tr(t.body, {**env, t.var: v}) for v in support])
        if isinstance(t, KL | Entropy):
            return self.tr(t.definition(), env)
        if isinstance(t, Named):
            return self.tr(t.definition(), env)
        raise Unsupported(f"the i.i.d.-draws semantics has no rule for {type(t).__name__}")

    def normalisation(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Σ_s r_s = 1, by substituting the last r.  The prior is left free: no identity here
        needs Σ_s π_s = 1, and proving one for every positive π is the stronger statement."""
        return {self.enc[-1]: 1 - sympy.Add(*self.enc[:-1])}

    def sample(self, rnd: Callable[[], float]) -> dict[sympy.Symbol, float]:
        vals: dict[sympy.Symbol, float] = {}
        for dist in (self.pi, self.enc):
            raw = [rnd() + 0.05 for _ in dist]
            vals.update({s: r / sum(raw) for s, r in zip(dist, raw, strict=True)})
        vals.update({s: 0.05 + 2 * rnd() for s in self.lik})
        return vals


class IIDDraws(Semantics):
    """Finite support {1..S} for each S in ``sizes``; z_1, z_2, … are i.i.d. draws of q(z|x).

    p(z = s) = π_s, p(x | z = s) = ℓ_s, q(z = s | x) = r_s (all symbolic and positive; Σ_s r_s = 1
    is imposed, Σ_s π_s = 1 is not needed and left free); q(z_1, …, z_K | x) = Π_j r_{z_j};
    p(x) = Σ_s π_s ℓ_s.  Every z_j ranges over the support.  With ``normalised=False`` not even
    Σ_s r_s = 1 is imposed: an identity proven so holds for all positive π, ℓ, r, a stronger
    statement (and a much cheaper check) for steps that do not need it, such as a pointwise
    inequality under an expectation.
    """

    name = "iid-draws"

    def __init__(self, sizes: tuple[int, ...] = (2, 3), *, normalised: bool = True) -> None:
        if not sizes or min(sizes) < 2:
            raise ValueError(f"support sizes must be ≥ 2, got {sizes}")
        self.sizes = tuple(sizes)
        self.normalised = normalised

    def instances(self, terms: list[Term]) -> Iterator[Instance]:
        return self._instances(self.sizes)

    def probes(self, terms: list[Term]) -> Iterator[Instance]:
        """S = max + 1 and max + 2, above the sizes proved at."""
        return self._instances((max(self.sizes) + 1, max(self.sizes) + 2))

    def _instances(self, sizes: tuple[int, ...]) -> Iterator[Instance]:
        for size in sizes:
            model = _DrawsModel(size)
            yield Instance(
                f"S={size}",
                functools.partial(model.tr, env={}),
                model.normalisation() if self.normalised else {},
                model.sample,
            )

    def describe(self, terms: list[Term] | None = None) -> str:
        q_text = "q(z|x) normalised" if self.normalised else "any positive q(z|x)"
        return (
            f"finite support {sizes_text('S', self.sizes)}, i.i.d. draws, {q_text}, "
            "any positive prior, all masses > 0"
        )

    def describe_any_size(self, terms: list[Term] | None = None) -> str | None:
        """The same family for every support size S; the number of draws is the one written
        (the draws the terms name, e.g. ``z_1..z_3``), not a symbol."""
        q_text = "q(z|x) normalised" if self.normalised else "any positive q(z|x)"
        draws = sorted(
            {
                int(v[2:])
                for t in terms or []
                for s in walk(t)
                if isinstance(s, Density)
                for v in s.vars + s.given
                if v.startswith("z_") and v[2:].isdigit()
            }
        )
        written = f" z_{draws[0]}..z_{draws[-1]} as written" if len(draws) > 1 else ""
        return (
            f"any finite support S, i.i.d. draws{written}, {q_text}, any positive prior, "
            "all masses > 0"
        )

    def covers(self, other: Semantics) -> bool:
        """Covers an i.i.d.-draws semantics with no more sizes; without normalisation it also
        covers the normalised one (a statement for every positive q holds for normalised q)."""
        return (
            isinstance(other, IIDDraws)
            and set(other.sizes) <= set(self.sizes)
            and (other.normalised or not self.normalised)
        )
