"""Chapter 2 (``02_kl_elbo_identity``): log p(x) = KL(q(z | x) ‖ p(z | x)) + ℒ(x; θ, φ).

* ``identity_multiply_by_one`` — the chain of the working notes (``shi_elbo_notes``), multiplying
  by one inside the log, corrected: q(z | x) where the source has q(x | x), and the log of a
  product split into a *sum of logs* (the source writes a sum of ratios inside one log).  Proven
  for finite supports and for the linear-Gaussian family.
* ``identity_from_elbo`` — equations (7)–(11) of the annotated bibliography
  (``elbo_bibliography_post``), corrected: Bayes' rule gives log p(x, z) = log p(z | x) + log p(x),
  with a plus sign.
* ``energy_entropy`` — ℒ = E_q[log p(x, z)] + ℍ[q(z | x)] = E_q[log p(x, z)] − E_q[log q(z | x)].
* ``free_energy`` — the variational free energy F = −ℒ = KL(q ‖ p(z | x)) − log p(x).
* ``kl_equality_case`` — KL(q ‖ p(z | x)) = E_q[t − 1 − log t] with t = p(z | x) / q(z | x): a
  q-weighted sum of terms that are ≥ 0 and vanish only at t = 1 (:func:`loggap_zeros`), so the KL
  is zero only when q = p(z | x) wherever q > 0.
* ``cavi_mean_factor`` and ``cavi_precision_factor`` — the two CAVI updates for the unknown mean μ
  and precision τ of a Gaussian under a Normal-Gamma prior (Bishop 2006, §10.1.3), with q(μ, τ) =
  q(μ) q(τ): the part of E_{q(τ)}[log p(x, μ, τ)] that depends on μ collected into a Gaussian
  in μ (plain algebra), and E_{q(μ)}[·] of the part that depends on τ collected into a Gamma
  in τ (the expectation over the Gaussian q(μ) taken by the engine; in its language the mean μ
  is the latent z and q(μ) = N(μ_q, σ_q²) is q(z | x)).  ``elbo_book.mean_field`` implements them.
"""

from __future__ import annotations

import sympy

from elbo_book.book.shared import ENCODER, HALF, JOINT, POSTERIOR
from elbo_book.derive.chain import Derivation
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, Gaussian, mu_q, sigma_q
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Entropy,
    Expect,
    Integral,
    LogGap,
    Named,
    Num,
    Scalar,
    Value,
    log,
    p,
    q,
    x,
    z,
)

__all__ = [
    "CAVI_MEAN",
    "CAVI_MEAN_PRECISION",
    "CAVI_RATE",
    "CAVI_SHAPE",
    "CHAPTER",
    "FREE_ENERGY",
    "loggap_zeros",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "02_kl_elbo_identity"

_BOTH = (Finite(), Gaussian())


@register(chapter=CHAPTER)
def identity_multiply_by_one() -> Derivation:
    """log p(x) = KL + ℒ by multiplying by one inside the log (the notes' chain, corrected)."""
    return (
        Derivation(
            "identity_multiply_by_one",
            log(p(x)),
            title="log p(x) = KL + ELBO, multiplying by one",
            semantics=_BOTH,
        )
        .eq(log(p(x)) * Expect(ENCODER, Num(1)), "E_q[1] = 1", label="one")
        .eq(Expect(ENCODER, log(p(x))), "a constant moves inside the expectation", label="inside")
        .eq(
            Expect(ENCODER, log(JOINT / POSTERIOR)),
            "Bayes' rule: p(x) = p(x, z) / p(z | x)",
            label="bayes",
        )
        .eq(
            Expect(ENCODER, log(ENCODER * JOINT / (POSTERIOR * ENCODER))),
            "multiply by q(z | x) / q(z | x)",
            label="times-one",
        )
        .eq(
            Expect(ENCODER, log(ENCODER / POSTERIOR) + log(JOINT / ENCODER)),
            "log of a product is the sum of the logs",
            label="split",
        )
        .eq(
            Expect(ENCODER, log(ENCODER / POSTERIOR)) + Expect(ENCODER, log(JOINT / ENCODER)),
            "linearity of expectation",
            label="linear",
        )
        .eq(KL(ENCODER, POSTERIOR) + ELBO, "definitions of KL and of the ELBO", label="defs")
    )


@register(chapter=CHAPTER)
def identity_from_elbo() -> Derivation:
    """ℒ = log p(x) − KL(q ‖ p(z | x)) (the annotated bibliography's eqs (7)–(11), corrected)."""
    return (
        Derivation("identity_from_elbo", ELBO, title="ELBO = log p(x) − KL", semantics=_BOTH)
        .eq(Integral(ENCODER * log(JOINT / ENCODER), "z"), "definition of the ELBO", label="def")
        .eq(
            Expect(ENCODER, log(JOINT) - log(ENCODER)),
            "log of a quotient; an integral against q is an expectation",
            label="split",
        )
        .eq(
            Expect(ENCODER, log(POSTERIOR) + log(p(x)) - log(ENCODER)),
            "Bayes' rule: log p(x, z) = log p(z | x) + log p(x)",
            label="bayes",
        )
        .eq(
            -KL(ENCODER, POSTERIOR) + Expect(ENCODER, log(p(x))),
            "linearity; definition of KL",
            label="kl",
        )
        .eq(-KL(ENCODER, POSTERIOR) + log(p(x)), "log p(x) does not depend on z", label="const")
    )


@register(chapter=CHAPTER)
def energy_entropy() -> Derivation:
    """ℒ = E_q[log p(x, z)] + ℍ[q(z | x)] (energy and entropy)."""
    return (
        Derivation("energy_entropy", ELBO, title="ELBO = −energy + entropy", semantics=_BOTH)
        .eq(
            Expect(ENCODER, log(JOINT) - log(ENCODER)), "definition; log of a quotient", label="def"
        )
        .eq(
            Expect(ENCODER, log(JOINT)) - Expect(ENCODER, log(ENCODER)),
            "linearity (the form of the annotated bibliography)",
            label="linear",
        )
        .eq(
            Expect(ENCODER, log(JOINT)) + Entropy(ENCODER),
            "definition of entropy (the form of Shi's notes)",
            label="entropy",
        )
    )


#: The variational free energy F(x; θ, φ) = E_q[log q − log p(x, z)], a named term.
FREE_ENERGY = Named(
    r"\mathcal{F}(x; \theta, \phi)",
    "F(x; θ, φ)",
    Expect(ENCODER, log(ENCODER) - log(JOINT)),
)


@register(chapter=CHAPTER)
def free_energy() -> Derivation:
    """F = E_q[log q − log p(x, z)] = −ℒ = KL(q ‖ p(z | x)) − log p(x)."""
    return (
        Derivation("free_energy", FREE_ENERGY, title="Free energy = −ELBO", semantics=_BOTH)
        .eq(-ELBO, "definitions: F is the ELBO with the sign flipped", label="neg")
        .eq(KL(ENCODER, POSTERIOR) - log(p(x)), "the KL–ELBO identity", label="identity")
    )


@register(chapter=CHAPTER)
def kl_equality_case() -> Derivation:
    """KL(q ‖ p(z | x)) = E_q[LogGap(p(z | x) / q(z | x))], the form that shows when it is zero."""
    return Derivation(
        "kl_equality_case",
        KL(ENCODER, POSTERIOR),
        title="KL as an average of t − 1 − log t",
    ).eq(
        Expect(ENCODER, LogGap(POSTERIOR / ENCODER)),
        "E_q[p(z | x)/q(z | x) − 1] = ∫ p(z | x) dz − 1 = 0 (the posterior is normalised)",
        label="loggap",
    )


def loggap_zeros() -> sympy.Set:
    """The zeros of LogGap(t) = t − 1 − log t on t > 0, found by SymPy: the set {1}.

    SymPy cannot solve t − 1 − log t = 0 directly, so the argument is the calculus one: the
    second derivative 1/t² is positive (strict convexity), the only critical point is the root
    of 1 − 1/t, and LogGap is 0 there; a strictly convex function whose minimum is 0 takes the
    value 0 at the minimiser only.

    Returns:
        The zero set, ``sympy.FiniteSet(1)``.

    Raises:
        ArithmeticError: one of the calculus facts above is not confirmed by SymPy.
    """
    t = sympy.Symbol("t", positive=True)
    gap = t - 1 - sympy.log(t)
    critical = sympy.solveset(sympy.diff(gap, t), t, sympy.Interval.open(0, sympy.oo))
    if not (sympy.diff(gap, t, 2).is_positive and isinstance(critical, sympy.FiniteSet)):
        raise ArithmeticError("LogGap is not confirmed strictly convex with one critical point")
    zeros = sympy.FiniteSet(*(c for c in critical if sympy.simplify(gap.subs(t, c)) == 0))
    if zeros != critical:
        raise ArithmeticError("the minimum of LogGap is not 0")
    return zeros


# CAVI for a Gaussian with unknown mean μ and precision τ (Bishop 2006, §10.1.3).
# Data enter through N, S₁ = Σ_n x_n and S₂ = Σ_n x_n², so Σ_n (x_n − μ)² = S₂ − 2μS₁ + Nμ².
N_OBS = Scalar("N_obs", "N")
S1 = Scalar("S_1", "S_1", positive=False)
S2 = Scalar("S_2", "S_2")
MU = Scalar("mu", r"\mu", positive=False)
TAU = Scalar("tau", r"\tau")
MU0 = Scalar("mu_0", r"\mu_0", positive=False)
LAMBDA0 = Scalar("lambda_0", r"\lambda_0")
A0 = Scalar("a_0", "a_0")
B0 = Scalar("b_0", "b_0")
E_TAU = Scalar("E_tau", r"\mathbb{E}_{q}[\tau]")

CAVI_MEAN = (LAMBDA0 * MU0 + S1) / (LAMBDA0 + N_OBS)
"""m, the mean of the optimal q(μ)."""
CAVI_MEAN_PRECISION = (LAMBDA0 + N_OBS) * E_TAU
"""λ, the precision of the optimal q(μ)."""
CAVI_SHAPE = A0 + (N_OBS + 1) / 2
"""a, the shape of the optimal q(τ)."""
CAVI_RATE = B0 + HALF * (
    S2 - 2 * mu_q * S1 + N_OBS * (mu_q**2 + sigma_q**2) + LAMBDA0 * ((mu_q - MU0) ** 2 + sigma_q**2)
)
"""b, the rate of the optimal q(τ), for q(μ) = N(μ_q, σ_q²) (the engine's names for m, 1/λ)."""


@register(chapter=CHAPTER)
def cavi_mean_factor() -> Derivation:
    """log q*(μ) = E_{q(τ)}[log p(x, μ, τ)] + const is a Gaussian log density in μ."""
    return (
        Derivation(
            "cavi_mean_factor",
            -(E_TAU / 2) * (S2 - 2 * MU * S1 + N_OBS * MU**2 + LAMBDA0 * (MU - MU0) ** 2),
            title="CAVI: the optimal q(μ) is Gaussian",
        )
        .eq(
            -(E_TAU / 2)
            * ((LAMBDA0 + N_OBS) * MU**2 - 2 * MU * (LAMBDA0 * MU0 + S1) + LAMBDA0 * MU0**2 + S2),
            "expand; collect the powers of μ",
            label="collect",
        )
        .eq(
            -(CAVI_MEAN_PRECISION / 2) * (MU - CAVI_MEAN) ** 2
            - (E_TAU / 2) * (LAMBDA0 * MU0**2 + S2 - (LAMBDA0 * MU0 + S1) ** 2 / (LAMBDA0 + N_OBS)),
            "complete the square; the second term does not depend on μ",
            label="square",
        )
    )


@register(chapter=CHAPTER)
def cavi_precision_factor() -> Derivation:
    """log q*(τ) = E_{q(μ)}[log p(x, μ, τ)] + const is a Gamma log density in τ."""
    z_val = Value("z")
    return (
        Derivation(
            "cavi_precision_factor",
            Expect(
                q(z | x),
                (N_OBS / 2 + A0 - HALF) * log(TAU)
                - (TAU / 2) * (S2 - 2 * z_val * S1 + N_OBS * z_val**2)
                - (LAMBDA0 * TAU / 2) * (z_val - MU0) ** 2
                - B0 * TAU,
            ),
            title="CAVI: the optimal q(τ) is Gamma",
            semantics=(Gaussian(),),
        )
        .eq(
            (N_OBS / 2 + A0 - HALF) * log(TAU)
            - (TAU / 2) * (S2 - 2 * mu_q * S1 + N_OBS * (mu_q**2 + sigma_q**2))
            - (LAMBDA0 * TAU / 2) * ((mu_q - MU0) ** 2 + sigma_q**2)
            - B0 * TAU,
            "Gaussian moments under q(z | x) = N(μ, σ²): E[z] = μ, E[z²] = μ² + σ²",
            label="moments",
        )
        .eq(
            (CAVI_SHAPE - 1) * log(TAU) - CAVI_RATE * TAU,
            "collect the coefficients of log τ and of τ: the Gamma form (a − 1) log τ − b τ",
            label="gamma",
        )
    )
