"""The Errata: every mistake found in the two source documents, each with a machine check.

Sources: the notes on the KL/ELBO decomposition (``shi_elbo_notes`` in the book's bibliography,
source ``"000"``) and the annotated ELBO bibliography (``elbo_bibliography_post``, source
``"002"``).

Each :class:`Erratum` has a stable label (the MyST label of its section in
``chapters/errata.ipynb``), the source and location, a kind, and two checks:

* ``as_written()`` — the source's version, which must FAIL: a derivation whose step is marked
  ``expect_fail`` (the engine shows the failing check), a numeric counterexample
  (``elbo_book.errata_claims``, imported only when shown: collecting the
  derivations needs no torch) or a notation check (``errata_notation``);
* ``corrected()`` — the corrected statement, which must PASS.

Where the source's step is a well-formed equation or inequality that the engine refutes, the
entry also carries a :class:`Residual`: the quantity by which the source's right side is off,
written in the page's notation (for example 2·KL(q(z) ‖ p(z))), the identity
"right side − left side = that quantity" proven by the engine (derivation ``<name>_residual``),
and one concrete instance, given by exact fractions, on which both sides, their difference and
the quantity are evaluated.

Equation entries use the SymPy engine; their derivations are registered under the chapter
``errata`` so ``python -m elbo_book.verify`` counts the expected failures.  Kinds:

* ``wrong`` — a well-formed equation or a claim in words that is false as written;
* ``typo`` — a slip of notation whose intended meaning is clear from the context: a term with no
  meaning (``q(x | x)``, an index used outside its sum), a misplaced bracket or differential, a
  repeated row, a reference to an empty row;
* ``imprecise`` — a misleading name, or a statement true only under conditions the source does
  not state.

Equation numbers for the second source follow its own rule: one number per row of each
``align`` block, a trailing ``\\\\`` adding an empty numbered row (the rule its own references
"(8)", "(11)" and "(12)" assume; see ``errata_notation.align_rows``): (1)–(6) the evidence bound
((6) empty), (7)–(11) the KL identity, (12)–(16) the Kingma–Welling split ((16) empty),
(17)–(19) the energy form ((19) empty), (20)–(25) the per-point expansion, (26)–(28) the sum
over n ((28) empty), then an unnumbered line with the prefactor 1/N, (29)–(39) the surgery chain
((39) empty), and the unnumbered decomposition that closes the section.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import sympy

from elbo_book.derive.chain import Derivation, StepResult
from elbo_book.derive.checks import Gap, Numeric
from elbo_book.derive.library.errata_notation import notation_check
from elbo_book.derive.library.errata_records import Check
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, N, expand_loggap, uses_index
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
    "ALIASES",
    "CHAPTER",
    "ERRATA",
    "KINDS",
    "DerivationView",
    "Erratum",
    "Point",
    "Residual",
    "SourceVersion",
    "by_label",
    "correction_passes",
    "failing_check_fails",
    "kind_counts",
    "summary_rows",
    "view",
]

CHAPTER = "errata"
KINDS = ("wrong", "typo", "imprecise")
SOURCES = {"000": "the ELBO notes", "002": "the ELBO bibliography"}

E = Expect
Shown = Derivation | Check


# =============================================================================================
# Shared terms
# =============================================================================================
_qzx, _pxz, _pzx, _pz, _px, _pxgz = q(z | x), p(x, z), p(z | x), p(z), p(x), p(x | z)
_qzn = q(z | x_n)
_R = sympy.Rational


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


# One small model refutes a false step (the engine shows that it fails).  Corrections and
# residual identities are proven for K = 2, 3, 4 latent values (for any K where the indexed-sum
# prover applies); where the data index enters, for (K, N) = (2, 2), (3, 2), (2, 3) (chapters 2
# and 4 prove the same identities at larger sizes).
_FAIL_SEMANTICS = (Finite(sizes=(2,), index_sizes=(2,)),)
_FIX_SEMANTICS = (Finite(sizes=(2, 3, 4)),)
_FIX_INDEX_SEMANTICS = (
    Finite(sizes=(2, 3), index_sizes=(2,)),
    Finite(sizes=(2,), index_sizes=(3,)),
)


def _fix_semantics(terms: Sequence[Term]) -> tuple[Finite, ...]:
    return _FIX_INDEX_SEMANTICS if uses_index(list(terms)) else _FIX_SEMANTICS


# =============================================================================================
# Residuals: why a refuted step fails, in the page's notation, on one exact instance
# =============================================================================================
def _frac(v: sympy.Rational) -> str:
    return str(v)


@dataclass(frozen=True)
class Point:
    """One instance of the finite model, by exact fractions: z ∈ {1, …, K}, prior p(z), and
    either one data point (likelihood p(x|z), encoder q(z|x)) or N data points (rows
    p(x_n|z), q(z|x_n)).  Each distribution must sum to one; likelihood values are positive."""

    prior: tuple[sympy.Rational, ...]
    lik: tuple[sympy.Rational, ...] = ()
    enc: tuple[sympy.Rational, ...] = ()
    lik_n: tuple[tuple[sympy.Rational, ...], ...] = ()
    enc_n: tuple[tuple[sympy.Rational, ...], ...] = ()

    def __post_init__(self) -> None:
        k = len(self.prior)
        for dist in (self.prior, self.enc, *self.enc_n):
            if dist and (len(dist) != k or sum(dist) != 1 or min(dist) <= 0):
                raise ValueError(f"{dist} is not a distribution with {k} positive masses")
        for row in (self.lik, *self.lik_n):
            if row and (len(row) != k or min(row) <= 0):
                raise ValueError(f"{row} is not {k} positive likelihood values")
        if len(self.lik_n) != len(self.enc_n) or (bool(self.lik) != bool(self.enc)):
            raise ValueError("give p(x|z) with q(z|x), and one row of each per data point")

    @property
    def size(self) -> tuple[int, int]:
        """(K, N); N = 1 without the data index."""
        return len(self.prior), max(len(self.enc_n), 1)

    def values(self) -> dict[str, sympy.Rational]:
        """Values of the finite semantics' symbols (π_k, ℓ_k, r_k, ℓ_{n,k}, q_{n,k})."""
        vals = {f"pi_{k}": v for k, v in enumerate(self.prior, start=1)}
        vals.update({f"l_{k}": v for k, v in enumerate(self.lik, start=1)})
        vals.update({f"r_{k}": v for k, v in enumerate(self.enc, start=1)})
        for m, (lrow, qrow) in enumerate(zip(self.lik_n, self.enc_n, strict=True), start=1):
            vals.update({f"l_{m}{k}": v for k, v in enumerate(lrow, start=1)})
            vals.update({f"q_{m}{k}": v for k, v in enumerate(qrow, start=1)})
        return vals

    def text(self) -> str:
        """The instance in the page's notation."""

        def vec(v: Sequence[sympy.Rational]) -> str:
            return "(" + ", ".join(_frac(a) for a in v) + ")"

        k, n_points = self.size
        support = ", ".join(str(v) for v in range(1, k + 1))
        parts = [f"z ∈ {{{support}}}", f"p(z) = {vec(self.prior)}"]
        if self.enc:
            parts += [f"p(x|z) = {vec(self.lik)}", f"q(z|x) = {vec(self.enc)}"]
        for m in range(len(self.enc_n)):
            parts += [
                f"p(x_{m + 1}|z) = {vec(self.lik_n[m])}",
                f"q(z|x_{m + 1}) = {vec(self.enc_n[m])}",
            ]
        if self.enc_n:
            parts.insert(1, f"N = {n_points} data points")
        return ", ".join(parts)

    def evaluate(self, term: Term, shape: Sequence[Term]) -> sympy.Expr:
        """The exact value of ``term`` at this instance (the finite semantics' translation, with
        the data index present when any term of ``shape`` uses it)."""
        k, n_points = self.size
        sem = Finite(sizes=(k,), index_sizes=(n_points,))
        inst = next(iter(sem.instances(list(shape))))
        expr = expand_loggap(inst.translate(term))
        vals = self.values()
        missing = sorted(str(s) for s in expr.free_symbols if str(s) not in vals)
        if missing:
            raise ValueError(f"the instance gives no value to {missing}")
        return sympy.nsimplify(expr.subs({s: vals[str(s)] for s in expr.free_symbols}))


# The instances used below: one data point (q(z|x) far from the posterior (8/9, 1/9), or close to
# it), and two data points.  p(x) = 9/20 < 1.  Every refuted step is off by at least 0.1 on its
# instance (Residual.refutes checks it), so no difference shown is a rounding effect.
_POINT = Point(prior=(_R(1, 2), _R(1, 2)), lik=(_R(4, 5), _R(1, 10)), enc=(_R(1, 5), _R(4, 5)))
_POINT_NEAR_POSTERIOR = Point(
    prior=(_R(1, 2), _R(1, 2)), lik=(_R(4, 5), _R(1, 10)), enc=(_R(9, 10), _R(1, 10))
)
_POINT_N = Point(
    prior=(_R(1, 5), _R(4, 5)),
    lik_n=((_R(4, 5), _R(1, 10)), (_R(1, 10), _R(3, 5))),
    enc_n=((_R(9, 10), _R(1, 10)), (_R(1, 5), _R(4, 5))),
)

_DIGITS = 6  # sides are printed at 6 decimals, differences at 4: the printed sides reproduce it
_NOT_NOISE = 0.1


def _num(v: sympy.Expr, digits: int) -> str:
    r = round(float(v), digits)
    return f"{0.0 if r == 0 else r:.{digits}f}"


@dataclass(frozen=True)
class Residual:
    """Why the source's step ``left rel right`` fails, in the page's notation.

    ``derivation`` proves ``right − left = quantity`` (its one step); ``meaning`` says what that
    is in words ("the right side exceeds the left by 2·KL(q(z) ‖ p(z))"); ``point`` is an exact
    instance on which both sides, their difference and the quantity are evaluated."""

    derivation: Derivation
    meaning: str
    point: Point
    left: Term
    rel: str
    right: Term

    @property
    def quantity(self) -> Term:
        """right − left, as the page writes it."""
        return self.derivation.end

    def numbers(self) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr, sympy.Expr]:
        """(left, right, right − left, quantity) at the instance, exact."""
        shape = [self.left, self.right]
        lv, rv = self.point.evaluate(self.left, shape), self.point.evaluate(self.right, shape)
        return lv, rv, rv - lv, self.point.evaluate(self.quantity, shape)

    def refutes(self) -> bool:
        """Whether the identity right − left = quantity is proven, the instance reproduces it,
        and there the source's relation is false by more than rounding (abs(right − left) ≥ 0.1,
        with the printed sides reproducing the printed difference)."""
        results = self.derivation.check(raise_on_failure=False)
        if not all(r.ok and not r.expected_failure for r in results):
            return False
        lv, rv, diff, qv = self.numbers()
        d = float(diff)
        reproduced = abs(d - float(qv)) < 1e-12 and _num(
            round(float(rv), _DIGITS) - round(float(lv), _DIGITS), 4
        ) == _num(diff, 4)
        false_here = {"=": abs(d) >= _NOT_NOISE, "≥": d >= _NOT_NOISE, "≤": d <= -_NOT_NOISE}
        return reproduced and false_here[self.rel]

    def lines(self) -> list[str]:
        """The explanation as text lines."""
        lv, rv, diff, qv = self.numbers()
        badge = "; ".join(b.lstrip("✓ ") for r in self.derivation.results for b in r.badges)
        return [
            f"why: {self.meaning}",
            f"proven: right side − left side = {self.quantity.text()}  [{badge}]",
            f"at {self.point.text()}:",
            f"  left side = {_num(lv, _DIGITS)}, right side = {_num(rv, _DIGITS)}, "
            f"right − left = {_num(diff, 4)} = {self.quantity.text()} = {_num(qv, 4)}",
        ]


def _residual(
    name: str,
    left: Term,
    rel: str,
    right: Term,
    quantity: Term,
    why: str,
    meaning: str,
    point: Point,
) -> Residual:
    """Register ``<name>_residual`` (right − left = quantity, proven) and wrap it."""
    d = Derivation(
        f"{name}_residual",
        right - left,
        title="Why the source's step fails",
        semantics=_fix_semantics([left, right, quantity]),
    ).step("=", quantity, why, label="residual")
    return Residual(register(chapter=CHAPTER)(lambda: d), meaning, point, left, rel, right)


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
    residual: tuple[Term, str, str, Point] | None = None,
) -> tuple[Derivation, Derivation, Residual | None]:
    """Register two derivations: ``<name>_as_written`` (one step, expected to fail) and
    ``<name>_corrected`` (the corrected step, then ``more`` steps); with ``residual`` =
    (quantity, why, meaning, point) also ``<name>_residual`` (see :class:`Residual`)."""
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
    good = Derivation(
        f"{name}_corrected",
        start_right or start,
        title="Corrected",
        semantics=semantics or _fix_semantics(terms),
    )
    if right is not None:
        good = good.step(rel_right, right, why_right, label="fixed", certificate=cert_right)  # type: ignore[arg-type]
    for i, (rel, expr, why, cert) in enumerate(more, start=1):
        good = good.step(rel, expr, why, label=f"fixed.{i}", certificate=cert)  # type: ignore[arg-type]
    built_bad, built_good = bad, good
    tagged_bad = register(chapter=CHAPTER)(lambda: built_bad)
    tagged_good = register(chapter=CHAPTER)(lambda: built_good)
    res = None
    if residual is not None:
        quantity, why, meaning, point = residual
        res = _residual(name, start, rel_wrong, wrong, quantity, why, meaning, point)
    return tagged_bad, tagged_good, res


# =============================================================================================
# The notes (source 000) — derivations
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
    residual=(
        E(_qzx, log(_pzx / _qzx + _qzx / _pxz)),
        "log(a + b) − log(ab) = log(1/b + 1/a) for a = q/p(z|x), b = p(x, z)/q; linearity of E",
        "with a = q_φ(z|x)/p_θ(z|x) and b = p_θ(x,z)/q_φ(z|x), line 5 is E_q[log(a + b)] and "
        "line 4 is E_q[log(ab)]; the right side exceeds the left by E_q[log(1/a + 1/b)], "
        "which is not zero",
        _POINT,
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
    "source: the ELBO 'is called the free energy'; physics convention F = E_q[energy] − ℍ[q], "
    "energy −log p(x, z)",
    -_FREE_ENERGY,
    "the ELBO is the NEGATIVE variational free energy",
    residual=(
        -2 * _elbo(),
        "F = −ℒ by the definitions",
        "in the physics convention F = −ℒ, so F − ℒ = −2ℒ: the two agree only where ℒ = 0",
        _POINT,
    ),
)

_AVG_ELBO = _avg(_elbo_n())
_KL_AGG = KL(q(z), p(z))

E000_SURGERY_SIGN = _pair(
    "erratum_000_surgery_sign",
    _AVG_ELBO,
    _surgery_rhs(+1, q(n | z)),
    "source: … + KL(q(z) ‖ p(z))",
    _surgery_rhs(-1, q(n | z)),
    "ELBO surgery (Hoffman & Johnson): reconstruction − index-code MI − marginal KL",
    residual=(
        2 * _KL_AGG,
        "the two right sides differ only in the sign of KL(q(z) ‖ p(z)); ELBO surgery",
        "the right side exceeds the correct one by 2·KL(q(z) ‖ p(z)), which is zero only when "
        "the aggregate posterior q(z) equals the prior",
        _POINT_N,
    ),
)

_SUM_ELBO = SumN(_elbo_n())

E000_SURGERY_LHS = _pair(
    "erratum_000_surgery_lhs",
    _SUM_ELBO,
    _surgery_rhs(-1, q(n | z)),
    "source: left side ℒ(x, θ, φ) = Σ_n ℒ(x_n) (sign of (3) fixed)",
    None,
    "",
    more=(("=", _surgery_rhs(-1, q(n | z)), "ELBO surgery, for the AVERAGE over the data", None),),
    start_right=_AVG_ELBO,
    residual=(
        (1 / N - 1) * _SUM_ELBO,
        "the right side is the average (1/N) Σ_n ℒ(x_n) (ELBO surgery)",
        "the right side is the average of the N per-point ELBOs, the left side their sum: the "
        "left side is N times the right side (they differ by (1 − 1/N)·Σ_n ℒ(x_n))",
        _POINT_N,
    ),
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
# The bibliography (source 002) — derivations
# =============================================================================================
E002_BAYES = _pair(
    "erratum_002_bayes_rule",
    E(_qzx, log(_pzx)),
    E(_qzx, log(_pxz * _pz / _px)),
    "source's Bayes' rule p(z|x) = p(x, z) p(z) / p(x), under E_q for an arbitrary q",
    E(_qzx, log(_pxgz * _pz / _px)),
    "Bayes' rule p(z|x) = p(x|z) p(z) / p(x) = p(x, z) / p(x)",
    more=(("=", E(_qzx, log(_pxz / _px)), "p(x|z) p(z) = p(x, z)", None),),
    residual=(
        E(_qzx, log(_pz)),
        "log of a product; p(x, z)/p(x) = p(z|x)",
        "the extra factor p_θ(z) adds E_q[log p_θ(z)] to the right side (negative: the right "
        "side falls short by the cross-entropy −E_q[log p_θ(z)])",
        _POINT,
    ),
)

_ELBO_002 = Named(r"\mathrm{ELBO}(q_{\phi})", "ELBO", E(_qzx, log(_pxz / _qzx)))

E002_VB_EP = _pair(
    "erratum_002_vb_ep",
    log(_px) - _ELBO_002,
    KL(_pzx, _qzx),
    "source: variational Bayes goes with KL(p ‖ q)",
    KL(_qzx, _pzx),
    "the ELBO gap is KL(q ‖ p): maximising the ELBO (VB) minimises KL(q ‖ p)",
    residual=(
        KL(_pzx, _qzx) - KL(_qzx, _pzx),
        "log p(x) − ELBO = KL(q ‖ p(z|x))",
        "the ELBO's gap is KL(q ‖ p(z|x)); the right side differs from it by "
        "KL(p ‖ q) − KL(q ‖ p), which is not zero: KL is not symmetric",
        _POINT,
    ),
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
    residual=(
        -2 * log(_px),
        "log p(z, x) = log p(z|x) + log p(x); log p(x) does not depend on z",
        "the right side falls short of (8) by 2·log p_θ(x): it subtracts log p_θ(x) "
        "where (8) adds it",
        _POINT,
    ),
)

E002_EQ18 = _pair(
    "erratum_002_eq18_entropy",
    _EQ8,
    E(_qzx, log(p(z, x))) - Entropy(_qzx),
    "source eq. (18): the subtracted term E_q[log q] labelled 'Entropy'",
    E(_qzx, log(p(z, x))) + Entropy(_qzx),
    "−E_q[log q] = +ℍ[q]: negative expected energy plus entropy",
    residual=(
        -2 * Entropy(_qzx),
        "ℍ[q] = −E_q[log q]",
        "read with its label, the right side falls short by 2·ℍ[q_φ(z|x)]: the braced term "
        "E_q[log q_φ(z|x)] is −ℍ[q_φ(z|x)], not ℍ[q_φ(z|x)]",
        _POINT,
    ),
)

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
    residual=(
        (1 / N - 1) * SumN(_RECON_N - _KL_N),
        "(1/N) Σ_n t_n − Σ_n t_n = (1/N − 1) Σ_n t_n",
        "the new ELBO(q_φ) is the old one divided by N: they differ by (1 − 1/N) times the "
        "summed ELBO",
        _POINT_N,
    ),
)

_MI_BODY = log(q(n, z) / (q(n) * q(z)))
_MI = MutualInfo(q(n, z), "n", "z")

E002_EQ37 = _pair(
    "erratum_002_eq37_stray_sum",
    _avg(E(q(z | n), _MI_BODY)),
    N * E(q(n, z), _MI_BODY),
    "source eq. (37): Σ_n E_q(n,z)[…]; the expectation binds n, so the summand does not depend "
    "on the outer n and the sum is N times it",
    E(q(n, z), _MI_BODY),
    "q(n) q(z|n) = q(n, z): the average over n is part of the expectation",
    more=(("=", _MI, "definition of mutual information", None),),
    residual=(
        (N - 1) * _MI,
        "(1/N) Σ_n E_q(z|n)[f] = E_q(n,z)[f] = 𝕀_q(n; z)",
        "the right side is N·𝕀_q(n; z): it exceeds the correct 𝕀_q(n; z) by (N − 1)·𝕀_q(n; z)",
        _POINT_N,
    ),
)

E002_SUM_OF_KL = _pair(
    "erratum_002_sum_of_kl",
    SumN(KL(q(z | n), p(z))),
    _KL_AGG + _MI,
    "source: 'rearranges the sum of per-data point KL divergences' into KL(q(z) ‖ p(z)) + 𝕀",
    None,
    "",
    start_right=_avg(KL(q(z | n), p(z))),
    more=(
        (
            "=",
            _KL_AGG + _MI,
            "ELBO surgery: the AVERAGE of the per-point KLs is KL of the aggregate + 𝕀(n; z)",
            None,
        ),
    ),
    residual=(
        (1 - N) * (_KL_AGG + _MI),
        "ELBO surgery: Σ_n KL(q(z|n) ‖ p(z)) = N·(KL(q(z) ‖ p(z)) + 𝕀_q(n; z))",
        "the sum of the per-point KLs is N times KL(q(z) ‖ p(z)) + 𝕀_q(n; z): the right side "
        "falls short by (N − 1)·(KL(q(z) ‖ p(z)) + 𝕀_q(n; z))",
        _POINT_N,
    ),
)

_HALF = _R(1, 2)
_BETA_HALF = E(_qzx, log(_pxgz)) - _HALF * KL(_qzx, _pz)
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
    residual=(
        _HALF * KL(_qzx, _pz) - KL(_qzx, _pzx),
        "E_q[log p(x|z)] − KL(q ‖ p(z)) = log p(x) − KL(q ‖ p(z|x))",
        "the β = 1/2 objective exceeds log p_θ(x) by ½·KL(q ‖ p_θ(z)) − KL(q ‖ p_θ(z|x)), "
        "which is positive when q is close to the posterior but far from the prior",
        _POINT_NEAR_POSTERIOR,
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
    residual=(
        KL(_qzx, _pzx) - 2 * log(_px),
        "ELBO = log p(x) − KL(q ‖ p(z|x))",
        "the free energy −log p_θ(x) exceeds the ELBO by KL(q ‖ p_θ(z|x)) − 2·log p_θ(x), which "
        "is positive whenever p_θ(x) < 1",
        _POINT,
    ),
)


# =============================================================================================
# The catalogue
# =============================================================================================
@dataclass(frozen=True)
class Erratum:
    """One mistake in a source: where it is, what kind, its two checks and, for a refuted
    equation or inequality, the :class:`Residual` that explains the failure."""

    label: str
    source: str
    location: str
    kind: str
    title: str
    as_written: Callable[[], Shown]
    corrected: Callable[[], Shown]
    see: str = ""
    residual: Residual | None = None

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


_Checks = tuple[Callable[[], Shown], Callable[[], Shown]]


def _entry(
    label: str,
    source: str,
    location: str,
    kind: str,
    title: str,
    checks: _Checks | tuple[Derivation, Derivation, Residual | None],
    see: str = "",
) -> Erratum:
    if len(checks) == 3:
        bad, good, res = checks
        return Erratum(label, source, location, kind, title, lambda: bad, lambda: good, see, res)
    return Erratum(label, source, location, kind, title, checks[0], checks[1], see)


def _pc(name: str) -> _Checks:
    def run(as_written: bool) -> Check:
        from elbo_book import errata_claims  # torch: imported only when an entry is shown

        check: Check = getattr(errata_claims, name)(as_written)
        return check

    return (lambda: run(True)), (lambda: run(False))


def _pn(rule: str | tuple[str, ...], wrong: str, right: str) -> _Checks:
    return (lambda: notation_check(rule, wrong)), (lambda: notation_check(rule, right))


# The second source's blocks (1)–(6) and (12)–(16), one placeholder per row (row contents are in
# the chapter): both end in a trailing \\, so the last number is an empty row.
_BLOCK_1 = r"&= \log\int p \\ &= \ldots \\ &= \ldots \\ &= \ldots \\ &\ge \int q \log[\ldots] \\"
_BLOCK_12 = r"&= E[\ldots] \\ &= \ldots \\ &= \ldots \\ &= \mathrm{Rec.} - \mathrm{Shrinkage} \\"

ERRATA: tuple[Erratum, ...] = (
    # ---------------------------------------------------------------- wrong
    _entry(
        "erratum-000-chain-sum",
        "000",
        "first chain, line 5",
        "wrong",
        "log of a product turned into the log of a sum",
        E000_SUM,
    ),
    _entry(
        "erratum-000-surgery-sign",
        "000",
        "decomposition (1)–(3)",
        "wrong",
        "+KL(q(z) ‖ p(z)) where −KL is meant",
        E000_SURGERY_SIGN,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-upper-bound-energy",
        "002",
        "'upper bound on a system's energy function'",
        "wrong",
        "the ELBO is a lower bound; −ELBO upper-bounds the free energy",
        E002_ENERGY,
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-bayes-rule",
        "002",
        "setup, 'p(z|x) = p(x,z)p(z)/p(x)'",
        "wrong",
        "Bayes' rule with an extra factor p(z)",
        E002_BAYES,
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-vb-ep",
        "002",
        "'either variational Bayes or expectation propagation'",
        "wrong",
        "the KL directions of VB and EP are swapped",
        E002_VB_EP,
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-eq9",
        "002",
        "eq. (9)",
        "wrong",
        "sign of log p(x)",
        E002_EQ9,
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-eq18-entropy",
        "002",
        "eq. (18), label 'Entropy'",
        "wrong",
        "E_q[log q] labelled 'Entropy' (it is −ℍ[q])",
        E002_EQ18,
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-002-entropy-spread",
        "002",
        "'keeping most of its probability mass from spreading out'",
        "wrong",
        "entropy rewards spreading mass out",
        _pc("entropy_spread"),
    ),
    _entry(
        "erratum-002-eq37-stray-sum",
        "002",
        "eq. (37)",
        "wrong",
        "a stray Σ_n multiplies the mutual information by N",
        E002_EQ37,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-sum-of-kl",
        "002",
        "'rearranges the sum of per-data point KL divergences' (after the surgery chain)",
        "wrong",
        "the SUM of the per-point KLs is N·(KL(q(z) ‖ p(z)) + 𝕀); the chain has their average",
        E002_SUM_OF_KL,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-isotropic-disentangle",
        "002",
        "'promotes cross-factor independence'",
        "wrong",
        "an isotropic prior cannot select disentangled axes",
        _pc("isotropic_prior_rotation"),
        "05_beta_vae",
    ),
    _entry(
        "erratum-002-kl-isotropic",
        "002",
        "'KL divergence is proportional to log|Σq|/|Σp|'",
        "wrong",
        "KL between isotropic Gaussians is not a log-variance ratio",
        _pc("isotropic_gaussian_kl"),
        "05_beta_vae",
    ),
    _entry(
        "erratum-002-beta-prior-variance",
        "002",
        "'adjusting β … equivalent to tweaking our latent space prior variance'",
        "wrong",
        "β is not a prior variance",
        _pc("beta_vs_prior_variance"),
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
        E000_QXX,
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
        E000_ENTROPY_INDEX,
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
        "(3) drops φ from q; (4) repeats (3) with φ restored",
        _pn(
            "variational_subscript",
            r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q(z\vert x)}",
            r"\frac{p_{\theta}(z\vert x)p_{\theta}(x)}{q_{\phi}(z\vert x)}",
        ),
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-empty-rows-cited",
        "002",
        "'equation 6' (after (5)) and '(16)' (after (15))",
        "typo",
        "the text cites the empty rows (6) and (16) for the bound (5) and the split (15)",
        _pn(
            "cited_rows",
            f"% first=1 cited=6\n{_BLOCK_1}\n% first=12 cited=16\n{_BLOCK_12}",
            f"% first=1 cited=5\n{_BLOCK_1}\n% first=12 cited=15\n{_BLOCK_12}",
        ),
        "01_jensen_bound",
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
        "erratum-002-eq27-kl-outside",
        "002",
        "eq. (27) and the 1/N line after it",
        "typo",
        "the KL term outside the sum over n (a missing bracket)",
        E002_EQ27,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-eq32-repeat",
        "002",
        "eqs. (31)–(32)",
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
        "erratum-002-decomposition-bracket",
        "002",
        "the decomposition after the surgery chain",
        "typo",
        "a misplaced bracket in the subscript E_{q(z_n|x_n)}",
        _pn(
            "subscript_brackets",
            r"E_{q_\phi(z_n\vert x_n})\left[\log p_\theta(x_n\vert z_n)\right]",
            r"E_{q_\phi(z_n\vert x_n)}\left[\log p_\theta(x_n\vert z_n)\right]",
        ),
    ),
    # ---------------------------------------------------------------- imprecise
    _entry(
        "erratum-000-kl-metric",
        "000",
        "'the most convenient probability metric (i.e. KL divergence)'",
        "imprecise",
        "KL is a divergence, not a metric",
        _pc("kl_is_not_a_metric"),
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-000-free-energy",
        "000",
        "'is called the free energy'",
        "imprecise",
        "in the physics sign convention the ELBO is the NEGATIVE free energy",
        E000_FREE,
        "02_kl_elbo_identity",
    ),
    _entry(
        "erratum-000-surgery-lhs",
        "000",
        "decomposition, left-hand side",
        "imprecise",
        "the right side is the AVERAGE ELBO over the data; ℒ(x) of the data set is N times it",
        E000_SURGERY_LHS,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-expected-lower-bound",
        "002",
        "'expected lower bound on the evidence'",
        "imprecise",
        "ELBO is the evidence lower bound; the name suggests a bound at every z",
        _pc("pointwise_log_weight"),
        "01_jensen_bound",
    ),
    _entry(
        "erratum-002-factorisation",
        "002",
        "eqs. (22)–(26), 'z_i is independent of z_j given x_i'",
        "imprecise",
        "the per-point split needs three unstated factorisations",
        _pc("factorised_encoder"),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-one-over-n",
        "002",
        "'ELBO(q_φ) = 1/N(…)' after eq. (27)",
        "imprecise",
        "one name for the summed and the averaged ELBO",
        E002_ONE_OVER_N,
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-decomposition-labels",
        "002",
        "'Expected reconstruction error', 'Decoded information'",
        "imprecise",
        "the first term is minus an error; 𝕀(n; z) is the index-code mutual information",
        _pc("index_code_labels"),
        "04_elbo_surgery",
    ),
    _entry(
        "erratum-002-beta-elbo",
        "002",
        "β-VAE objective written 'ELBO(q_φ)'",
        "imprecise",
        "the β-objective bounds log p(x) only for β ≥ 1",
        E002_BETA_ELBO,
        "05_beta_vae",
    ),
)

#: Old labels kept as link targets on the page (chapters link to them).
ALIASES: dict[str, str] = {"erratum-002-eq36-stray-sum": "erratum-002-eq37-stray-sum"}


def by_label(label: str) -> Erratum:
    """The erratum with this label (an old label in :data:`ALIASES` is resolved)."""
    label = ALIASES.get(label, label)
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
    fails (and every other step passes), or its computed check does not hold; and, where the
    entry has a :class:`Residual`, the residual identity is proven and the instance shows the
    relation false by more than rounding."""
    shown = _cached(e.label, "as_written")
    if isinstance(shown, Check):
        return not shown.passed
    results = shown.check(raise_on_failure=False)
    engine = any(r.expected_failure for r in results) and all(r.ok for r in results)
    return engine and (e.residual is None or e.residual.refutes())


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


def kind_counts() -> dict[str, int]:
    """How many entries of each kind (wrong, typo, imprecise), from the catalogue."""
    return {k: sum(e.kind == k for e in ERRATA) for k in KINDS}


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


@dataclass(frozen=True)
class SourceVersion:
    """The source's step, checked by the engine (it fails as expected), shown with its
    :class:`Residual` where it has one: the failure explained in the page's notation and
    evaluated on an exact instance, instead of the engine's raw residual (an expression in the
    finite model's symbols).  Without a residual (a term with no meaning) the engine's message
    is shown."""

    derivation: Derivation
    residual: Residual | None

    def _rows(self) -> list[tuple[StepResult, list[str]]]:
        out = []
        for r in self.derivation.results:
            if r.expected_failure and self.residual is not None:
                out.append((r, self.residual.lines()))
            else:
                out.append((r, [r.detail] if r.detail else []))
        return out

    def __repr__(self) -> str:
        d = self.derivation
        summary = repr(d).splitlines()[0]
        lines = [summary, f"      {d.start.text()}"]
        for r, notes in self._rows():
            s = r.step
            lines.append(f"  ({s.label}) {s.rel} {s.expr.text()}")
            lines.append(f"        [{s.why}] " + " | ".join(r.badges))
            lines += [f"        {n}" for n in notes]
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        return self.derivation._repr_latex_()

    def _repr_html_(self) -> str:
        esc = html.escape
        cell = "padding:2px 6px;border:none;vertical-align:middle"
        note = "padding:0 6px 8px 6px;border:none;font-size:85%;text-align:left"
        d = self.derivation
        rows = [
            f"<tr><td style='{cell}'></td><td style='{cell}'></td>"
            f"<td style='{cell};text-align:left'>\\(\\displaystyle {esc(d.start.latex())}\\)"
            "</td></tr>"
        ]
        rel_tex = {"=": "=", "≥": r"\geq", "≤": r"\leq"}
        for r, notes in self._rows():
            s = r.step
            colour = "#9a6700" if r.ok else "#cf222e"
            badge = " · ".join(esc(b) for b in r.badges)
            rows.append(
                f"<tr><td style='{cell};color:#57606a;white-space:nowrap'>({esc(s.label)})</td>"
                f"<td style='{cell};text-align:right'>\\({rel_tex[s.rel]}\\)</td>"
                f"<td style='{cell};text-align:left'>\\(\\displaystyle {esc(s.expr.latex())}\\)"
                "</td></tr>"
            )
            wide = f"<tr><td style='{note}'></td><td style='{note}' colspan='2'>"
            rows.append(
                f"{wide}<span style='color:#57606a'>{esc(s.why)}</span> — "
                f"<span class='elbo-badge' style='color:{colour}'>{badge}</span></td></tr>"
            )
            if r.expected_failure and self.residual is not None:
                res = self.residual
                lv, rv, diff, qv = res.numbers()
                rows.append(
                    f"{wide}<b>Why.</b> {esc(res.meaning)}. Proven: right side − left side "
                    f"\\(= {esc(res.quantity.latex())}\\) "
                    f"<span class='elbo-badge' style='color:#1a7f37'>"
                    f"{esc(' · '.join(b for x in res.derivation.results for b in x.badges))}"
                    f"</span>.<br>At {esc(res.point.text())}: left side "
                    f"{_num(lv, _DIGITS)}, right side {_num(rv, _DIGITS)}, right − left "
                    f"{_num(diff, 4)} \\(= {esc(res.quantity.latex())}\\) = {_num(qv, 4)}."
                    "</td></tr>"
                )
            else:
                rows += [
                    f"{wide}<pre style='white-space:pre-wrap;font-size:80%;margin:0'>"
                    f"{esc(n)}</pre></td></tr>"
                    for n in notes
                ]
        return (
            "<div class='elbo-derivation mathjax_process'>"
            f"<p><b>{esc(d.title or d.name)}</b> — {esc(repr(d).splitlines()[0].split(': ', 1)[1])}"
            "</p><table style='border-collapse:collapse;border:none'>"
            + "".join(rows)
            + "</table></div>"
        )


def view(shown: Shown, residual: Residual | None = None) -> DerivationView | SourceVersion | Check:
    """What the Errata page displays for a check: the source's version of an engine entry as a
    :class:`SourceVersion` (with its residual), another derivation as a :class:`DerivationView`,
    or the computed :class:`~elbo_book.derive.library.errata_records.Check` itself."""
    if isinstance(shown, Check):
        return shown
    if any(s.expect_fail for s in shown.steps):
        return SourceVersion(shown, residual)
    return DerivationView(shown)
