"""The terms and lemmas more than one chapter uses, each defined (or proven) once.

Terms: every chapter module and the Errata import from here the densities q_φ(z | x),
p_θ(x, z) and p_θ(z | x), the exact constant 1/2, the ELBO of the n-th point ℒ(x_n) and the
average (1/N) Σ_n of a term, and the Gaussian KL KL(N(μ, σ²) ‖ N(μ₀, σ₀²)) in closed form (also
for the prior N(0, 1)); ``ELBO`` and ``E`` are the engine's own, from ``elbo_book.derive.terms``.

Lemmas the other derivations rest on:

* ``gibbs_inequality``: KL(q ‖ p) ≥ 0 for any two distributions on the same finite support, from
  log t ≤ t − 1 (proven by calculus in :func:`elbo_book.derive.checks.prove_log_bound`).  Every
  ``Gap(KL(...))`` certificate in the book rests on this.
* ``entropy_at_most_log_k``: ℍ[q] ≤ log K for a distribution on K points, because
  log K − ℍ[q] = E_q[t − 1 − log t] with t = (1/K)/q (the KL from q to the uniform distribution).
* ``gaussian_moment_j`` (j = 0..4): E[z^j] under N(μ, σ²), by symbolic integration.  The Gaussian
  semantics computes expectations of polynomials from these moments.

Equality cases (``elbo_book.derive.equality``) are checked statements a chapter can display:
KL(q(z|x) ‖ p(z|x)) = 0 ⟺ p(z|x) = q(z|x) at every z (full support; :func:`kl_equality_case`);
the Jensen bound log p(x) ≥ ℒ is tight ⟺ p(x, z)/q(z|x) is constant in z
(= E_q[p(x, z)/q(z|x)]), equivalently ⟺ q(z|x) = p(z|x) at every z
(:func:`jensen_equality_case_elbo`); ℍ[q] = log K ⟺ q is uniform, q(z) = 1/K at every z
(:func:`entropy_equality_case`).
"""

from __future__ import annotations

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap
from elbo_book.derive.equality import EqualityCase, jensen_equality_case
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import MAX_MOMENT, Gaussian, K, N, mu_p, mu_q, sigma_p, sigma_q
from elbo_book.derive.terms import (
    KL,
    Entropy,
    Expect,
    Integral,
    LogGap,
    Num,
    SumN,
    Term,
    Value,
    log,
    p,
    q,
    x,
    x_n,
    z,
)

__all__ = [
    "CHAPTER",
    "ENCODER",
    "GAUSSIAN_KL_CLOSED_FORM",
    "HALF",
    "JOINT",
    "POSTERIOR",
    "STANDARD_NORMAL_KL_CLOSED_FORM",
    "average_over_data",
    "elbo_of_point_n",
    "entropy_equality_case",
    "jensen_equality_case_elbo",
    "kl_equality_case",
]

CHAPTER = "00_foundations"
"""The chapter under which the lemmas are registered (the verification report's first rows)."""

ENCODER = q(z | x)
"""The encoder q_φ(z | x), the variational distribution of the latent z of one data point x."""
JOINT = p(x, z)
"""The model's joint density p_θ(x, z)."""
POSTERIOR = p(z | x)
"""The model's posterior p_θ(z | x)."""
HALF = Num(sympy.Rational(1, 2))
"""The exact constant 1/2."""


def elbo_of_point_n() -> Term:
    """ℒ(x_n) = E_q(z|x_n)[log p(x_n, z)/q(z|x_n)]: the ELBO of the n-th data point (inside a
    sum over n)."""
    q_n = q(z | x_n)
    return Expect(q_n, log(p(x_n, z) / q_n))


def average_over_data(body: Term) -> Term:
    """(1/N) Σ_n body: the average over the data points of a term of x_n."""
    return (1 / N) * SumN(body)


GAUSSIAN_KL_CLOSED_FORM = (
    log(sigma_p / sigma_q) + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2) - HALF
)
"""KL(N(μ, σ²) ‖ N(μ₀, σ₀²)) = log(σ₀/σ) + (σ² + (μ − μ₀)²)/(2σ₀²) − 1/2, for q(z | x) = N(μ, σ²)
and p(z) = N(μ₀, σ₀²) (derivation ``gaussian_kl_closed_form``)."""
STANDARD_NORMAL_KL_CLOSED_FORM = HALF * (mu_q**2 + sigma_q**2 - 1 - log(sigma_q**2))
"""KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) (derivation ``kl_standard_normal``)."""

_p = p(z, sub=False)
_q = q(z, sub=False)


@register(chapter=CHAPTER)
def gibbs_inequality() -> Derivation:
    """KL(q ‖ p) ≥ 0 (Gibbs' inequality) via log t ≤ t − 1."""
    return (
        Derivation("gibbs_inequality", KL(_q, _p), title="Gibbs' inequality: KL(q ‖ p) ≥ 0")
        .eq(Expect(_q, -log(_p / _q)), "definition of KL; log(a/b) = −log(b/a)", label="def")
        .ge(
            Expect(_q, 1 - _p / _q),
            "−log t ≥ 1 − t for t > 0 (log t ≤ t − 1), under the expectation",
            certificate=Gap(Expect(_q, LogGap(_p / _q))),
            label="log-bound",
        )
        .eq(1 - Expect(_q, _p / _q), "linearity of expectation; E_q[1] = 1", label="linear")
        .eq(
            1 - Integral(_p, "z"),
            "q cancels where q > 0; needs q > 0 wherever p > 0",
            label="cancel",
        )
        .eq(0, "p is normalised", label="normalised")
    )


def _uniform_ratio() -> Term:
    """t = (1/K) / q(z): the uniform mass over the mass of q."""
    return (1 / K) / _q


@register(chapter=CHAPTER)
def entropy_at_most_log_k() -> Derivation:
    """ℍ[q] ≤ log K on K points: log K − ℍ[q] = E_q[t − 1 − log t], t = (1/K)/q."""
    return Derivation(
        "entropy_at_most_log_k", Entropy(_q), title="The entropy on K points is at most log K"
    ).le(
        log(K),
        "log K − ℍ[q] = E_q[t − 1 − log t] with t = (1/K)/q (the KL from q to the uniform)",
        certificate=Gap(Expect(_q, LogGap(_uniform_ratio()))),
        label="uniform",
    )


def kl_equality_case() -> EqualityCase:
    """KL(q(z|x) ‖ p(z|x)) = 0 ⟺ p(z|x) = q(z|x) at every z (every mass of q positive)."""
    return EqualityCase(KL(q(z | x), p(z | x))).verify()


def jensen_equality_case_elbo(equivalent: bool = False) -> EqualityCase:
    """log E_q[p(x, z)/q(z|x)] = E_q[log p(x, z)/q(z|x)] ⟺ p(x, z)/q(z|x) = E_q[p(x, z)/q(z|x)]
    at every z (the ratio is constant in z); with ``equivalent=True`` stated as
    p(z|x) = q(z|x) at every z (proven to be the same condition)."""
    qz, pxz = q(z | x), p(x, z)
    return jensen_equality_case(
        log(Expect(qz, pxz / qz)),
        Expect(qz, log(pxz / qz)),
        equivalent=(p(z | x), qz) if equivalent else None,
    )


def entropy_equality_case() -> EqualityCase:
    """ℍ[q] = log K ⟺ q(z) = 1/K at every z (on K points, every mass of q positive)."""
    return EqualityCase(
        log(K) - Entropy(_q),
        equivalent=(1 / K, _q),
        form=Expect(_q, LogGap(_uniform_ratio())),
    ).verify()


_mu, _s = mu_q, sigma_q
_CLOSED_FORMS: dict[int, Term] = {
    0: Num(sympy.Integer(1)),
    1: _mu,
    2: _mu**2 + _s**2,
    3: _mu**3 + 3 * _mu * _s**2,
    4: _mu**4 + 6 * _mu**2 * _s**2 + 3 * _s**4,
}


def _moment(j: int) -> Derivation:
    body: Term = Value("z") ** j if j else Num(sympy.Integer(1))
    return Derivation(
        f"gaussian_moment_{j}",
        Expect(q(z | x), body),
        title=f"Gaussian moment E[z^{j}] under q = N(μ, σ²)",
        semantics=(Gaussian(integrate=True),),
    ).eq(_CLOSED_FORMS[j], f"∫ z^{j} N(z; μ, σ²) dz by sympy.integrate", label="integrate")


for _j in range(MAX_MOMENT + 1):

    def _build_moment(j: int = _j) -> Derivation:
        return _moment(j)

    register(chapter=CHAPTER)(_build_moment)
