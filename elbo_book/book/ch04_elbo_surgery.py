"""Chapter 4 (ELBO surgery): the checked derivations the chapter displays.

Setting: data points x_1..x_N, an encoder q(z|n) ≡ q_φ(z|x_n), the uniform index distribution
q(n) = 1/N, the joint q(n, z) = q(n) q(z|n), the aggregate posterior q(z) = (1/N) Σ_n q(z|n) and
the index posterior q(n|z) = q(n, z) / q(z).  Every data point shares the prior p(z), and
p(x_n, z) = p(z) p(x_n|z).

* ``surgery_average_kl``: (1/N) Σ_n KL(q(z|n) ‖ p(z)) = KL(q(z) ‖ p(z)) + 𝕀_q(n; z).
* ``surgery_elbo``: the averaged ELBO = average reconstruction − 𝕀_q(n; z) − KL(q(z) ‖ p(z)).
* ``surgery_mutual_information``: 0 ≤ 𝕀_q(n; z) = E_q(n,z)[log q(z|n) − log q(z)]
  = log N − E_q(z) ℍ[q(n|z)] ≤ log N.
* ``surgery_summed_elbo``: Σ_n log p(x_n) ≥ Σ_n ℒ(x_n) = N · (1/N) Σ_n ℒ(x_n).

Every step is proven for every latent support size K and every data-set size N by the
indexed-sum prover (``elbo_book.derive.indexed_sums``: the data index is a summation index like the
latent); the finite sizes K = 2, 3, 4 and N = 2, 3 below are only the fallback, used when that
prover cannot decide a step (the badge then names them).
"""

from __future__ import annotations

from elbo_book.book.shared import average_over_data, elbo_of_point_n
from elbo_book.derive import E
from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, N
from elbo_book.derive.terms import (
    KL,
    Entropy,
    MutualInfo,
    Term,
    as_term,
    log,
    n,
    p,
    q,
    x_n,
    z,
)
from elbo_book.derive.terms import SumN as _SumN

__all__ = [
    "CHAPTER",
    "SEMANTICS",
]

#: The chapter (its notebook's stem) this module's derivations are registered under.
CHAPTER = "04_elbo_surgery"
#: The semantics every derivation of the chapter is checked in (finite supports, with the index).
SEMANTICS = (Finite(sizes=(2, 3, 4), index_sizes=(2, 3)),)


def _mi() -> Term:
    return MutualInfo(q(n, z), "n", "z")


@register(chapter=CHAPTER)
def surgery_average_kl() -> Derivation:
    """(1/N) Σ_n KL(q(z|n) ‖ p(z)) = KL(q(z) ‖ p(z)) + 𝕀_q(n; z)."""
    qzn = q(z | n)
    return (
        Derivation(
            "surgery_average_kl",
            average_over_data(KL(qzn, p(z))),
            title="The average KL splits into the marginal KL and the index-code information",
            semantics=SEMANTICS,
        )
        .eq(average_over_data(E(qzn, log(qzn / p(z)))), "definition of KL", label="kl")
        .eq(
            average_over_data(E(qzn, log((q(n | z) * q(z)) / (q(n) * p(z))))),
            "Bayes' rule for the index: q(z|n) = q(n|z) q(z) / q(n)",
            label="bayes",
        )
        .eq(
            average_over_data(E(qzn, log(q(z) / p(z))))
            + average_over_data(E(qzn, log(q(n | z) / q(n)))),
            "log of a product is a sum of logs; linearity of E and of Σ_n",
            label="split",
        )
        .eq(
            E(q(z), log(q(z) / p(z))) + E(q(n, z), log(q(n | z) / q(n))),
            "(1/N) Σ_n q(z|n) = q(z) (aggregate posterior); q(n) q(z|n) = q(n, z)",
            label="aggregate",
        )
        .eq(
            KL(q(z), p(z)) + _mi(),
            "definition of KL; 𝕀_q(n; z) = E_q(n,z)[log q(n|z)/q(n)]",
            label="mi",
        )
    )


@register(chapter=CHAPTER)
def surgery_elbo() -> Derivation:
    """(1/N) Σ_n ℒ(x_n) = (1/N) Σ_n E_q(z|x_n)[log p(x_n|z)] − 𝕀_q(n; z) − KL(q(z) ‖ p(z))."""
    qzn = q(z | x_n)
    reconstruction = average_over_data(E(qzn, log(p(x_n | z))))
    return (
        Derivation(
            "surgery_elbo",
            average_over_data(E(qzn, log(p(x_n, z) / qzn))),
            title="ELBO surgery: reconstruction − index-code information − marginal KL",
            semantics=SEMANTICS,
        )
        .eq(
            reconstruction - average_over_data(KL(qzn, p(z))),
            "p(x_n, z) = p(z) p(x_n|z) (one prior for all points); linearity; definition of KL",
            label="split",
        )
        .eq(
            reconstruction - _mi() - KL(q(z), p(z)),
            "the average KL is 𝕀_q(n; z) + KL(q(z) ‖ p(z)) (surgery_average_kl)",
            label="surgery",
        )
    )


@register(chapter=CHAPTER)
def surgery_mutual_information() -> Derivation:
    """0 ≤ 𝕀_q(n; z) = E[log q(z|n) − log q(z)] = log N − E_q(z) ℍ[q(n|z)] ≤ log N.

    The last step needs ℍ[q(n|z)] ≥ 0, true because n is discrete: −log q(n|z) ≥ 0 since
    q(n|z) = q(z|n) / Σ_m q(z|m) ≤ 1 (a sum of positive terms is at least each of its terms),
    which the non-negativity rules prove for every N.
    """
    return (
        Derivation(
            "surgery_mutual_information",
            as_term(0),
            title="The index-code information lies between 0 and log N",
            semantics=SEMANTICS,
        )
        .le(
            _mi(),
            "mutual information is a KL divergence, ≥ 0",
            certificate=Gap(_mi()),
            label="nonneg",
        )
        .eq(
            E(q(n, z), log(q(z | n) / q(z))),
            "definition of 𝕀; q(n|z)/q(n) = q(z|n)/q(z) (Bayes' rule)",
            label="estimator",
        )
        .eq(
            log(N) - E(q(z), Entropy(q(n | z))),
            "q(z|n)/q(z) = N q(n|z); E_q(n,z)[log q(n|z)] = −E_q(z) ℍ[q(n|z)]",
            label="entropy",
        )
        .le(
            log(N),
            "ℍ[q(n|z)] ≥ 0: the entropy of a distribution over the discrete index n",
            certificate=Gap(E(q(z), Entropy(q(n | z)))),
            label="bound",
        )
    )


@register(chapter=CHAPTER)
def surgery_summed_elbo() -> Derivation:
    """Σ_n log p(x_n) ≥ Σ_n ℒ(x_n) = N · (1/N) Σ_n ℒ(x_n)."""
    qzn = q(z | x_n)
    elbo_n = elbo_of_point_n()
    return (
        Derivation(
            "surgery_summed_elbo",
            _SumN(log(p(x_n))),
            title="The summed ELBO bounds Σ_n log p(x_n); the averaged one is 1/N of it",
            semantics=SEMANTICS,
        )
        .ge(
            _SumN(elbo_n),
            "log p(x_n) − ℒ(x_n) = KL(q(z|x_n) ‖ p(z|x_n)) ≥ 0 for every n",
            certificate=Gap(_SumN(KL(qzn, p(z | x_n)))),
            label="bound",
        )
        .eq(N * average_over_data(elbo_n), "the sum is N times the average", label="average")
    )
