"""Chapter 6: the K-sample importance-weighted bound L_K (Burda et al. 2016), checked.

With K independent draws z_1, …, z_K ~ q(z|x) and weights w_j = p(x, z_j) / q(z_j|x),

    L_K(x) = E_{q(z_1, …, z_K | x)}[ log (1/K) Σ_j w_j ].

The derivations below are written for a fixed, small K with the draws spelled out (z_1, z_2, z_3):
the term language has no "K-fold product" node, so a proof for *every* K is not something the
engine can check; each chain is the general argument instantiated at K = 2 or 3.

They need one model family that the default finite semantics lacks: several i.i.d. draws of the
latent.  :class:`IIDDraws` provides it — z and every z_j range over a finite support of size S
with symbolic prior π_s, likelihood ℓ_s and encoder r_s (normalisation substituted), and the
joint q(z_1, …, z_K | x) is the product Π_j r_{z_j}.  A proven identity therefore holds for every
distribution on S points, for the S checked (the badge states them), and K as written.

Derivations (chapter ``06_importance_weighting``):

* ``iwae_unbiased`` — E[(1/3) Σ_j w_j] = p(x).
* ``iwae_lower_bound`` — L_3 ≤ log p(x) by Jensen's inequality.
* ``iwae_gap`` — log p(x) − L_3 = E[t − 1 − log t] ≥ 0 with t = (1/3) Σ_j w_j / p(x).
* ``iwae_one_sample_is_elbo`` — L_1 = ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)).
* ``iwae_monotone`` — L_3 ≥ L_2: leave-one-out averages, then Jensen for a finite average.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap, Jensen
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import (
    Instance,
    Semantics,
    Undefined,
    Unsupported,
    positive_log,
    sizes_text,
    translate_arithmetic,
)
from elbo_book.derive.terms import (
    KL,
    RV,
    Add,
    Density,
    Entropy,
    Expect,
    Integral,
    Log,
    LogGap,
    Named,
    Num,
    Term,
    Var,
    log,
    p,
    q,
    x,
    z,
)

__all__ = [
    "CHAPTER",
    "IIDDraws",
    "average_weight",
    "iwae_bound_term",
    "leave_one_out",
    "weight",
]

CHAPTER = "06_importance_weighting"


# ---------------------------------------------------------------------------------------------
# Semantics: i.i.d. draws from q(z|x) on a finite support
# ---------------------------------------------------------------------------------------------
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
        if isinstance(t, Var):
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
            return self.tr(t.definition, env)
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

    def covers(self, other: Semantics) -> bool:
        """Covers an i.i.d.-draws semantics with no more sizes; without normalisation it also
        covers the normalised one (a statement for every positive q holds for normalised q)."""
        return (
            isinstance(other, IIDDraws)
            and set(other.sizes) <= set(self.sizes)
            and (other.normalised or not self.normalised)
        )


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
def _draw(j: int) -> RV:
    return RV(f"z_{j}")


def weight(j: int) -> Named:
    """w_j = p(x, z_j) / q(z_j | x), shown as w_j."""
    return Named(f"w_{{{j}}}", f"w_{j}", p(x, _draw(j)) / q(_draw(j) | x))


def average_weight(draws: tuple[int, ...]) -> Term:
    """(1/m) Σ_{j ∈ draws} w_j, the average of the weights of the listed draws (written out)."""
    if not draws:
        raise ValueError("average_weight needs at least one draw")
    if len(draws) == 1:
        return weight(draws[0])
    return Num(sympy.Rational(1, len(draws))) * Add(tuple(weight(j) for j in draws))


def leave_one_out(draws: tuple[int, ...], m: int) -> Named:
    """Ẑ^(−m): the average of the weights of ``draws`` without draw m, shown by its symbol."""
    rest = tuple(j for j in draws if j != m)
    return Named(rf"\hat{{Z}}^{{(-{m})}}", f"Ẑ^(-{m})", average_weight(rest))


def _joint(draws: tuple[int, ...]) -> Density:
    """q(z_{j1}, …, z_{jm} | x): the draws are i.i.d. from q(z|x)."""
    *first, last = (_draw(j) for j in draws)
    return q(*first, last | x)


def iwae_bound_term(k: int) -> Named:
    """L_k(x) = E_{q(z_1..z_k|x)}[log (1/k) Σ_j w_j], shown as its symbol."""
    draws = tuple(range(1, k + 1))
    return Named(
        rf"\mathcal{{L}}_{{{k}}}(x)",
        f"L_{k}(x)",
        Expect(_joint(draws), log(average_weight(draws))),
    )


_SEM = (IIDDraws(),)
# A pointwise step under an expectation needs no normalisation of q; checking it without (for
# every positive q(z|x)) is stronger, and much faster for logarithms of sums of ratios.
_SEM_POINTWISE = (IIDDraws(normalised=False),)
_ELBO = Named(r"\mathcal{L}(x; \theta, \phi)", "ELBO", Expect(q(z | x), log(p(x, z) / q(z | x))))


# ---------------------------------------------------------------------------------------------
# Derivations
# ---------------------------------------------------------------------------------------------
@register(chapter=CHAPTER)
def iwae_unbiased() -> Derivation:
    """E[(1/3) Σ_j w_j] = p(x): the average weight is an unbiased estimate of the evidence."""
    draws = (1, 2, 3)
    return (
        Derivation(
            "iwae_unbiased",
            Expect(_joint(draws), average_weight(draws)),
            title="The average importance weight is unbiased for p(x)",
            semantics=_SEM,
        )
        .eq(
            Num(sympy.Rational(1, 3))
            * Add(tuple(Expect(q(_draw(j) | x), weight(j)) for j in draws)),
            "linearity; each w_j involves one draw, the others sum to 1",
            label="linear",
        )
        .eq(
            Expect(q(z | x), p(x, z) / q(z | x)),
            "the draws are identically distributed",
            label="iid",
        )
        .eq(
            Integral(p(x, z), "z"),
            "q(z|x) cancels; needs q(z|x) > 0 wherever p(x, z) > 0",
            label="cancel",
        )
        .eq(p(x), "marginalisation (sum rule)", label="marginal")
    )


@register(chapter=CHAPTER)
def iwae_lower_bound() -> Derivation:
    """L_3 ≤ log p(x) by Jensen's inequality and unbiasedness."""
    draws = (1, 2, 3)
    bound = iwae_bound_term(3)
    return (
        Derivation(
            "iwae_lower_bound",
            bound,
            title="The importance-weighted bound is a lower bound",
            semantics=_SEM,
        )
        .eq(bound.definition, "definition of L_3", label="def")
        .le(
            log(Expect(_joint(draws), average_weight(draws))),
            "Jensen's inequality: log is concave",
            certificate=Jensen(),
            label="jensen",
        )
        .eq(log(p(x)), "unbiasedness (derivation iwae_unbiased)", label="unbiased")
    )


@register(chapter=CHAPTER)
def iwae_gap() -> Derivation:
    """log p(x) − L_3 = E[t − 1 − log t] ≥ 0 with t = (1/3) Σ_j w_j / p(x)."""
    draws = (1, 2, 3)
    joint = _joint(draws)
    ratio = Named("t", "t", average_weight(draws) / p(x))
    return (
        Derivation(
            "iwae_gap",
            log(p(x)) - iwae_bound_term(3),
            title="The gap log p(x) − L_3 as an expectation of t − 1 − log t",
            semantics=_SEM,
        )
        .eq(
            Expect(joint, -log(ratio)),
            "log p(x) is a constant; log a − log b = −log(a/b)",
            label="ratio",
        )
        .eq(
            Expect(joint, LogGap(ratio)) - (Expect(joint, ratio) - 1),
            "add and subtract t − 1 inside the expectation; linearity",
            label="add-subtract",
        )
        .eq(Expect(joint, LogGap(ratio)), "E[t] = 1 (derivation iwae_unbiased)", label="unbiased")
        .ge(
            0,
            "t − 1 − log t ≥ 0 for every t > 0",
            certificate=Gap(Expect(joint, LogGap(ratio))),
            label="nonneg",
        )
    )


@register(chapter=CHAPTER)
def iwae_one_sample_is_elbo() -> Derivation:
    """L_1 = ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))."""
    return (
        Derivation(
            "iwae_one_sample_is_elbo",
            iwae_bound_term(1),
            title="With one sample, the bound is the ELBO",
            semantics=_SEM,
        )
        .eq(iwae_bound_term(1).definition, "definition of L_1: one weight", label="def")
        .eq(_ELBO.definition, "rename the single draw z_1 to z", label="rename")
        .eq(_ELBO, "definition of the ELBO", label="elbo")
        .eq(
            Expect(q(z | x), log(p(x | z))) - KL(q(z | x), p(z)),
            "p(x, z) = p(x|z) p(z); log of a product; definition of KL",
            label="split",
        )
    )


@register(chapter=CHAPTER)
def iwae_monotone() -> Derivation:
    """L_3 ≥ L_2: write the average of three weights as the average of its three leave-one-out
    averages of two, apply Jensen to that finite average, and integrate out the left-out draw."""
    draws = (1, 2, 3)
    joint = _joint(draws)
    leave_out = [tuple(j for j in draws if j != m) for m in draws]
    loo = [leave_one_out(draws, m) for m in draws]
    third = Num(sympy.Rational(1, 3))
    mean_loo = third * Add(tuple(loo))
    zhat = Named(r"\hat{Z}_{3}", "Ẑ_3", mean_loo)
    gap = Expect(joint, third * Add(tuple(LogGap(y / zhat) for y in loo)))
    return (
        Derivation(
            "iwae_monotone",
            iwae_bound_term(3),
            title="The bound is non-decreasing in K (here K = 2 → 3)",
            semantics=_SEM,
        )
        .eq(
            Expect(joint, log(mean_loo)),
            "each w_j lies in 2 of the 3 leave-one-out averages of 2 weights",
            label="leave-one-out",
        )
        .ge(
            Expect(joint, third * Add(tuple(log(y) for y in loo))),
            "Jensen for the uniform average over the left-out index (log is concave)",
            certificate=Gap(gap),
            label="jensen",
            semantics=_SEM_POINTWISE,
        )
        .eq(
            third * Add(tuple(Expect(joint, log(y)) for y in loo)),
            "linearity of expectation",
            label="linear",
        )
        .eq(
            third
            * Add(
                tuple(Expect(_joint(rest), log(y)) for rest, y in zip(leave_out, loo, strict=True))
            ),
            "the left-out draw integrates out (q is normalised)",
            label="marginal",
        )
        .eq(
            Expect(_joint((1, 2)), log(average_weight((1, 2)))),
            "the draws are exchangeable: rename them z_1, z_2",
            label="exchange",
        )
        .eq(iwae_bound_term(2), "definition of L_2", label="def")
    )
