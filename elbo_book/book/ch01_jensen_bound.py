"""Chapter 1 (``01_jensen_bound``): the evidence lower bound from Jensen's inequality.

* ``jensen_bound`` — log p(x) ≥ ℒ(x; θ, φ), following the chain of equations (1)–(6) of the
  annotated bibliography (``elbo_bibliography_post``) with its mistakes removed (no repeated line;
  Bayes' rule as p(x, z) = p(z | x) p(x)).
* ``importance_identity`` — p(x) = E_q[p(x, z) / q(z | x)], which needs q > 0 wherever
  p(x, z) > 0 (in the finite model every q_k is a positive symbol, so the condition holds).
* ``gaussian_elbo`` — the ELBO of the running example z ~ N(0, 1), x | z ~ N(z, σ_x²) for
  q = N(μ, σ²) in closed form, proven in the Gaussian family (the chapter plots this expression).
* ``bound_gap`` — log p(x) ≥ ℒ with the gap certified to be KL(q(z|x) ‖ p(z|x)) ≥ 0: the bound is
  tight exactly when q is the posterior.
* ``gaussian_elbo_prior_mean`` — the same ELBO with the prior mean μ₀ left free, z ~ N(μ₀, 1); its
  derivative in μ₀ gives the M-step of EM (:func:`em_m_step`).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy

from elbo_book.book.shared import ENCODER, HALF, JOINT, POSTERIOR
from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap, Jensen
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, Gaussian, mu_p, mu_q, sigma_q, sigma_x
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Entropy,
    Expect,
    Integral,
    Pi,
    Value,
    log,
    p,
    x,
    z,
)

__all__ = [
    "CHAPTER",
    "GAUSSIAN_ELBO_CLOSED_FORM",
    "GAUSSIAN_ELBO_PRIOR_MEAN",
    "PRIOR_MEAN_MODEL",
    "RUNNING_EXAMPLE",
    "em_m_step",
    "gaussian_elbo_function",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "01_jensen_bound"


@register(chapter=CHAPTER)
def jensen_bound() -> Derivation:
    """log p(x) ≥ ℒ(x; θ, φ) by Jensen's inequality (the bibliography's eqs (1)–(6), corrected)."""
    return (
        Derivation("jensen_bound", log(p(x)), title="The evidence lower bound via Jensen")
        .eq(log(Integral(JOINT, "z")), "marginalisation: p(x) = ∫ p(x, z) dz", label="marg")
        .eq(
            log(Integral(ENCODER * (JOINT / ENCODER), "z")),
            "multiply and divide by q(z | x) (needs q > 0 wherever p(x, z) > 0)",
            label="times-one",
        )
        .eq(
            log(Integral(ENCODER * (POSTERIOR * p(x) / ENCODER), "z")),
            "Bayes' rule: p(x, z) = p(z | x) p(x)",
            label="bayes",
        )
        .ge(
            Integral(ENCODER * log(POSTERIOR * p(x) / ENCODER), "z"),
            "Jensen's inequality: log is concave",
            certificate=Jensen(),
            label="jensen",
        )
        .eq(
            Expect(ENCODER, log(JOINT / ENCODER)),
            "Bayes' rule back; an integral against q is an expectation",
            label="expect",
        )
        .eq(ELBO, "definition of the ELBO", label="elbo")
    )


@register(chapter=CHAPTER)
def importance_identity() -> Derivation:
    """p(x) = E_q[p(x, z) / q(z | x)] when q > 0 wherever p(x, z) > 0."""
    return (
        Derivation("importance_identity", p(x), title="The evidence as an expectation under q")
        .eq(Integral(JOINT, "z"), "marginalisation", label="marg")
        .eq(
            Integral(ENCODER * (JOINT / ENCODER), "z"),
            "multiply and divide by q(z | x) (support condition)",
            label="times-one",
        )
        .eq(
            Expect(ENCODER, JOINT / ENCODER),
            "an integral against q is an expectation",
            label="expect",
        )
    )


@register(chapter=CHAPTER)
def bound_gap() -> Derivation:
    """log p(x) ≥ ℒ, the gap being KL(q(z | x) ‖ p(z | x)) ≥ 0."""
    return Derivation("bound_gap", log(p(x)), title="The bound and its gap").ge(
        ELBO,
        "log p(x) − ℒ = KL(q(z | x) ‖ p(z | x)) ≥ 0 (Gibbs' inequality)",
        certificate=Gap(KL(ENCODER, POSTERIOR)),
        label="gap",
        crosscheck=True,
    )


GAUSSIAN_ELBO_CLOSED_FORM = (
    -(HALF * log(2 * Pi()))
    - log(sigma_x)
    - ((Value("x") - mu_q) ** 2 + sigma_q**2) / (2 * sigma_x**2)
    - (mu_q**2 + sigma_q**2) / 2
    + HALF
    + log(sigma_q)
)
"""ℒ for z ~ N(0, 1), x | z ~ N(z, σ_x²), q(z | x) = N(μ, σ²) (derivation ``gaussian_elbo``)."""
RUNNING_EXAMPLE = Gaussian(fix={"mu_p": 0, "sigma_p": 1, "w": 1, "b": 0})
"""The chapter's running example as a Gaussian semantics (prior N(0, 1), likelihood N(z, σ_x²))."""


@register(chapter=CHAPTER)
def gaussian_elbo() -> Derivation:
    """The ELBO of the conjugate Gaussian running example, in closed form."""
    return (
        Derivation(
            "gaussian_elbo",
            ELBO,
            title="ELBO of the running example in closed form",
            semantics=(Finite(), RUNNING_EXAMPLE),
        )
        .eq(
            Expect(ENCODER, log(p(x | z))) + Expect(ENCODER, log(p(z))) + Entropy(ENCODER),
            "p(x, z) = p(x | z) p(z); linearity; definition of entropy",
            label="split",
        )
        .eq(
            GAUSSIAN_ELBO_CLOSED_FORM,
            "Gaussian moments E_q[z] = μ, E_q[z²] = μ² + σ²",
            label="closed",
            semantics=(RUNNING_EXAMPLE,),
        )
    )


def gaussian_elbo_function() -> Callable[[float, float, float, float], float]:
    """The verified closed form of ``gaussian_elbo`` compiled to ``f(x, μ, σ, σ_x)`` (NumPy)."""
    expr = RUNNING_EXAMPLE.tr(GAUSSIAN_ELBO_CLOSED_FORM)
    args = (sympy.Symbol("x", real=True), mu_q.sympy(), sigma_q.sympy(), sigma_x.sympy())
    return sympy.lambdify(args, expr, "numpy")


GAUSSIAN_ELBO_PRIOR_MEAN = (
    -(HALF * log(2 * Pi()))
    - log(sigma_x)
    - ((Value("x") - mu_q) ** 2 + sigma_q**2) / (2 * sigma_x**2)
    - ((mu_q - mu_p) ** 2 + sigma_q**2) / 2
    + HALF
    + log(sigma_q)
)
"""ℒ for z ~ N(μ₀, 1), x | z ~ N(z, σ_x²), q(z | x) = N(μ, σ²) (``gaussian_elbo_prior_mean``)."""
PRIOR_MEAN_MODEL = Gaussian(fix={"sigma_p": 1, "w": 1, "b": 0})
"""The running example with its prior mean μ₀ as a free parameter θ."""


@register(chapter=CHAPTER)
def gaussian_elbo_prior_mean() -> Derivation:
    """The ELBO of the running example with a free prior mean μ₀, in closed form."""
    return (
        Derivation(
            "gaussian_elbo_prior_mean",
            ELBO,
            title="ELBO of the running example with prior N(μ₀, 1)",
            semantics=(Finite(), PRIOR_MEAN_MODEL),
        )
        .eq(
            Expect(ENCODER, log(p(x | z))) + Expect(ENCODER, log(p(z))) + Entropy(ENCODER),
            "p(x, z) = p(x | z) p(z); linearity; definition of entropy",
            label="split",
        )
        .eq(
            GAUSSIAN_ELBO_PRIOR_MEAN,
            "Gaussian moments E_q[z] = μ, E_q[(z − μ₀)²] = (μ − μ₀)² + σ²",
            label="closed",
            semantics=(PRIOR_MEAN_MODEL,),
        )
    )


def em_m_step() -> sympy.Expr:
    """The M-step of EM for μ₀, solved by SymPy from the verified closed form.

    ∂ℒ/∂μ₀ of ``GAUSSIAN_ELBO_PRIOR_MEAN`` is μ − μ₀; its root is μ₀ = μ, the mean of q. For N
    data points the ELBO is a sum of such terms, so the root is the average of the q means.

    Returns:
        The root of ∂ℒ/∂μ₀ = 0 in μ₀, a SymPy expression (``mu_q``).

    Raises:
        ArithmeticError: the derivative does not have exactly one root.
    """
    expr = PRIOR_MEAN_MODEL.tr(GAUSSIAN_ELBO_PRIOR_MEAN)
    roots = sympy.solve(sympy.diff(expr, mu_p.sympy()), mu_p.sympy())
    if len(roots) != 1:
        raise ArithmeticError(f"expected one stationary point in μ₀, got {roots}")
    return sympy.simplify(roots[0])
