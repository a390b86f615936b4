"""The Errata: every mistake found in the two source documents, each with a machine check.

Sources: seed 000 (notes on the KL/ELBO decomposition, cited as ``shi_elbo_notes`` in the book's
bibliography) and seed 002 (an annotated ELBO bibliography, ``elbo_bibliography_post``).

Each :class:`Erratum` has a stable label (the MyST label of its section in
``chapters/errata.ipynb``), the source and location, a kind, and two checks:

* ``as_written()`` — the source's version, which must FAIL: a derivation whose step is marked
  ``expect_fail`` (the engine shows the failing check), a numeric counterexample
  (:mod:`~elbo_book.derive.library.errata_claims`) or a notation check
  (:mod:`~elbo_book.derive.library.errata_notation`);
* ``corrected()`` — the corrected statement, which must PASS.

Equation entries use the SymPy engine; their derivations are registered under the chapter
``errata`` so ``python -m elbo_book.verify`` counts the expected failures.  Kinds:
``wrong`` (a false equation or claim), ``typo`` (a notational slip that changes no intended
mathematics) and ``imprecise`` (a misleading name, or a statement true only under conditions the
source does not state).

Equation numbers for seed 002 follow its own numbering (an ``align`` row per number, a trailing
``\\\\`` adding an empty numbered row — the convention its cross-references "(6)", "(11)", "(16)"
assume): (1)–(6) evidence bound, (7)–(11) KL identity, (12)–(16) Kingma–Welling split,
(17)–(19) energy form, (20)–(25) per-point expansion, (26)–(27) sum over n, (28)–(37) the
surgery chain, then the unnumbered decomposition that follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Gap, Numeric
from elbo_book.derive.library import errata_claims as claims
from elbo_book.derive.library.errata_claims import Check
from elbo_book.derive.library.errata_notation import notation_check
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, Gaussian, N, mu_q, sigma_p, sigma_q, uses_index
from elbo_book.derive.terms import (
    ELBO,
    KL,
    Entropy,
    Expect,
    MutualInfo,
    Named,
    SumN,
    Term,
    Var,
    log,
    n,
    p,
    q,
    x,
    x_n,
    z,
    z_n,
)

__all__ = [
    "CHAPTER",
    "ERRATA",
    "KINDS",
    "DerivationView",
    "Erratum",
    "by_label",
    "correction_passes",
    "failing_check_fails",
    "summary_rows",
    "view",
]

CHAPTER = "errata"
KINDS = ("wrong", "typo", "imprecise")
SOURCES = {"000": "seed 000 (ELBO notes)", "002": "seed 002 (ELBO bibliography)"}

E = Expect
Shown = Derivation | Check


# =============================================================================================
# Shared terms
# =============================================================================================
_qzx, _pxz, _pzx, _pz, _px, _pxgz = q(z | x), p(x, z), p(z | x), p(z), p(x), p(x | z)
_qzn = q(z | x_n)


def _elbo() -> Named:
    return ELBO


def _elbo_n() -> Term:
    """ℒ(x_n): the ELBO of the n-th data point (inside a sum over n)."""
    return E(_qzn, log(p(x_n, z) / _qzn))


def _avg(body: Term) -> Term:
    """(1/N) Σ_n body."""
    return (1 / N) * SumN(body)


def _log_n() -> Named:
    """log N, checked as the entropy of the uniform index distribution q(n) = 1/N."""
    return Named(r"\log N", "log N", Entropy(q(n)))


def _surgery_rhs(kl_sign: int, index_density: Term) -> Term:
    """avg reconstruction − (log N − E_q(z) ℍ[index_density]) ± KL(q(z) ‖ p(z))."""
    recon = _avg(E(_qzn, log(p(x_n | z))))
    mi = _log_n() - E(q(z), Entropy(index_density))  # type: ignore[arg-type]
    kl = KL(q(z), p(z))
    return recon - mi + kl if kl_sign > 0 else recon - mi - kl


# One small model refutes a false step (the engine shows the residual and a counterexample).
# Corrections are proven for K = 2, 3, 4 latent values; where the data index enters, for
# (K, N) = (2, 2), (3, 2), (2, 3) (chapters 2 and 4 prove the same identities at larger sizes).
_FAIL_SEMANTICS = (Finite(sizes=(2,), index_sizes=(2,)),)
_FIX_SEMANTICS = (Finite(sizes=(2, 3, 4)),)
_FIX_INDEX_SEMANTICS = (
    Finite(sizes=(2, 3), index_sizes=(2,)),
    Finite(sizes=(2,), index_sizes=(3,)),
)


def _pair(
    name: str,
    start: Term,
    wrong: Term,
    why_wrong: str,
    right: Term | None,
    why_right: str,
    *,
    rel_wrong: str = "=",
    rel_right: str = "=",
    cert_wrong: object = None,
    cert_right: object = None,
    semantics: tuple = (),
    more: Sequence[tuple[str, Term, str, object]] = (),
    start_right: Term | None = None,
) -> tuple[Derivation, Derivation]:
    """Register two derivations: ``<name>_as_written`` (one step, expected to fail) and
    ``<name>_corrected`` (the corrected step, then ``more`` steps)."""
    bad = Derivation(
        f"{name}_as_written",
        start,
        title="The source's version (expected to fail)",
        semantics=semantics or _FAIL_SEMANTICS,
    )
    bad = bad.step(
        rel_wrong,
        wrong,
        why_wrong,
        label="source",
        certificate=cert_wrong,  # type: ignore[arg-type]
        expect_fail=True,
    )
    terms = [start, right or start, start_right or start, *(m[1] for m in more)]
    fix = _FIX_INDEX_SEMANTICS if uses_index(terms) else _FIX_SEMANTICS
    good = Derivation(
        f"{name}_corrected", start_right or start, title="Corrected", semantics=semantics or fix
    )
    if right is not None:
        good = good.step(rel_right, right, why_right, label="fixed", certificate=cert_right)  # type: ignore[arg-type]
    for i, (rel, expr, why, cert) in enumerate(more, start=1):
        good = good.step(rel, expr, why, label=f"fixed.{i}", certificate=cert)  # type: ignore[arg-type]
    built_bad, built_good = bad, good
    return (
        register(chapter=CHAPTER)(lambda: built_bad),
        register(chapter=CHAPTER)(lambda: built_good),
    )


# =============================================================================================
# Seed 000 — derivations
# =============================================================================================
_LINE3 = E(_qzx, log(_pxz / _pzx))
_LINE4 = E(_qzx, log(_qzx * _pxz / (_pzx * _qzx)))

E000_QXX = _pair(
    "erratum_000_chain_qxx",
    _LINE3,
    E(_qzx, log(_qzx * _pxz / (_pzx * q(x | x)))),
    "multiply by q/q = 1 inside the log (source: q_φ(x|x) in the denominator)",
    _LINE4,
    "multiply by q_φ(z|x)/q_φ(z|x) = 1 inside the log",
)

E000_SUM = _pair(
    "erratum_000_chain_sum",
    _LINE4,
    E(_qzx, log(_qzx / _pzx + _pxz / _qzx)),
    "source: the product inside the log becomes a sum of the two ratios",
    E(_qzx, log(_qzx / _pzx) + log(_pxz / _qzx)),
    "log of a product is the sum of the logs",
    more=(
        ("=", E(_qzx, log(_qzx / _pzx)) + E(_qzx, log(_pxz / _qzx)), "linearity of E", None),
        ("=", KL(_qzx, _pzx) + _elbo(), "definitions of KL and of the ELBO", None),
    ),
)

# the book's free energy F = E_q[log q − log p(x, z)] = E_q[energy] − ℍ[q] (energy −log p(x, z))
_FREE_ENERGY = Named(
    r"\mathcal{F}(x; \theta, \phi)",
    "F(x; θ, φ)",
    E(_qzx, log(_qzx) - log(_pxz)),
)

E000_FREE = _pair(
    "erratum_000_free_energy",
    _elbo(),
    _FREE_ENERGY,
    "source: the ELBO 'is called the free energy' F = E_q[energy] − ℍ[q], energy −log p(x, z)",
    -_FREE_ENERGY,
    "the ELBO is the NEGATIVE variational free energy",
)

E000_DATA_COND = _pair(
    "erratum_000_data_conditional",
    _elbo(),
    E(_qzx, log(_pzx)) - KL(_qzx, _pz),
    "source: first term read as 'the data-conditional likelihood of the latents'",
    E(_qzx, log(_pxgz)) - KL(_qzx, _pz),
    "p(x, z) = p(x|z) p(z); split the log; definition of KL",
)

_AVG_ELBO = _avg(_elbo_n())

E000_SURGERY_SIGN = _pair(
    "erratum_000_surgery_sign",
    _AVG_ELBO,
    _surgery_rhs(+1, q(n | z)),
    "source: … + KL(q(z) ‖ p(z))",
    _surgery_rhs(-1, q(n | z)),
    "ELBO surgery (Hoffman & Johnson): reconstruction − index-code MI − marginal KL",
)

E000_SURGERY_LHS = _pair(
    "erratum_000_surgery_lhs",
    _elbo(),
    _surgery_rhs(-1, q(n | z)),
    "source: the left side is ℒ(x, θ, φ) of one data point x",
    None,
    "",
    more=(("=", _surgery_rhs(-1, q(n | z)), "ELBO surgery, for the AVERAGE over the data", None),),
    start_right=_AVG_ELBO,
)

E000_ENTROPY_INDEX = _pair(
    "erratum_000_entropy_index",
    MutualInfo(q(n, z), "n", "z"),
    _log_n() - E(q(z), Entropy(q(x_n | z))),
    "source: the entropy of q(x_n | z)",
    _log_n() - E(q(z), Entropy(q(n | z))),
    "𝕀(n; z) = ℍ[q(n)] − E_q(z) ℍ[q(n|z)], and ℍ[q(n)] = log N for uniform q(n)",
)

# =============================================================================================
# Seed 002 — derivations
# =============================================================================================
E002_BAYES = _pair(
    "erratum_002_bayes_rule",
    E(_qzx, log(_pzx)),
    E(_qzx, log(_pxz * _pz / _px)),
    "source's Bayes' rule p(z|x) = p(x, z) p(z) / p(x), under E_q for an arbitrary q",
    E(_qzx, log(_pxgz * _pz / _px)),
    "Bayes' rule p(z|x) = p(x|z) p(z) / p(x) = p(x, z) / p(x)",
    more=(("=", E(_qzx, log(_pxz / _px)), "p(x|z) p(z) = p(x, z)", None),),
)

_ELBO_002 = Named(r"\mathrm{ELBO}(q_{\phi})", "ELBO", E(_qzx, log(_pxz / _qzx)))

E002_VB_EP = _pair(
    "erratum_002_vb_ep",
    log(_px) - _ELBO_002,
    KL(_pzx, _qzx),
    "source: variational Bayes goes with KL(p ‖ q)",
    KL(_qzx, _pzx),
    "the ELBO gap is KL(q ‖ p): maximising the ELBO (VB) minimises KL(q ‖ p)",
)

_EQ8 = E(_qzx, log(p(z, x)) - log(_qzx))

E002_EQ9 = _pair(
    "erratum_002_eq9",
    _EQ8,
    E(_qzx, log(p(z | x)) - log(_qzx) - log(_px)),
    "source eq. (9): log p(z, x) = log p(z|x) − log p(x)",
    E(_qzx, log(p(z | x)) - log(_qzx) + log(_px)),
    "log p(z, x) = log p(z|x) + log p(x)",
    more=(
        ("=", -KL(_qzx, _pzx) + E(_qzx, log(_px)), "linearity; definition of KL", None),
        ("=", -KL(_qzx, _pzx) + log(_px), "log p(x) does not depend on z", None),
    ),
)

E002_EQ18 = _pair(
    "erratum_002_eq18_entropy",
    _EQ8,
    E(_qzx, log(p(z, x))) - Entropy(_qzx),
    "source eq. (18): the subtracted term E_q[log q] labelled 'Entropy'",
    E(_qzx, log(p(z, x))) + Entropy(_qzx),
    "−E_q[log q] = +ℍ[q]: negative expected energy plus entropy",
)

_SUM_ELBO = SumN(_elbo_n())
_RECON_N = E(q(z_n | x_n), log(p(x_n | z_n)))
_KL_N = KL(q(z_n | x_n), p(z_n))

E002_EQ27 = _pair(
    "erratum_002_eq27_kl_outside",
    _SUM_ELBO,
    SumN(_RECON_N) - _KL_N,
    "source eq. (27): the KL term stands outside the sum over n",
    SumN(_RECON_N - _KL_N),
    "per-point Kingma–Welling split, summed over n",
)

E002_ONE_OVER_N = _pair(
    "erratum_002_one_over_n",
    SumN(_RECON_N - _KL_N),
    _avg(_RECON_N - _KL_N),
    "source: 'ELBO(q_φ) = 1/N (…)' after ELBO(q_φ) = Σ_n (…) in eq. (27)",
    None,
    "",
    rel_right="≥",
    start_right=_avg(log(p(x_n))),
    more=(
        (
            "≥",
            _avg(_RECON_N - _KL_N),
            "each log p(x_n) ≥ ℒ(x_n); the gap is the average KL to the exact posterior",
            Gap(_avg(KL(_qzn, p(z | x_n)))),
        ),
    ),
)

_MI_BODY = log(q(n, z) / (q(n) * q(z)))

E002_EQ36 = _pair(
    "erratum_002_eq36_stray_sum",
    _avg(E(q(z | n), _MI_BODY)),
    SumN(E(q(n, z), _MI_BODY)),
    "source eq. (36): Σ_n in front of an expectation over q(n, z)",
    E(q(n, z), _MI_BODY),
    "q(n) q(z|n) = q(n, z): the average over n is part of the expectation",
    more=(("=", MutualInfo(q(n, z), "n", "z"), "definition of mutual information", None),),
)

E002_AVERAGED_KL = _pair(
    "erratum_002_averaged_kl",
    _avg(KL(q(z | n), p(z))),
    KL(q(z), p(z)),
    "source: the regulariser becomes 'an averaged KL divergence'",
    KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z"),
    "ELBO surgery: average KL = KL of the average (aggregate q(z)) + 𝕀(n; z)",
)

E002_MODEL_LIK = _pair(
    "erratum_002_model_likelihood",
    E(_qzx, log(_pxgz)),
    log(_px),
    "source: E_q[log p(x|z)] called 'the model likelihood'",
    log(_px) + KL(_qzx, _pz) - KL(_qzx, _pzx),
    "E_q[log p(x|z)] = ELBO + KL(q ‖ p(z)) and ELBO = log p(x) − KL(q ‖ p(z|x))",
)

_BETA_HALF = E(_qzx, log(_pxgz)) - sympy.Rational(1, 2) * KL(_qzx, _pz)
_DELTA = Var("delta", r"\delta")  # β = 1 + δ with δ > 0

E002_BETA_ELBO = _pair(
    "erratum_002_beta_elbo",
    log(_px),
    _BETA_HALF,
    "source: the β-objective is 'the ELBO' — here β = 1/2",
    _elbo(),
    "log p(x) − ELBO = KL(q ‖ p(z|x)) ≥ 0",
    rel_wrong="≥",
    cert_wrong=Numeric(trials=20),
    rel_right="≥",
    cert_right=Gap(KL(_qzx, _pzx)),
    more=(
        (
            "≥",
            E(_qzx, log(_pxgz)) - (1 + _DELTA) * KL(_qzx, _pz),
            "β = 1 + δ ≥ 1: subtracting δ·KL(q ‖ p(z)) ≥ 0 more",
            Gap(_DELTA * KL(_qzx, _pz)),
        ),
    ),
)

E002_ENERGY = _pair(
    "erratum_002_upper_bound_energy",
    _ELBO_002,
    -log(_px),
    "source: the ELBO as an upper bound on the (free) energy −log p(x)",
    None,
    "",
    rel_wrong="≥",
    cert_wrong=Numeric(trials=20),
    start_right=-_ELBO_002,
    more=(
        (
            "≥",
            -log(_px),
            "−ELBO (the variational free energy) ≥ −log p(x) (the free energy); gap KL(q ‖ p(z|x))",
            Gap(KL(_qzx, _pzx)),
        ),
    ),
)

_GAUSS0 = (Gaussian(fix={"mu_p": 0}),)
_KW_CLOSED = sympy.Rational(1, 2) * (sigma_q**2 + mu_q**2 - 1 - log(sigma_q**2))
_GENERAL_CLOSED = sympy.Rational(1, 2) * (
    sigma_q**2 / sigma_p**2 + mu_q**2 / sigma_p**2 - 1 - log(sigma_q**2) + log(sigma_p**2)
)

E002_PRIOR_VARIANCE = _pair(
    "erratum_002_prior_variance",
    KL(_qzx, _pz),
    _KW_CLOSED,
    "Kingma–Welling's closed form (for the prior N(0, 1)) used with the prior N(0, σ₀²)",
    _GENERAL_CLOSED,
    "KL(N(μ, σ²) ‖ N(0, σ₀²)); with σ₀ = 1 it is Kingma–Welling's form",
    semantics=_GAUSS0,
)


# =============================================================================================
# The catalogue
# =============================================================================================
@dataclass(frozen=True)
class Erratum:
    """One mistake in a source: where it is, what kind, and its two checks."""

    label: str
    source: str
    location: str
    kind: str
    title: str
    as_written: Callable[[], Shown]
    corrected: Callable[[], Shown]
    see: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, got {self.source!r}")
        if not self.label.startswith(f"erratum-{self.source}-"):
            raise ValueError(f"label {self.label!r} must start with 'erratum-{self.source}-'")

    @property
    def method(self) -> str:
        """The kind of check that refutes the source's version (engine, numeric or notation)."""
        shown = _cached(self.label, "as_written")
        return shown.method if isinstance(shown, Check) else "SymPy engine"


def _d(pair: tuple[Derivation, Derivation], i: int) -> Callable[[], Derivation]:
    return lambda: pair[i]


def _c(fn: Callable[[bool], Check], as_written: bool) -> Callable[[], Check]:
    return lambda: fn(as_written)


def _n(rule: str | tuple[str, ...], tex: str) -> Callable[[], Check]:
    return lambda: notation_check(rule, tex)


def _entry(
    label: str,
    source: str,
    location: str,
    kind: str,
    title: str,
    checks: tuple[Callable[[], Shown], Callable[[], Shown]],
    see: str = "",
) -> Erratum:
    return Erratum(label, source, location, kind, title, checks[0], checks[1], see)


def _pd(pair: tuple[Derivation, Derivation]) -> tuple[Callable[[], Shown], Callable[[], Shown]]:
    return _d(pair, 0), _d(pair, 1)


def _pc(fn: Callable[[bool], Check]) -> tuple[Callable[[], Shown], Callable[[], Shown]]:
    return _c(fn, True), _c(fn, False)


def _pn(
    rule: str | tuple[str, ...], wrong: str, right: str
) -> tuple[Callable[[], Shown], Callable[[], Shown]]:
    return _n(rule, wrong), _n(rule, right)


ERRATA: tuple[Erratum, ...] = (
    # ---------------------------------------------------------------- wrong
    _entry(
        "erratum-000-chain-sum",
        "000",
        "first chain, line 5",
        "wrong",
        "log of a product turned into the log of a sum",
        _pd(E000_SUM),
    ),
    _entry(
        "erratum-000-surgery-sign",
        "000",
        "decomposition (1)–(3)",
        "wrong",
        "+KL(q(z) ‖ p(z)) where −KL is meant",
        _pd(E000_SURGERY_SIGN),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-000-data-conditional",
        "000",
        "'data-conditional likelihood of the latents'",
        "wrong",
        "the first term is not a likelihood of the latents",
        _pd(E000_DATA_COND),
    ),
    _entry(
        "erratum-002-expected-lower-bound",
        "002",
        "'expected lower bound on the evidence'",
        "wrong",
        "ELBO is the evidence lower bound, not an expected lower bound",
        _pc(claims.pointwise_log_weight),
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-upper-bound-energy",
        "002",
        "'upper bound on a system's energy function'",
        "wrong",
        "the ELBO is a lower bound; −ELBO upper-bounds the free energy",
        _pd(E002_ENERGY),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-bayes-rule",
        "002",
        "setup, 'p(z|x) = p(x,z)p(z)/p(x)'",
        "wrong",
        "Bayes' rule with an extra factor p(z)",
        _pd(E002_BAYES),
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-vb-ep",
        "002",
        "'either variational Bayes or expectation propagation'",
        "wrong",
        "the KL directions of VB and EP are swapped",
        _pd(E002_VB_EP),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-eq9",
        "002",
        "eq. (9)",
        "wrong",
        "sign of log p(x)",
        _pd(E002_EQ9),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-eq18-entropy",
        "002",
        "eq. (18)",
        "wrong",
        "E_q[log q] labelled 'Entropy' (it is −ℍ[q])",
        _pd(E002_EQ18),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-entropy-spread",
        "002",
        "'keeping most of its probability mass from spreading out'",
        "wrong",
        "entropy rewards spreading mass out",
        _pc(claims.entropy_spread),
    ),
    _entry(
        "erratum-002-eq27-kl-outside",
        "002",
        "eq. (27) and the 1/N line after it",
        "wrong",
        "the KL term outside the sum over n",
        _pd(E002_EQ27),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-one-over-n",
        "002",
        "'ELBO(q_φ) = 1/N(…)' after eq. (27)",
        "wrong",
        "the summed and the averaged ELBO are not the same quantity",
        _pd(E002_ONE_OVER_N),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-eq36-stray-sum",
        "002",
        "eq. (36)",
        "wrong",
        "a stray Σ_n multiplies the mutual information by N",
        _pd(E002_EQ36),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-isotropic-disentangle",
        "002",
        "'promotes cross-factor independence'",
        "wrong",
        "an isotropic prior cannot select disentangled axes",
        _pc(claims.isotropic_prior_rotation),
        "05_beta_vae",
    ),
    _entry(
        "erratum-002-kl-isotropic",
        "002",
        "'KL divergence is proportional to log|Σq|/|Σp|'",
        "wrong",
        "KL between isotropic Gaussians is not a log-variance ratio",
        _pc(claims.isotropic_gaussian_kl),
        "05_beta_vae",
    ),
    _entry(
        "erratum-002-beta-prior-variance",
        "002",
        "'adjusting β … equivalent to tweaking our latent space prior variance'",
        "wrong",
        "β is not a prior variance",
        _pc(claims.beta_vs_prior_variance),
        "05_beta_vae",
    ),
    # ---------------------------------------------------------------- typo
    _entry(
        "erratum-000-latent-x",
        "000",
        "'unobserved latent factors x'",
        "typo",
        "the latent variable is z, not x",
        _pn(
            "distinct_symbols",
            r"observations=\vv{x}; unobserved latent factors=\vv{x}",
            r"observations=\vv{x}; unobserved latent factors=\vv{z}",
        ),
    ),
    _entry(
        "erratum-000-chain-qxx",
        "000",
        "first chain, line 4",
        "typo",
        "q_φ(x|x) where q_φ(z|x) is meant",
        _pd(E000_QXX),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-000-expectation-subscript",
        "000",
        "every expectation, E_{q_φ(z∼z|x)}",
        "typo",
        "'z∼z' inside the expectation's density",
        _pn(
            "expectation_subscript",
            r"\Ex_{ q_{\phi}(\vv{z}\sim\vv{z}|\vv{x})}\left[ 1 \right]",
            r"\Ex_{q_{\phi}(\vv{z}|\vv{x})}\left[ 1 \right]",
        ),
    ),
    _entry(
        "erratum-000-entropy-index",
        "000",
        "decomposition, term (2)",
        "typo",
        "ℍ[q(x_n|z)] where ℍ[q(n|z)] is meant",
        _pd(E000_ENTROPY_INDEX),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-000-kl-bar",
        "000",
        "decomposition, term (3)",
        "typo",
        "KL(q(z) | p(z)) written with a single bar",
        _pn("kl_separator", r"\kl(q(z)\mid p(z))", r"\kl(q(z)\,\|\,p(z))"),
    ),
    _entry(
        "erratum-002-eq3-eq4",
        "002",
        "eqs. (3)–(4)",
        "typo",
        "(3) drops φ from q; (4) repeats (3)",
        _pn(
            "variational_subscript",
            r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q(z\vert x)}",
            r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q_{\phi}(z\vert x)}",
        ),
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-kl-comma",
        "002",
        "eqs. (15), (20) and the β-VAE objective",
        "typo",
        "KL(q, p) written with a comma",
        _pn(
            "kl_separator",
            r"KL(q_\phi(z\vert x),p_{\theta}(z))",
            r"KL(q_\phi(z\vert x)\vert\vert p_{\theta}(z))",
        ),
    ),
    _entry(
        "erratum-002-eq25-dzn",
        "002",
        "eq. (25)",
        "typo",
        "the last differential is dz_n, not dz_N",
        _pn(
            "differentials",
            r"\int_{z_1}\ldots \int_{z_N}\prod_n q_\phi(z_n\vert x_n) [\ldots] dz_1 \ldots dz_n",
            r"\int_{z_1}\ldots \int_{z_N}\prod_n q_\phi(z_n\vert x_n) [\ldots] dz_1 \ldots dz_N",
        ),
    ),
    _entry(
        "erratum-002-eq26-dz-inside",
        "002",
        "eq. (26)",
        "typo",
        "the differential dz_n sits inside the integrand's bracket",
        _pn(
            "differential_outside",
            r"\int_{z_n} q_\phi(z_n\vert x_n)\left(\log p_\theta(x_n\vert z_n)"
            r" - \log \frac{q_\phi(z_n\vert x_n)}{p_\theta(z_n)} d z_n\right)",
            r"\int_{z_n} q_\phi(z_n\vert x_n)\left(\log p_\theta(x_n\vert z_n)"
            r" - \log \frac{q_\phi(z_n\vert x_n)}{p_\theta(z_n)}\right) d z_n",
        ),
    ),
    _entry(
        "erratum-002-eq31-repeat",
        "002",
        "eqs. (30)–(31)",
        "typo",
        "a row of the surgery chain is repeated",
        _pn(
            "repeated_rows",
            r"&= \frac{1}{N}\sum_n E_{q(z\vert n)} \log \frac{q(n\vert z)q(z)}{p(z)q(n)} \\"
            r" &= \frac{1}{N}\sum_n E_{q(z\vert n)} \log \frac{q(n\vert z)q(z)}{p(z)q(n)}",
            r"&= \frac{1}{N}\sum_n E_{q(z\vert n)} \log \frac{q(n\vert z)q(z)}{p(z)q(n)}",
        ),
    ),
    _entry(
        "erratum-002-decomposition-notation",
        "002",
        "the decomposition after eq. (37)",
        "typo",
        "a misplaced bracket in E_{q(z_n|x_n)} and 𝕀(n, z) with a comma",
        _pn(
            ("subscript_brackets", "mutual_information_arguments"),
            r"E_{q_\phi(z_n\vert x_n})\left[\log p_\theta(x_n\vert z_n)\right]"
            r" - \mathbb{I}_{q_\phi(n,z)}(n,z)",
            r"E_{q_\phi(z_n\vert x_n)}\left[\log p_\theta(x_n\vert z_n)\right]"
            r" - \mathbb{I}_{q_\phi(n,z)}(n;z)",
        ),
    ),
    # ---------------------------------------------------------------- imprecise
    _entry(
        "erratum-000-kl-metric",
        "000",
        "'the most convenient probability metric (i.e. KL divergence)'",
        "imprecise",
        "KL is a divergence, not a metric",
        _pc(claims.kl_is_not_a_metric),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-000-free-energy",
        "000",
        "'is called the free energy'",
        "imprecise",
        "the ELBO is the NEGATIVE variational free energy",
        _pd(E000_FREE),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-000-surgery-lhs",
        "000",
        "decomposition, left-hand side",
        "imprecise",
        "the decomposition is of the average ELBO over the data, not of ℒ(x)",
        _pd(E000_SURGERY_LHS),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-model-likelihood",
        "002",
        "'maximizing the model likelihood' (eq. (15))",
        "imprecise",
        "E_q[log p(x|z)] is an expected conditional log-likelihood, not log p(x)",
        _pd(E002_MODEL_LIK),
        "03_kingma_welling_split",
    ),
    _entry(
        "erratum-002-prior-variance-default",
        "002",
        "'z ∼ N(0, σ²I)'",
        "imprecise",
        "Kingma & Welling's prior is N(0, I); their closed-form KL assumes it",
        _pd(E002_PRIOR_VARIANCE),
        "03_kingma_welling_split",
    ),
    _entry(
        "erratum-002-factorisation",
        "002",
        "eqs. (22)–(26), 'z_i is independent of z_j given x_i'",
        "imprecise",
        "the per-point split needs unstated factorisations",
        _pc(claims.factorised_encoder),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-averaged-kl",
        "002",
        "'an averaged KL divergence' (after eq. (37))",
        "imprecise",
        "the marginal KL is the KL of the average, not an average of KLs",
        _pd(E002_AVERAGED_KL),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-decomposition-labels",
        "002",
        "'Expected reconstruction error', 'Decoded information'",
        "imprecise",
        "the first term is minus an error; 𝕀(n; z) is the index-code mutual information",
        _pc(claims.index_code_labels),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-beta-elbo",
        "002",
        "β-VAE objective written 'ELBO(q_φ)'",
        "imprecise",
        "the β-objective bounds log p(x) only for β ≥ 1",
        _pd(E002_BETA_ELBO),
        "05_beta_vae",
    ),
)


def by_label(label: str) -> Erratum:
    """The erratum with this label."""
    for e in ERRATA:
        if e.label == label:
            return e
    raise KeyError(f"no erratum labelled {label!r}")


@cache
def _cached(label: str, which: str) -> Shown:
    e = by_label(label)
    return e.as_written() if which == "as_written" else e.corrected()


def failing_check_fails(e: Erratum) -> bool:
    """True iff the source's version is refuted: every expected-to-fail step of its derivation
    fails (and every other step passes), or its computed check does not hold."""
    shown = _cached(e.label, "as_written")
    if isinstance(shown, Check):
        return not shown.passed
    results = shown.check(raise_on_failure=False)
    return any(r.expected_failure for r in results) and all(r.ok for r in results)


def correction_passes(e: Erratum) -> bool:
    """True iff the corrected statement checks: every step proven, or the computed check holds."""
    shown = _cached(e.label, "corrected")
    if isinstance(shown, Check):
        return shown.passed
    results = shown.check(raise_on_failure=False)
    return all(r.ok and not r.expected_failure for r in results)


def summary_rows() -> list[tuple[str, str, str, str, str, str]]:
    """One row per erratum: (label, source, location, kind, check, status); the status is
    "✓ / ✓" when the source's version fails and the correction passes."""
    rows = []
    for e in ERRATA:
        fails, passes = failing_check_fails(e), correction_passes(e)
        status = f"{'✓' if fails else '✗'} / {'✓' if passes else '✗'}"
        rows.append((e.label, e.source, e.location, e.kind, e.method, status))
    return rows


# =============================================================================================
# Display
# =============================================================================================
@dataclass(frozen=True)
class DerivationView:
    """A checked derivation laid out for a narrow page, by
    :meth:`~elbo_book.derive.chain.Derivation.html` with ``narrow=True``; ``text/plain`` and
    ``text/latex`` are the derivation's own."""

    derivation: Derivation

    def __repr__(self) -> str:
        return repr(self.derivation)

    def _repr_latex_(self) -> str:
        return self.derivation._repr_latex_()

    def _repr_html_(self) -> str:
        return self.derivation.html(narrow=True)


def view(shown: Shown) -> DerivationView | Check:
    """What the Errata page displays for a check: a :class:`DerivationView` of a derivation, or
    the computed :class:`~elbo_book.derive.library.errata_claims.Check` itself."""
    return DerivationView(shown) if isinstance(shown, Derivation) else shown
