"""Chapter 3 (the Kingma–Welling split): the checked derivations the chapter displays.

* ``elbo_reconstruction_kl``: ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), from the definition
  ELBO = E_q[log p(x, z) − log q(z|x)] (finite semantics: any distributions on K points, and
  the Gaussian semantics).
* ``kl_standard_normal``: KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) (Kingma & Welling 2014,
  Appendix B), each expectation computed by ``sympy.integrate`` against the Gaussian density.
* ``distortion_rate``: ELBO = −(D + R) with the distortion D = −E_q[log p(x|z)] and the rate
  R = KL(q(z|x) ‖ p(z)) (Alemi et al. 2018): the KL itself is the rate, not its negative.
"""

from __future__ import annotations

from elbo_book.book.shared import HALF, STANDARD_NORMAL_KL_CLOSED_FORM
from elbo_book.derive.chain import Derivation
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, Gaussian, mu_q, sigma_q
from elbo_book.derive.terms import ELBO, KL, Expect, Named, Value, log, p, q, x, z

__all__ = [
    "CHAPTER",
    "DISTORTION",
    "RATE",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "03_kingma_welling_split"


@register(chapter=CHAPTER)
def elbo_reconstruction_kl() -> Derivation:
    """ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))."""
    encoder = q(z | x)
    return (
        Derivation(
            "elbo_reconstruction_kl",
            ELBO,
            title="The ELBO is expected reconstruction minus KL to the prior",
            semantics=(Finite(), Gaussian()),
        )
        .eq(
            Expect(encoder, log(p(x, z)) - log(encoder)),
            "definition of the ELBO",
            label="def",
        )
        .eq(
            Expect(encoder, log(p(x | z)) + log(p(z)) - log(encoder)),
            "product rule p(x, z) = p(x|z) p(z); log of a product",
            label="product",
        )
        .eq(
            Expect(encoder, log(p(x | z))) - Expect(encoder, log(encoder) - log(p(z))),
            "linearity of expectation",
            label="linear",
        )
        .eq(
            Expect(encoder, log(p(x | z))) - KL(encoder, p(z)),
            "definition of KL(q(z|x) ‖ p(z))",
            label="kl",
        )
    )


@register(chapter=CHAPTER)
def kl_standard_normal() -> Derivation:
    """KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²), by symbolic integration."""
    encoder, zv = q(z | x), Value("z")
    return (
        Derivation(
            "kl_standard_normal",
            KL(encoder, p(z)),
            title="KL(q ‖ p(z)) for q = N(μ, σ²) and the prior N(0, 1), by integration",
            semantics=(Gaussian(fix={"mu_p": 0, "sigma_p": 1}, integrate=True),),
        )
        .eq(
            Expect(encoder, log(encoder) - log(p(z))),
            "definition of KL",
            label="def",
        )
        .eq(
            Expect(encoder, -log(sigma_q) - (zv - mu_q) ** 2 / (2 * sigma_q**2) + zv**2 / 2),
            "Gaussian log-densities log N(z; μ, σ²) − log N(z; 0, 1); the log 2π terms cancel",
            label="densities",
        )
        .eq(
            -log(sigma_q) - HALF + (mu_q**2 + sigma_q**2) / 2,
            "∫ N(z; μ, σ²) (z − μ)² dz = σ² and ∫ N(z; μ, σ²) z² dz = μ² + σ²",
            label="integrate",
        )
        .eq(
            STANDARD_NORMAL_KL_CLOSED_FORM,
            "collect terms; 2 log σ = log σ²",
            label="closed-form",
        )
    )


DISTORTION = Named(r"\mathrm{D}(x; \theta, \phi)", "D(x; θ, φ)", -Expect(q(z | x), log(p(x | z))))
"""The distortion D = −E_q[log p(x|z)], the negated expected reconstruction."""
RATE = Named(r"\mathrm{R}(x; \phi)", "R(x; φ)", KL(q(z | x), p(z)))
"""The rate R = KL(q(z|x) ‖ p(z)), the KL term of the split itself."""


@register(chapter=CHAPTER)
def distortion_rate() -> Derivation:
    """ELBO = −(D + R): distortion D = −E_q[log p(x|z)], rate R = KL(q(z|x) ‖ p(z))."""
    encoder = q(z | x)
    return (
        Derivation(
            "distortion_rate",
            ELBO,
            title="The ELBO is minus distortion minus rate",
            semantics=(Finite(), Gaussian()),
        )
        .eq(
            Expect(encoder, log(p(x | z))) - KL(encoder, p(z)),
            "the split (derivation elbo_reconstruction_kl)",
            label="split",
        )
        .eq(
            -(DISTORTION + RATE),
            "definitions: D = −E_q[log p(x|z)], R = KL(q(z|x) ‖ p(z))",
            label="names",
        )
    )
