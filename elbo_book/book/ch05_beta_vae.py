"""Chapter 5 (the β-VAE): the checked derivations the chapter displays.

* ``beta_objective_bound``: for β ≥ 1 the β-objective is below the ELBO, hence below log p(x)
  (finite semantics; β = 1 + δ with δ > 0, and the gap δ · KL ≥ 0 by Gibbs' inequality).
* ``gaussian_kl_closed_form``: KL(N(μ, σ²) ‖ N(μ₀, σ₀²)) in closed form (Gaussian semantics):
  the log-determinant term is log(σ₀/σ), with trace and mean terms beside it.
* ``tempered_posterior``: (1/β) ℒ_β(q) = log Z_β(x) − KL(q ‖ q*_β) with the tempered posterior
  q*_β(z) = p(z) p(x|z)^{1/β} / Z_β(x) (finite semantics, any β > 0): the best encoder of the
  β-objective is q*_β.
* ``beta_gaussian_decoder``: a β-VAE with a Gaussian decoder of variance σ² is β times a plain VAE
  with decoder variance βσ², plus a constant (symbolic algebra: any decoder mean, any dimension).
"""

from __future__ import annotations

import sympy

from elbo_book.book.shared import GAUSSIAN_KL_CLOSED_FORM
from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Gaussian, mu_p, mu_q, sigma_p, sigma_q
from elbo_book.derive.terms import (
    KL,
    Expect,
    Integral,
    Named,
    Scalar,
    Term,
    Value,
    log,
    p,
    q,
    x,
    z,
)

__all__ = [
    "CHAPTER",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "05_beta_vae"

_half = sympy.Rational(1, 2)

_delta = Scalar("delta", r"\delta")
_beta = Named(r"\beta", "β", 1 + _delta)


@register(chapter=CHAPTER)
def beta_objective_bound() -> Derivation:
    """log p(x) ≥ ELBO ≥ E_q[log p(x|z)] − β KL(q(z|x) ‖ p(z)) for β = 1 + δ ≥ 1."""
    encoder = q(z | x)
    return (
        Derivation(
            "beta_objective_bound",
            log(p(x)),
            title="For β ≥ 1 the β-objective is a lower bound on log p(x)",
        )
        .ge(
            Expect(encoder, log(p(x, z) / encoder)),
            "log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)) ≥ 0",
            certificate=Gap(KL(encoder, p(z | x))),
            label="elbo",
        )
        .eq(
            Expect(encoder, log(p(x | z))) - KL(encoder, p(z)),
            "p(x, z) = p(z) p(x|z); linearity; definition of KL",
            label="split",
        )
        .ge(
            Expect(encoder, log(p(x | z))) - _beta * KL(encoder, p(z)),
            "β = 1 + δ with δ > 0: the difference is δ · KL(q(z|x) ‖ p(z)) ≥ 0",
            certificate=Gap(_delta * KL(encoder, p(z))),
            label="beta",
        )
    )


@register(chapter=CHAPTER)
def gaussian_kl_closed_form() -> Derivation:
    """KL(N(μ, σ²) ‖ N(μ₀, σ₀²)) = log(σ₀/σ) + (σ² + (μ − μ₀)²)/(2σ₀²) − 1/2."""
    encoder, zv = q(z | x), Value("z")
    return (
        Derivation(
            "gaussian_kl_closed_form",
            KL(encoder, p(z)),
            title="KL between two Gaussians in closed form",
            semantics=(Gaussian(),),
        )
        .eq(
            Expect(encoder, log(encoder) - log(p(z))),
            "definition of KL",
            label="def",
        )
        .eq(
            Expect(
                encoder,
                log(sigma_p / sigma_q)
                - (zv - mu_q) ** 2 / (2 * sigma_q**2)
                + (zv - mu_p) ** 2 / (2 * sigma_p**2),
            ),
            "Gaussian log-densities; the log 2π terms cancel",
            label="densities",
        )
        .eq(
            log(sigma_p / sigma_q)
            - Expect(encoder, (zv - mu_q) ** 2) / (2 * sigma_q**2)
            + Expect(encoder, (zv - mu_p) ** 2) / (2 * sigma_p**2),
            "linearity of expectation",
            label="linear",
        )
        .eq(
            GAUSSIAN_KL_CLOSED_FORM,
            "E_q[(z − μ)²] = σ²; E_q[(z − μ₀)²] = σ² + (μ − μ₀)² (Gaussian moments)",
            label="moments",
        )
    )


_D = Scalar("D")  # data dimension
_two_pi = Scalar("c", r"2\pi")  # the constant 2π (any positive constant: the identity is algebraic)
_s2 = Scalar("sigma2", r"\sigma^2")  # decoder variance
_err = Scalar("S", r"\mathbb{E}_q\|x - f_\theta(z)\|^2")  # expected squared reconstruction error
_kl = Scalar("K", r"\operatorname{KL}(q_\phi(z|x) \| p(z))")
_b = Scalar("beta", r"\beta")


_temperature = Scalar("beta", r"\beta")


@register(chapter=CHAPTER)
def tempered_posterior() -> Derivation:
    """(1/β) ℒ_β(q) = log Z_β(x) − KL(q ‖ q*_β), q*_β(z) = p(z) p(x|z)^{1/β} / Z_β(x)."""
    encoder, power = q(z | x), p(x | z) ** (1 / _temperature)
    evidence = Named(r"Z_\beta(x)", "Z_β(x)", Integral(p(z) * power, "z"))
    kl_tempered = Named(
        r"\operatorname{KL}(q \,\|\, q^*_\beta)",
        "KL(q ‖ q*_β)",
        Expect(encoder, log(encoder / (p(z) * power))) + log(evidence),
    )
    objective = Expect(encoder, log(p(x | z))) - _temperature * KL(encoder, p(z))
    return (
        Derivation(
            "tempered_posterior",
            (1 / _temperature) * objective,
            title="The β-objective is maximised by the tempered posterior",
        )
        .eq(
            Expect(encoder, (1 / _temperature) * log(p(x | z)) + log(p(z)) - log(encoder)),
            "linearity; definition of KL",
            label="expand",
        )
        .eq(
            log(evidence) - kl_tempered,
            "KL(q ‖ q*_β) = E_q[log q − log p(z) p(x|z)^{1/β}] + log Z_β(x), "
            "q*_β = p(z) p(x|z)^{1/β} / Z_β(x)",
            label="tempered",
        )
    )


def _gaussian_objective(variance: Term, beta: Term | None) -> Term:
    """E_q log N(x; f(z), variance · I_D) − β · KL (β omitted: the ELBO), written out."""
    kl = _kl if beta is None else beta * _kl
    return -(_D / 2) * log(_two_pi * variance) - _err / (2 * variance) - kl


@register(chapter=CHAPTER)
def beta_gaussian_decoder() -> Derivation:
    """J_β(σ²) = β · ELBO(βσ²) + (D/2)(β log 2πβσ² − log 2πσ²)."""
    constant = (_D / 2) * (_b * log(_two_pi * _b * _s2) - log(_two_pi * _s2))
    return (
        Derivation(
            "beta_gaussian_decoder",
            _gaussian_objective(_s2, _b),
            title="A β-VAE with decoder variance σ² is a VAE with decoder variance βσ²",
        )
        .eq(
            _b * (-_err / (2 * _b * _s2) - _kl) - (_D / 2) * log(_two_pi * _s2),
            "factor β out of the two terms that depend on θ and φ",
            label="factor",
        )
        .eq(
            _b * _gaussian_objective(_b * _s2, None) + constant,
            "add and subtract β (D/2) log(2π β σ²)",
            label="rescale",
        )
    )
