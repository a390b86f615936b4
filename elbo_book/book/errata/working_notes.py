"""The Errata of the notes on the KL/ELBO decomposition (``shi_elbo_notes``; labels
``erratum-000-…``): one :class:`~elbo_book.book.errata.records.Erratum` per mistake,
each with its checks, in the page's order within each kind (wrong, typo, imprecise);
``catalogue`` registers their derivations.
"""

from __future__ import annotations

from elbo_book.book.errata.records import (
    ONE_POINT,
    TWO_POINTS,
    CorrectedStep,
    Discrepancy,
    EngineCheck,
    Erratum,
    NotationClaim,
    NumericClaim,
)
from elbo_book.book.shared import average_over_data, elbo_of_point_n
from elbo_book.derive.semantics import N
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Density,
    Entropy,
    Expect,
    MutualInfo,
    Named,
    SumN,
    Term,
    log,
    n,
    p,
    q,
    x,
    x_n,
    z,
)

__all__ = ["ENTRIES"]

_qzx, _pxz, _pzx = q(z | x), p(x, z), p(z | x)

_LOG_N = Named(r"\log N", "log N", Entropy(q(n)))
"""log N, checked as the entropy of the uniform index distribution q(n) = 1/N."""


def _surgery_right_side(kl_sign: int, index_density: Density) -> Term:
    """avg reconstruction − (log N − E_q(z) ℍ[index_density]) ± KL(q(z) ‖ p(z))."""
    recon = average_over_data(Expect(q(z | x_n), log(p(x_n | z))))
    mi = _LOG_N - Expect(q(z), Entropy(index_density))
    kl = KL(q(z), p(z))
    return recon - mi + kl if kl_sign > 0 else recon - mi - kl


_LINE4 = Expect(_qzx, log(_qzx * _pxz / (_pzx * _qzx)))
_AVERAGE_ELBO = average_over_data(elbo_of_point_n())
_SUM_ELBO = SumN(elbo_of_point_n())

# the book's free energy F = E_q[log q − log p(x, z)] = E_q[energy] − ℍ[q] (energy −log p(x, z))
_FREE_ENERGY = Named(
    r"\mathcal{F}(x; \theta, \phi)",
    "F(x; θ, φ)",
    Expect(_qzx, log(_qzx) - log(_pxz)),
)

#: The errata of the working notes on the KL/ELBO decomposition, in the order of the page.
ENTRIES: tuple[Erratum, ...] = (
    # ---------------------------------------------------------------- wrong
    Erratum(
        label="erratum-000-chain-sum",
        location="first chain, line 5",
        kind="wrong",
        title="log of a product turned into the log of a sum",
        check=EngineCheck(
            start=_LINE4,
            as_written=Expect(_qzx, log(_qzx / _pzx + _pxz / _qzx)),
            why_as_written="source: the product inside the log becomes a sum of the two ratios",
            corrected=Expect(_qzx, log(_qzx / _pzx) + log(_pxz / _qzx)),
            why_corrected="log of a product is the sum of the logs",
            then=(
                CorrectedStep(
                    Expect(_qzx, log(_qzx / _pzx)) + Expect(_qzx, log(_pxz / _qzx)),
                    "linearity of E",
                ),
                CorrectedStep(KL(_qzx, _pzx) + ELBO, "definitions of KL and of the ELBO"),
            ),
            discrepancy=Discrepancy(
                quantity=Expect(_qzx, log(_pzx / _qzx + _qzx / _pxz)),
                why="log(a + b) − log(ab) = log(1/b + 1/a) for a = q/p(z|x), b = p(x, z)/q; "
                "linearity of E",
                meaning="with a = q_φ(z|x)/p_θ(z|x) and b = p_θ(x,z)/q_φ(z|x), line 5 is "
                "E_q[log(a + b)] and line 4 is E_q[log(ab)]; the right side exceeds the left by "
                "E_q[log(1/a + 1/b)], which is not zero",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-000-surgery-sign",
        location="decomposition (1)–(3)",
        kind="wrong",
        title="+KL(q(z) ‖ p(z)) where −KL is meant",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=_AVERAGE_ELBO,
            as_written=_surgery_right_side(+1, q(n | z)),
            why_as_written="source: … + KL(q(z) ‖ p(z))",
            corrected=_surgery_right_side(-1, q(n | z)),
            why_corrected="ELBO surgery (Hoffman & Johnson): reconstruction − index-code MI − "
            "marginal KL",
            discrepancy=Discrepancy(
                quantity=2 * KL(q(z), p(z)),
                why="the two right sides differ only in the sign of KL(q(z) ‖ p(z)); ELBO surgery",
                meaning="the right side exceeds the correct one by 2·KL(q(z) ‖ p(z)), which is "
                "zero only when the aggregate posterior q(z) equals the prior",
                point=TWO_POINTS,
            ),
        ),
    ),
    # ---------------------------------------------------------------- typo
    Erratum(
        label="erratum-000-latent-x",
        location="'unobserved latent factors x'",
        kind="typo",
        title="the latent variable is z, not x",
        check=NotationClaim(
            rule="distinct_symbols",
            as_written=r"observations=\vv{x}; unobserved latent factors=\vv{x}",
            corrected=r"observations=\vv{x}; unobserved latent factors=\vv{z}",
        ),
    ),
    Erratum(
        label="erratum-000-chain-qxx",
        location="first chain, line 4",
        kind="typo",
        title="q_φ(x|x) where q_φ(z|x) is meant",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=Expect(_qzx, log(_pxz / _pzx)),
            as_written=Expect(_qzx, log(_qzx * _pxz / (_pzx * q(x | x)))),
            why_as_written="multiply by q/q = 1 inside the log (source: q_φ(x|x) in the "
            "denominator)",
            corrected=_LINE4,
            why_corrected="multiply by q_φ(z|x)/q_φ(z|x) = 1 inside the log",
        ),
    ),
    Erratum(
        label="erratum-000-expectation-subscript",
        location="every expectation, E_{q_φ(z∼z|x)}",
        kind="typo",
        title="'z∼z' inside the expectation's density",
        check=NotationClaim(
            rule="expectation_subscript",
            as_written=r"\Ex_{ q_{\phi}(\vv{z}\sim\vv{z}|\vv{x})}\left[ 1 \right]",
            corrected=r"\Ex_{q_{\phi}(\vv{z}|\vv{x})}\left[ 1 \right]",
        ),
    ),
    Erratum(
        label="erratum-000-entropy-index",
        location="decomposition, term (2)",
        kind="typo",
        title="ℍ[q(x_n|z)] where ℍ[q(n|z)] is meant",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=MutualInfo(q(n, z), "n", "z"),
            as_written=_LOG_N - Expect(q(z), Entropy(q(x_n | z))),
            why_as_written="source: the entropy of q(x_n | z)",
            corrected=_LOG_N - Expect(q(z), Entropy(q(n | z))),
            why_corrected="𝕀(n; z) = ℍ[q(n)] − E_q(z) ℍ[q(n|z)], and ℍ[q(n)] = log N for "
            "uniform q(n)",
        ),
    ),
    Erratum(
        label="erratum-000-kl-bar",
        location="decomposition, term (3)",
        kind="typo",
        title="KL(q(z) | p(z)) written with a single bar",
        check=NotationClaim(
            rule="kl_separator",
            as_written=r"\kl(q(z)\mid p(z))",
            corrected=r"\kl(q(z)\,\|\,p(z))",
        ),
    ),
    # ---------------------------------------------------------------- imprecise
    Erratum(
        label="erratum-000-kl-metric",
        location="'the most convenient probability metric (i.e. KL divergence)'",
        kind="imprecise",
        title="KL is a divergence, not a metric",
        see="02_kl_elbo_identity",
        check=NumericClaim("kl_is_not_a_metric"),
    ),
    Erratum(
        label="erratum-000-free-energy",
        location="'is called the free energy'",
        kind="imprecise",
        title="in the physics sign convention the ELBO is the NEGATIVE free energy",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=ELBO,
            as_written=_FREE_ENERGY,
            why_as_written="source: the ELBO 'is called the free energy'; physics convention "
            "F = E_q[energy] − ℍ[q], energy −log p(x, z)",
            corrected=-_FREE_ENERGY,
            why_corrected="the ELBO is the NEGATIVE variational free energy",
            discrepancy=Discrepancy(
                quantity=-2 * ELBO,
                why="F = −ℒ by the definitions",
                meaning="in the physics convention F = −ℒ, so F − ℒ = −2ℒ: the two agree only "
                "where ℒ = 0",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-000-surgery-lhs",
        location="decomposition, left-hand side",
        kind="imprecise",
        title="the right side is the AVERAGE ELBO over the data; ℒ(x) of the data set is N "
        "times it",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=_SUM_ELBO,
            as_written=_surgery_right_side(-1, q(n | z)),
            why_as_written="source: left side ℒ(x, θ, φ) = Σ_n ℒ(x_n) (sign of (3) fixed)",
            start_corrected=_AVERAGE_ELBO,
            then=(
                CorrectedStep(
                    _surgery_right_side(-1, q(n | z)),
                    "ELBO surgery, for the AVERAGE over the data",
                ),
            ),
            discrepancy=Discrepancy(
                quantity=(1 / N - 1) * _SUM_ELBO,
                why="the right side is the average (1/N) Σ_n ℒ(x_n) (ELBO surgery)",
                meaning="the right side is the average of the N per-point ELBOs, the left side "
                "their sum: the left side is N times the right side (they differ by "
                "(1 − 1/N)·Σ_n ℒ(x_n))",
                point=TWO_POINTS,
            ),
        ),
    ),
)
