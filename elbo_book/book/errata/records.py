"""The records of the Errata chapter: one :class:`Erratum` per mistake, with its checks inside it.

An erratum is written once, as keyword fields next to its checks, in the module of its source
document (``working_notes`` for the notes on the KL/ELBO decomposition, ``blog_post``
for the annotated ELBO bibliography); ``catalogue`` assembles it and displays it.  Its
label (``erratum-<source>-<slug>``, the MyST label of its section on the page) names everything
else: the source, and the derivations ``erratum_<source>_<slug>_as_written``, ``…_corrected``
and ``…_residual`` registered for ``python -m elbo_book.verify``.

The check is of one of three kinds.  An engine check (:class:`EngineCheck`) is the source's step,
refuted by the SymPy engine (a step built with ``expect_fail=True``), and the corrected chain,
proven; a :class:`Discrepancy` says by how much a well-formed step is off, in the page's
notation, with its proof and one exact instance (a :class:`Point`).  A numeric claim
(:class:`NumericClaim`) is a claim in words refuted by a numeric counterexample, a function of
``elbo_book.book.errata.claims`` (torch, float64), imported only when the entry is shown, so that
collecting the derivations needs no torch.  A notation claim (:class:`NotationClaim`) is a slip
of typography, checked by a rule of ``notation`` on the LaTeX itself.

Every computed check returns a :class:`Check`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import sympy

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Certificate
from elbo_book.derive.registry import register
from elbo_book.derive.semantics import Finite, expand_loggap, uses_index
from elbo_book.derive.terms import Term

__all__ = [
    "CHAPTER",
    "DIFFERENCE_DIGITS",
    "KINDS",
    "NEAR_POSTERIOR",
    "ONE_POINT",
    "SIDE_DIGITS",
    "SOURCES",
    "TWO_POINTS",
    "Check",
    "CorrectedStep",
    "Discrepancy",
    "EngineCheck",
    "Erratum",
    "NotationClaim",
    "NumericClaim",
    "Point",
    "Residual",
    "Shown",
    "register_errata",
    "rounded",
]

CHAPTER = "errata"
"""The chapter under which the Errata's derivations are registered."""
KINDS = ("wrong", "typo", "imprecise")
"""The kinds of mistake, in the page's order (see ``catalogue``)."""
SOURCES = {"000": "the ELBO notes", "002": "the ELBO bibliography"}
"""The source documents, by the number in their errata labels, as the page names them."""


# =============================================================================================
# Computed checks
# =============================================================================================
@dataclass(frozen=True)
class Check:
    """The outcome of a computed check of one statement.

    ``method`` says how it was checked ("numeric counterexample", "numeric check",
    "notation check"); ``evidence`` lists the computed values (rounded) that decide it.
    """

    statement: str
    method: str
    passed: bool
    evidence: tuple[str, ...]

    def text(self) -> str:
        """Deterministic plain-text report: verdict, method, statement, evidence."""
        verdict = "✓ holds" if self.passed else "✗ FAILS"
        lines = [f"{verdict} ({self.method}): {self.statement}"]
        lines += [f"    {e}" for e in self.evidence]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class NumericClaim:
    """A claim in words, checked by ``elbo_book.book.errata.claims.<function>(as_written)``: the
    source's claim with ``as_written=True`` (it must fail), the corrected one with ``False``."""

    function: str

    def run(self, as_written: bool) -> Check:
        """Compute the check (imports torch, through ``elbo_book.book.errata.claims``).

        Raises:
            ValueError: ``elbo_book.book.errata.claims`` has no such check.
        """
        from elbo_book.book.errata import claims

        check = getattr(claims, self.function, None)
        if check is None or self.function not in claims.__all__:
            raise ValueError(f"elbo_book.book.errata.claims has no check {self.function!r}")
        result: Check = check(as_written)
        return result


@dataclass(frozen=True)
class NotationClaim:
    """A typographical slip: the ``rule`` (or rules) of ``notation`` fails on the source's
    LaTeX ``as_written`` and passes on the ``corrected`` LaTeX."""

    rule: str | tuple[str, ...]
    as_written: str
    corrected: str

    def run(self, as_written: bool) -> Check:
        """Apply the rule to the source's snippet (``as_written=True``) or the corrected one."""
        from elbo_book.book.errata.notation import notation_check

        return notation_check(self.rule, self.as_written if as_written else self.corrected)


# =============================================================================================
# Engine checks: the source's step, its correction, and why the source's step fails
# =============================================================================================
def _fraction(v: sympy.Rational) -> str:
    return str(v)


def rounded(v: sympy.Expr, digits: int) -> str:
    """A value rounded for display (negative zero shown as 0)."""
    r = round(float(v), digits)
    return f"{0.0 if r == 0 else r:.{digits}f}"


SIDE_DIGITS = 6
"""The decimals of a printed side (a difference has 4, so the printed sides reproduce it)."""
DIFFERENCE_DIGITS = 4
"""The decimals of a printed difference."""
_NOT_NOISE = 0.1


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
            return "(" + ", ".join(_fraction(a) for a in v) + ")"

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
        the data index present when any term of ``shape`` uses it).

        Raises:
            ValueError: the translation has a symbol this instance gives no value.
        """
        k, n_points = self.size
        sem = Finite(sizes=(k,), index_sizes=(n_points,))
        inst = next(iter(sem.instances(list(shape))))
        expr = expand_loggap(inst.translate(term))
        vals = self.values()
        missing = sorted(str(s) for s in expr.free_symbols if str(s) not in vals)
        if missing:
            raise ValueError(f"the instance gives no value to {missing}")
        return sympy.nsimplify(expr.subs({s: vals[str(s)] for s in expr.free_symbols}))


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
        if not all(r.proven and not r.expected_failure for r in results):
            return False
        lv, rv, diff, qv = self.numbers()
        d = float(diff)
        printed = round(float(rv), SIDE_DIGITS) - round(float(lv), SIDE_DIGITS)
        reproduced = abs(d - float(qv)) < 1e-12 and rounded(printed, DIFFERENCE_DIGITS) == rounded(
            diff, DIFFERENCE_DIGITS
        )
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
            f"  left side = {rounded(lv, SIDE_DIGITS)}, right side = {rounded(rv, SIDE_DIGITS)}, "
            f"right − left = {rounded(diff, DIFFERENCE_DIGITS)} = {self.quantity.text()} = "
            f"{rounded(qv, DIFFERENCE_DIGITS)}",
        ]


@dataclass(frozen=True)
class Discrepancy:
    """By how much the source's step is off: its right side minus its left side is ``quantity``,
    proven by the engine (justified by ``why``), explained in words by ``meaning`` and evaluated
    at the exact instance ``point``."""

    quantity: Term
    why: str
    meaning: str
    point: Point


@dataclass(frozen=True)
class CorrectedStep:
    """A further step of a corrected chain: ``rel expr``, justified by ``why``."""

    expr: Term
    why: str
    rel: str = "="
    certificate: Certificate | None = None


# One small model refutes a false step (the engine shows that it fails).  Corrections and
# residual identities are proven for K = 2, 3, 4 latent values (for any K where the indexed-sum
# prover applies); where the data index enters, for (K, N) = (2, 2), (3, 2), (2, 3) (chapters 2
# and 4 prove the same identities at larger sizes).
_REFUTING_SEMANTICS = (Finite(sizes=(2,), index_sizes=(2,)),)
_PROVING_SEMANTICS = (Finite(sizes=(2, 3, 4)),)
_PROVING_INDEX_SEMANTICS = (
    Finite(sizes=(2, 3), index_sizes=(2,)),
    Finite(sizes=(2,), index_sizes=(3,)),
)


def _proving_semantics(terms: Sequence[Term]) -> tuple[Finite, ...]:
    return _PROVING_INDEX_SEMANTICS if uses_index(list(terms)) else _PROVING_SEMANTICS


@dataclass(frozen=True)
class EngineCheck:
    """The source's step ``start rel_as_written as_written`` (refuted by the engine: built with
    ``expect_fail=True``) and the corrected chain from ``start_corrected`` (default ``start``):
    first ``corrected`` (when given, labelled "fixed"), then ``then`` (labelled "fixed.1", …).

    The source's step is refuted at K = 2 (N = 2), the corrected chain proven at the sizes
    above; ``discrepancy`` explains a well-formed step's failure (see :class:`Residual`).
    """

    start: Term
    as_written: Term
    why_as_written: str
    rel_as_written: str = "="
    certificate_as_written: Certificate | None = None
    corrected: Term | None = None
    why_corrected: str = ""
    rel_corrected: str = "="
    certificate_corrected: Certificate | None = None
    start_corrected: Term | None = None
    then: tuple[CorrectedStep, ...] = ()
    discrepancy: Discrepancy | None = None

    def derivations(self, name: str) -> tuple[Derivation, Derivation, Residual | None]:
        """``<name>_as_written`` (one step, expected to fail), ``<name>_corrected`` and, with a
        discrepancy, the :class:`Residual` around ``<name>_residual``."""
        source = Derivation(
            f"{name}_as_written",
            self.start,
            title="The source's version (expected to fail)",
            semantics=_REFUTING_SEMANTICS,
            chapter=CHAPTER,
        ).step(
            self.rel_as_written,
            self.as_written,
            self.why_as_written,
            label="source",
            certificate=self.certificate_as_written,
            expect_fail=True,
        )
        start = self.start_corrected or self.start
        terms = [self.start, self.corrected or self.start, start, *(s.expr for s in self.then)]
        fixed = Derivation(
            f"{name}_corrected",
            start,
            title="Corrected",
            semantics=_proving_semantics(terms),
            chapter=CHAPTER,
        )
        if self.corrected is not None:
            fixed = fixed.step(
                self.rel_corrected,
                self.corrected,
                self.why_corrected,
                label="fixed",
                certificate=self.certificate_corrected,
            )
        for i, s in enumerate(self.then, start=1):
            fixed = fixed.step(s.rel, s.expr, s.why, label=f"fixed.{i}", certificate=s.certificate)
        if self.discrepancy is None:
            return source, fixed, None
        d = self.discrepancy
        proof = Derivation(
            f"{name}_residual",
            self.as_written - self.start,
            title="Why the source's step fails",
            semantics=_proving_semantics([self.start, self.as_written, d.quantity]),
            chapter=CHAPTER,
        ).step("=", d.quantity, d.why, label="residual")
        residual = Residual(
            proof, d.meaning, d.point, self.start, self.rel_as_written, self.as_written
        )
        return source, fixed, residual


Shown = Derivation | Check
"""What an entry shows for either side, a derivation or a computed check."""


@dataclass(frozen=True)
class Erratum:
    """One mistake in a source: its label (``erratum-<source>-<slug>``), where it is, what kind,
    a one-line title, its check, and the chapter that treats the topic (``see``)."""

    label: str
    location: str
    kind: str
    title: str
    check: EngineCheck | NumericClaim | NotationClaim
    see: str = ""

    def __post_init__(self) -> None:
        parts = self.label.split("-", 2)
        if len(parts) != 3 or parts[0] != "erratum" or parts[1] not in SOURCES or not parts[2]:
            raise ValueError(
                f"label {self.label!r} must be 'erratum-<source>-<slug>' with a source in "
                f"{sorted(SOURCES)}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def source(self) -> str:
        """The source document's number (a key of :data:`SOURCES`), from the label."""
        return self.label.split("-")[1]

    @property
    def name(self) -> str:
        """The stem of the entry's derivation names, the label with ``_`` for ``-``."""
        return self.label.replace("-", "_")

    @cached_property
    def _engine(self) -> tuple[Derivation, Derivation, Residual | None] | None:
        if isinstance(self.check, EngineCheck):
            return self.check.derivations(self.name)
        return None

    @cached_property
    def _computed(self) -> tuple[Check, Check] | None:
        if isinstance(self.check, EngineCheck):
            return None
        return self.check.run(True), self.check.run(False)

    def derivations(self) -> tuple[Derivation, ...]:
        """The derivations to register: as written, corrected and the residual's (engine
        checks only; none for a computed check)."""
        if self._engine is None:
            return ()
        source, fixed, residual = self._engine
        return (source, fixed) if residual is None else (source, fixed, residual.derivation)

    def as_written(self) -> Shown:
        """The source's version, which must fail: a derivation or a computed check."""
        if self._engine is not None:
            return self._engine[0]
        assert self._computed is not None
        return self._computed[0]

    def corrected(self) -> Shown:
        """The corrected statement, which must pass: a derivation or a computed check."""
        if self._engine is not None:
            return self._engine[1]
        assert self._computed is not None
        return self._computed[1]

    @property
    def residual(self) -> Residual | None:
        """Why the source's step fails, for an engine check with a discrepancy."""
        return None if self._engine is None else self._engine[2]

    @property
    def method(self) -> str:
        """The kind of check that refutes the source's version (engine, numeric or notation)."""
        shown = self.as_written()
        return shown.method if isinstance(shown, Check) else "SymPy engine"


def register_errata(entries: Sequence[Erratum]) -> None:
    """Register every entry's derivations under the chapter ``errata``, in order.

    Raises:
        ValueError: two entries share a label, or a derivation name is already used.
    """
    labels = [e.label for e in entries]
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(f"erratum label {label!r} is used twice")
    for e in entries:
        for d in e.derivations():
            register(chapter=CHAPTER)(_built(d))


def _built(d: Derivation) -> Callable[[], Derivation]:
    return lambda: d


# =============================================================================================
# Instances and terms both sources use
# =============================================================================================
_R = sympy.Rational

# q(z|x) far from the posterior (8/9, 1/9), close to it, and two data points; p(x) = 9/20 < 1.
# Every refuted step is off by at least 0.1 on its instance (Residual.refutes checks it), so no
# difference shown is a rounding effect.
ONE_POINT = Point(prior=(_R(1, 2), _R(1, 2)), lik=(_R(4, 5), _R(1, 10)), enc=(_R(1, 5), _R(4, 5)))
"""One data point, q(z|x) = (1/5, 4/5) far from the posterior (8/9, 1/9)."""
NEAR_POSTERIOR = Point(
    prior=(_R(1, 2), _R(1, 2)), lik=(_R(4, 5), _R(1, 10)), enc=(_R(9, 10), _R(1, 10))
)
"""One data point, q(z|x) = (9/10, 1/10) close to the posterior."""
TWO_POINTS = Point(
    prior=(_R(1, 5), _R(4, 5)),
    lik_n=((_R(4, 5), _R(1, 10)), (_R(1, 10), _R(3, 5))),
    enc_n=((_R(9, 10), _R(1, 10)), (_R(1, 5), _R(4, 5))),
)
"""Two data points."""
