"""The Errata of the annotated ELBO bibliography (``elbo_bibliography_post``; labels
``erratum-002-…``): one :class:`~elbo_book.book.errata.records.Erratum` per mistake,
each with its checks, in the page's order within each kind (wrong, typo, imprecise);
``catalogue`` registers their derivations.

Equation numbers follow the source's own rule: one number per row of each ``align`` block, a
trailing ``\\\\`` adding an empty numbered row (the rule its own references "(8)", "(11)" and
"(12)" assume; see ``notation.align_rows``): (1)–(6) the evidence bound ((6) empty),
(7)–(11) the KL identity, (12)–(16) the Kingma–Welling split ((16) empty), (17)–(19) the energy
form ((19) empty), (20)–(25) the per-point expansion, (26)–(28) the sum over n ((28) empty), then
an unnumbered line with the prefactor 1/N, (29)–(39) the surgery chain ((39) empty), and the
unnumbered decomposition that closes the section.
"""

from __future__ import annotations

import sympy

from elbo_book.book.errata.records import (
    NEAR_POSTERIOR,
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
from elbo_book.derive.checks import Gap, Numeric
from elbo_book.derive.semantics import N
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Entropy,
    Expect,
    MutualInfo,
    Named,
    Scalar,
    SumN,
    log,
    n,
    p,
    q,
    x,
    x_n,
    z,
    z_n,
)

__all__ = ["ENTRIES"]

_R = sympy.Rational
_qzx, _pxz, _pzx, _pz, _px, _pxgz = q(z | x), p(x, z), p(z | x), p(z), p(x), p(x | z)

_ELBO_OF_Q = Named(r"\mathrm{ELBO}(q_{\phi})", "ELBO", ELBO.definition())
"""The source's name for the ELBO, ELBO(q_φ) (the same quantity as the book's ℒ)."""
_EQ8 = Expect(_qzx, log(p(z, x)) - log(_qzx))
_RECON_N = Expect(q(z_n | x_n), log(p(x_n | z_n)))
_KL_N = KL(q(z_n | x_n), p(z_n))
_MI_BODY = log(q(n, z) / (q(n) * q(z)))
_MI = MutualInfo(q(n, z), "n", "z")
_KL_AGGREGATE = KL(q(z), p(z))
_HALF = _R(1, 2)
_BETA_HALF = Expect(_qzx, log(_pxgz)) - _HALF * KL(_qzx, _pz)
_DELTA = Scalar("delta", r"\delta")  # β = 1 + δ with δ > 0

# A row of the surgery chain, (31), which (32) repeats.
_SURGERY_ROW = r"&= \frac{1}{N}\sum_n E_{q(z\vert n)} \log \frac{q(n\vert z)q(z)}{p(z)q(n)}"

# The source's blocks (1)–(6) and (12)–(16), one placeholder per row (row contents are in the
# chapter): both end in a trailing \\, so the last number is an empty row.
_BLOCK_1 = r"&= \log\int p \\ &= \ldots \\ &= \ldots \\ &= \ldots \\ &\ge \int q \log[\ldots] \\"
_BLOCK_12 = r"&= E[\ldots] \\ &= \ldots \\ &= \ldots \\ &= \mathrm{Rec.} - \mathrm{Shrinkage} \\"

#: The errata of the annotated ELBO bibliography, in the order of the page.
ENTRIES: tuple[Erratum, ...] = (
    # ---------------------------------------------------------------- wrong
    Erratum(
        label="erratum-002-upper-bound-energy",
        location="'upper bound on a system's energy function'",
        kind="wrong",
        title="the ELBO is a lower bound; −ELBO upper-bounds the free energy",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=_ELBO_OF_Q,
            as_written=-log(_px),
            why_as_written="source: the ELBO as an upper bound on the (free) energy −log p(x)",
            rel_as_written="≥",
            certificate_as_written=Numeric(trials=20),
            start_corrected=-_ELBO_OF_Q,
            then=(
                CorrectedStep(
                    -log(_px),
                    "−ELBO (the variational free energy) ≥ −log p(x) (the free energy); gap "
                    "KL(q ‖ p(z|x))",
                    rel="≥",
                    certificate=Gap(KL(_qzx, _pzx)),
                ),
            ),
            discrepancy=Discrepancy(
                quantity=KL(_qzx, _pzx) - 2 * log(_px),
                why="ELBO = log p(x) − KL(q ‖ p(z|x))",
                meaning="the free energy −log p_θ(x) exceeds the ELBO by KL(q ‖ p_θ(z|x)) − "
                "2·log p_θ(x), which is positive whenever p_θ(x) < 1",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-bayes-rule",
        location="setup, 'p(z|x) = p(x,z)p(z)/p(x)'",
        kind="wrong",
        title="Bayes' rule with an extra factor p(z)",
        see="01_jensen_bound",
        check=EngineCheck(
            start=Expect(_qzx, log(_pzx)),
            as_written=Expect(_qzx, log(_pxz * _pz / _px)),
            why_as_written="source's Bayes' rule p(z|x) = p(x, z) p(z) / p(x), under E_q for an "
            "arbitrary q",
            corrected=Expect(_qzx, log(_pxgz * _pz / _px)),
            why_corrected="Bayes' rule p(z|x) = p(x|z) p(z) / p(x) = p(x, z) / p(x)",
            then=(CorrectedStep(Expect(_qzx, log(_pxz / _px)), "p(x|z) p(z) = p(x, z)"),),
            discrepancy=Discrepancy(
                quantity=Expect(_qzx, log(_pz)),
                why="log of a product; p(x, z)/p(x) = p(z|x)",
                meaning="the extra factor p_θ(z) adds E_q[log p_θ(z)] to the right side "
                "(negative: the right side falls short by the cross-entropy −E_q[log p_θ(z)])",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-vb-ep",
        location="'either variational Bayes or expectation propagation'",
        kind="wrong",
        title="the KL directions of VB and EP are swapped",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=log(_px) - _ELBO_OF_Q,
            as_written=KL(_pzx, _qzx),
            why_as_written="source: variational Bayes goes with KL(p ‖ q)",
            corrected=KL(_qzx, _pzx),
            why_corrected="the ELBO gap is KL(q ‖ p): maximising the ELBO (VB) minimises KL(q ‖ p)",
            discrepancy=Discrepancy(
                quantity=KL(_pzx, _qzx) - KL(_qzx, _pzx),
                why="log p(x) − ELBO = KL(q ‖ p(z|x))",
                meaning="the ELBO's gap is KL(q ‖ p(z|x)); the right side differs from it by "
                "KL(p ‖ q) − KL(q ‖ p), which is not zero: KL is not symmetric",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-eq9",
        location="eq. (9)",
        kind="wrong",
        title="sign of log p(x)",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=_EQ8,
            as_written=Expect(_qzx, log(p(z | x)) - log(_qzx) - log(_px)),
            why_as_written="source eq. (9): log p(z, x) = log p(z|x) − log p(x)",
            corrected=Expect(_qzx, log(p(z | x)) - log(_qzx) + log(_px)),
            why_corrected="log p(z, x) = log p(z|x) + log p(x)",
            then=(
                CorrectedStep(
                    -KL(_qzx, _pzx) + Expect(_qzx, log(_px)), "linearity; definition of KL"
                ),
                CorrectedStep(-KL(_qzx, _pzx) + log(_px), "log p(x) does not depend on z"),
            ),
            discrepancy=Discrepancy(
                quantity=-2 * log(_px),
                why="log p(z, x) = log p(z|x) + log p(x); log p(x) does not depend on z",
                meaning="the right side falls short of (8) by 2·log p_θ(x): it subtracts "
                "log p_θ(x) where (8) adds it",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-eq18-entropy",
        location="eq. (18), label 'Entropy'",
        kind="wrong",
        title="E_q[log q] labelled 'Entropy' (it is −ℍ[q])",
        see="02_kl_elbo_identity",
        check=EngineCheck(
            start=_EQ8,
            as_written=Expect(_qzx, log(p(z, x))) - Entropy(_qzx),
            why_as_written="source eq. (18): the subtracted term E_q[log q] labelled 'Entropy'",
            corrected=Expect(_qzx, log(p(z, x))) + Entropy(_qzx),
            why_corrected="−E_q[log q] = +ℍ[q]: negative expected energy plus entropy",
            discrepancy=Discrepancy(
                quantity=-2 * Entropy(_qzx),
                why="ℍ[q] = −E_q[log q]",
                meaning="read with its label, the right side falls short by 2·ℍ[q_φ(z|x)]: the "
                "braced term E_q[log q_φ(z|x)] is −ℍ[q_φ(z|x)], not ℍ[q_φ(z|x)]",
                point=ONE_POINT,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-entropy-spread",
        location="'keeping most of its probability mass from spreading out'",
        kind="wrong",
        title="entropy rewards spreading mass out",
        check=NumericClaim("entropy_spread"),
    ),
    Erratum(
        label="erratum-002-eq37-stray-sum",
        location="eq. (37)",
        kind="wrong",
        title="a stray Σ_n multiplies the mutual information by N",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=average_over_data(Expect(q(z | n), _MI_BODY)),
            as_written=N * Expect(q(n, z), _MI_BODY),
            why_as_written="source eq. (37): Σ_n E_q(n,z)[…]; the expectation binds n, so the "
            "summand does not depend on the outer n and the sum is N times it",
            corrected=Expect(q(n, z), _MI_BODY),
            why_corrected="q(n) q(z|n) = q(n, z): the average over n is part of the expectation",
            then=(CorrectedStep(_MI, "definition of mutual information"),),
            discrepancy=Discrepancy(
                quantity=(N - 1) * _MI,
                why="(1/N) Σ_n E_q(z|n)[f] = E_q(n,z)[f] = 𝕀_q(n; z)",
                meaning="the right side is N·𝕀_q(n; z): it exceeds the correct 𝕀_q(n; z) by "
                "(N − 1)·𝕀_q(n; z)",
                point=TWO_POINTS,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-sum-of-kl",
        location="'rearranges the sum of per-data point KL divergences' (after the surgery chain)",
        kind="wrong",
        title="the SUM of the per-point KLs is N·(KL(q(z) ‖ p(z)) + 𝕀); the chain has their "
        "average",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=SumN(KL(q(z | n), p(z))),
            as_written=_KL_AGGREGATE + _MI,
            why_as_written="source: 'rearranges the sum of per-data point KL divergences' into "
            "KL(q(z) ‖ p(z)) + 𝕀",
            start_corrected=average_over_data(KL(q(z | n), p(z))),
            then=(
                CorrectedStep(
                    _KL_AGGREGATE + _MI,
                    "ELBO surgery: the AVERAGE of the per-point KLs is KL of the aggregate + "
                    "𝕀(n; z)",
                ),
            ),
            discrepancy=Discrepancy(
                quantity=(1 - N) * (_KL_AGGREGATE + _MI),
                why="ELBO surgery: Σ_n KL(q(z|n) ‖ p(z)) = N·(KL(q(z) ‖ p(z)) + 𝕀_q(n; z))",
                meaning="the sum of the per-point KLs is N times KL(q(z) ‖ p(z)) + 𝕀_q(n; z): "
                "the right side falls short by (N − 1)·(KL(q(z) ‖ p(z)) + 𝕀_q(n; z))",
                point=TWO_POINTS,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-isotropic-disentangle",
        location="'promotes cross-factor independence'",
        kind="wrong",
        title="an isotropic prior cannot select disentangled axes",
        see="05_beta_vae",
        check=NumericClaim("isotropic_prior_rotation"),
    ),
    Erratum(
        label="erratum-002-kl-isotropic",
        location="'KL divergence is proportional to log|Σq|/|Σp|'",
        kind="wrong",
        title="KL between isotropic Gaussians is not a log-variance ratio",
        see="05_beta_vae",
        check=NumericClaim("isotropic_gaussian_kl"),
    ),
    Erratum(
        label="erratum-002-beta-prior-variance",
        location="'adjusting β … equivalent to tweaking our latent space prior variance'",
        kind="wrong",
        title="β is not a prior variance",
        see="05_beta_vae",
        check=NumericClaim("beta_vs_prior_variance"),
    ),
    # ---------------------------------------------------------------- typo
    Erratum(
        label="erratum-002-eq3-eq4",
        location="eqs. (3)–(4)",
        kind="typo",
        title="(3) drops φ from q; (4) repeats (3) with φ restored",
        see="01_jensen_bound",
        check=NotationClaim(
            rule="variational_subscript",
            as_written=r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q(z\vert x)}",
            corrected=r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q_{\phi}(z\vert x)}",
        ),
    ),
    Erratum(
        label="erratum-002-empty-rows-cited",
        location="'equation 6' (after (5)) and '(16)' (after (15))",
        kind="typo",
        title="the text cites the empty rows (6) and (16) for the bound (5) and the split (15)",
        see="01_jensen_bound",
        check=NotationClaim(
            rule="cited_rows",
            as_written=f"% first=1 cited=6\n{_BLOCK_1}\n% first=12 cited=16\n{_BLOCK_12}",
            corrected=f"% first=1 cited=5\n{_BLOCK_1}\n% first=12 cited=15\n{_BLOCK_12}",
        ),
    ),
    Erratum(
        label="erratum-002-eq25-dzn",
        location="eq. (25)",
        kind="typo",
        title="the last differential is dz_n, not dz_N",
        check=NotationClaim(
            rule="differentials",
            as_written=r"\int_{z_1}\ldots \int_{z_N}\prod_n q_\phi(z_n\vert x_n) [\ldots] dz_1 "
            r"\ldots dz_n",
            corrected=r"\int_{z_1}\ldots \int_{z_N}\prod_n q_\phi(z_n\vert x_n) [\ldots] dz_1 "
            r"\ldots dz_N",
        ),
    ),
    Erratum(
        label="erratum-002-eq26-dz-inside",
        location="eq. (26)",
        kind="typo",
        title="the differential dz_n sits inside the integrand's bracket",
        check=NotationClaim(
            rule="differential_outside",
            as_written=r"\int_{z_n} q_\phi(z_n\vert x_n)\left(\log p_\theta(x_n\vert z_n)"
            r" - \log \frac{q_\phi(z_n\vert x_n)}{p_\theta(z_n)} d z_n\right)",
            corrected=r"\int_{z_n} q_\phi(z_n\vert x_n)\left(\log p_\theta(x_n\vert z_n)"
            r" - \log \frac{q_\phi(z_n\vert x_n)}{p_\theta(z_n)}\right) d z_n",
        ),
    ),
    Erratum(
        label="erratum-002-eq27-kl-outside",
        location="eq. (27) and the 1/N line after it",
        kind="typo",
        title="the KL term outside the sum over n (a missing bracket)",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=SumN(elbo_of_point_n()),
            as_written=SumN(_RECON_N) - _KL_N,
            why_as_written="source eq. (27): the KL term stands outside the sum over n",
            corrected=SumN(_RECON_N - _KL_N),
            why_corrected="per-point Kingma–Welling split, summed over n",
        ),
    ),
    Erratum(
        label="erratum-002-eq32-repeat",
        location="eqs. (31)–(32)",
        kind="typo",
        title="a row of the surgery chain is repeated",
        check=NotationClaim(
            rule="repeated_rows",
            as_written=f"{_SURGERY_ROW} \\\\ {_SURGERY_ROW}",
            corrected=_SURGERY_ROW,
        ),
    ),
    Erratum(
        label="erratum-002-decomposition-bracket",
        location="the decomposition after the surgery chain",
        kind="typo",
        title="a misplaced bracket in the subscript E_{q(z_n|x_n)}",
        check=NotationClaim(
            rule="subscript_brackets",
            as_written=r"E_{q_\phi(z_n\vert x_n})\left[\log p_\theta(x_n\vert z_n)\right]",
            corrected=r"E_{q_\phi(z_n\vert x_n)}\left[\log p_\theta(x_n\vert z_n)\right]",
        ),
    ),
    # ---------------------------------------------------------------- imprecise
    Erratum(
        label="erratum-002-expected-lower-bound",
        location="'expected lower bound on the evidence'",
        kind="imprecise",
        title="ELBO is the evidence lower bound; the name suggests a bound at every z",
        see="01_jensen_bound",
        check=NumericClaim("pointwise_log_weight"),
    ),
    Erratum(
        label="erratum-002-factorisation",
        location="eqs. (22)–(26), 'z_i is independent of z_j given x_i'",
        kind="imprecise",
        title="the per-point split needs three unstated factorisations",
        see="04_elbo_surgery",
        check=NumericClaim("factorised_encoder"),
    ),
    Erratum(
        label="erratum-002-one-over-n",
        location="'ELBO(q_φ) = 1/N(…)' after eq. (27)",
        kind="imprecise",
        title="one name for the summed and the averaged ELBO",
        see="04_elbo_surgery",
        check=EngineCheck(
            start=SumN(_RECON_N - _KL_N),
            as_written=average_over_data(_RECON_N - _KL_N),
            why_as_written="source: 'ELBO(q_φ) = 1/N (…)' after ELBO(q_φ) = Σ_n (…) in eq. (27)",
            start_corrected=average_over_data(log(p(x_n))),
            then=(
                CorrectedStep(
                    average_over_data(_RECON_N - _KL_N),
                    "each log p(x_n) ≥ ℒ(x_n); the gap is the average KL to the exact posterior",
                    rel="≥",
                    certificate=Gap(average_over_data(KL(q(z | x_n), p(z | x_n)))),
                ),
            ),
            discrepancy=Discrepancy(
                quantity=(1 / N - 1) * SumN(_RECON_N - _KL_N),
                why="(1/N) Σ_n t_n − Σ_n t_n = (1/N − 1) Σ_n t_n",
                meaning="the new ELBO(q_φ) is the old one divided by N: they differ by "
                "(1 − 1/N) times the summed ELBO",
                point=TWO_POINTS,
            ),
        ),
    ),
    Erratum(
        label="erratum-002-decomposition-labels",
        location="'Expected reconstruction error', 'Decoded information'",
        kind="imprecise",
        title="the first term is minus an error; 𝕀(n; z) is the index-code mutual information",
        see="04_elbo_surgery",
        check=NumericClaim("index_code_labels"),
    ),
    Erratum(
        label="erratum-002-beta-elbo",
        location="β-VAE objective written 'ELBO(q_φ)'",
        kind="imprecise",
        title="the β-objective bounds log p(x) only for β ≥ 1",
        see="05_beta_vae",
        check=EngineCheck(
            start=log(_px),
            as_written=_BETA_HALF,
            why_as_written="source: the β-objective is 'the ELBO' — here β = 1/2",
            rel_as_written="≥",
            certificate_as_written=Numeric(trials=20),
            corrected=ELBO,
            why_corrected="log p(x) − ELBO = KL(q ‖ p(z|x)) ≥ 0",
            rel_corrected="≥",
            certificate_corrected=Gap(KL(_qzx, _pzx)),
            then=(
                CorrectedStep(
                    Expect(_qzx, log(_pxgz)) - (1 + _DELTA) * KL(_qzx, _pz),
                    "β = 1 + δ ≥ 1: subtracting δ·KL(q ‖ p(z)) ≥ 0 more",
                    rel="≥",
                    certificate=Gap(_DELTA * KL(_qzx, _pz)),
                ),
            ),
            discrepancy=Discrepancy(
                quantity=_HALF * KL(_qzx, _pz) - KL(_qzx, _pzx),
                why="E_q[log p(x|z)] − KL(q ‖ p(z)) = log p(x) − KL(q ‖ p(z|x))",
                meaning="the β = 1/2 objective exceeds log p_θ(x) by ½·KL(q ‖ p_θ(z)) − "
                "KL(q ‖ p_θ(z|x)), which is positive when q is close to the posterior but far "
                "from the prior",
                point=NEAR_POSTERIOR,
            ),
        ),
    ),
)
