"""Derivations: chains of checked steps that display themselves.

A :class:`Derivation` starts from an expression and adds steps, each a new expression, a relation
(=, ≥, ≤), a short justification and an optional certificate.  :meth:`Derivation.check` checks every
step (see :mod:`elbo_book.derive.checks`) and raises :class:`StepError` naming the first false step.
In Jupyter the derivation renders as an aligned chain with each step's label, justification and
strength badge; its ``text/plain`` form lists the same verdicts deterministically (no timings).

A step built with ``expect_fail=True`` records a known mistake (used by the Errata): it passes
only if its check *fails*, and displays the failing check's message.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field, replace

from elbo_book.derive.checks import (
    Certificate,
    CheckFailed,
    Numeric,
    check_relation,
)
from elbo_book.derive.semantics import Finite, Semantics
from elbo_book.derive.strength import Badge, Sizes, Strength
from elbo_book.derive.terms import Term, as_term

__all__ = ["Derivation", "Step", "StepError", "StepResult"]

_REL_TEX = {"=": "=", "≥": r"\geq", "≤": r"\leq"}


class StepError(AssertionError):
    """A step of a derivation is false (or an expected failure unexpectedly passed)."""

    def __init__(self, derivation: str, step: Step, detail: str) -> None:
        self.derivation = derivation
        self.step = step
        self.detail = detail
        super().__init__(
            f"derivation {derivation!r}, step ({step.label}) [{step.why}]: "
            f"{step.rel} {step.expr.text()}\n  {detail}"
        )


@dataclass(frozen=True)
class Step:
    """One link of the chain: ``previous rel expr``, justified by ``why``."""

    rel: str
    expr: Term
    why: str
    label: str
    certificate: Certificate | None = None
    expect_fail: bool = False
    semantics: tuple[Semantics, ...] | None = None
    crosscheck: bool = False


@dataclass(frozen=True)
class StepResult:
    """The verdict on one step.  ``proven`` says whether the step's relation was proven (its
    check passed); :attr:`as_expected` whether that is what the step expects (proven, or, for a
    recorded mistake built with ``expect_fail=True``, refuted); ``badges`` state the strength;
    ``detail`` holds the failure message."""

    step: Step
    proven: bool
    badges: tuple[str, ...]
    detail: str = ""
    seconds: float = 0.0

    @property
    def expected_failure(self) -> bool:
        """Whether the step records a known mistake (built with ``expect_fail=True``)."""
        return self.step.expect_fail

    @property
    def as_expected(self) -> bool:
        """A proven step, or a recorded mistake that was refuted (a confirmed expected failure)."""
        return self.proven != self.step.expect_fail

    @property
    def confirmed_failure(self) -> bool:
        """A recorded mistake that was refuted, as it must be."""
        return self.step.expect_fail and not self.proven


_INEQUALITIES = ("≥", "≤")


@dataclass(frozen=True)
class Derivation:
    """A chain ``start rel_1 e_1 rel_2 e_2 …`` whose every step is checked.

    ``semantics`` are the model families in which identities are proven (default: finite support
    K = 2, 3, 4).  ``chapter`` is set by :func:`elbo_book.derive.registry.register`.

    A derivation is immutable: each builder method (:meth:`step`, :meth:`eq`, :meth:`ge`,
    :meth:`le`) returns a new derivation, so a checked chain cannot be changed afterwards and
    its display always shows the verdicts of what it contains.  A chain is checked as a whole:
    its inequalities all point one way, and every step's semantics covers one of the
    derivation's (see :meth:`conclusion`).
    """

    name: str
    start: Term
    title: str = ""
    semantics: tuple[Semantics, ...] = (Finite(),)
    chapter: str = ""
    steps: tuple[Step, ...] = ()
    _results: tuple[StepResult, ...] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_term(self.start))
        object.__setattr__(self, "steps", tuple(self.steps))
        if not self.name.isidentifier():
            raise ValueError(f"a derivation name must be an identifier, got {self.name!r}")
        if not self.semantics:
            raise ValueError(f"derivation {self.name!r} needs at least one semantics")
        labels = [s.label for s in self.steps]
        for lab in labels:
            if labels.count(lab) > 1:
                raise ValueError(f"duplicate step label {lab!r} in derivation {self.name!r}")
        proved = [s for s in self.steps if not s.expect_fail]
        for s in proved:
            if s.rel not in _REL_TEX:
                raise ValueError(f"relation must be one of {list(_REL_TEX)}, got {s.rel!r}")
            if not s.why.strip():
                raise ValueError("every step needs a justification")
            first = next(t for t in proved if t.rel in _INEQUALITIES or t is s)
            if s.rel in _INEQUALITIES and first.rel != s.rel:
                raise ValueError(
                    f"derivation {self.name!r}: step ({s.label}) is {s.rel} but step "
                    f"({first.label}) is {first.rel}; one chain, one direction"
                )
            if s.semantics is not None and not any(
                sem.covers(base) for sem in s.semantics for base in self.semantics
            ):
                raise ValueError(
                    f"derivation {self.name!r}: step ({s.label}) is checked in "
                    f"{'; '.join(t.describe() for t in s.semantics)}, which covers none of the "
                    f"derivation's semantics ({'; '.join(t.describe() for t in self.semantics)})"
                )
        if proved and not self.conclusion()[1]:
            raise ValueError(
                f"derivation {self.name!r}: its steps hold in no common semantics (no conclusion)"
            )

    # ---- building -----------------------------------------------------------------------
    def step(
        self,
        rel: str,
        expr: object,
        why: str,
        *,
        label: str | None = None,
        certificate: Certificate | None = None,
        expect_fail: bool = False,
        semantics: tuple[Semantics, ...] | None = None,
        crosscheck: bool = False,
    ) -> Derivation:
        """A new derivation: this one with a step appended.  ``crosscheck`` adds a numeric
        evaluation on random instances after the proof (labelled as such).  Refused (ValueError):
        a step whose inequality points the other way than the chain's (a chain mixing ≥ and ≤
        concludes nothing), a step whose semantics covers none of the derivation's, and steps
        that leave no semantics common to the whole chain."""
        if rel not in _REL_TEX:
            raise ValueError(f"relation must be one of {list(_REL_TEX)}, got {rel!r}")
        if not why.strip():
            raise ValueError("every step needs a justification")
        lab = label or str(len(self.steps) + 1)
        new = Step(rel, as_term(expr), why, lab, certificate, expect_fail, semantics, crosscheck)
        return replace(self, steps=(*self.steps, new), _results=None)

    def eq(self, expr: object, why: str, **kw: object) -> Derivation:
        """Append ``= expr``."""
        return self.step("=", expr, why, **kw)  # type: ignore[arg-type]

    def ge(self, expr: object, why: str, **kw: object) -> Derivation:
        """Append ``≥ expr`` (needs a certificate)."""
        return self.step("≥", expr, why, **kw)  # type: ignore[arg-type]

    def le(self, expr: object, why: str, **kw: object) -> Derivation:
        """Append ``≤ expr`` (needs a certificate)."""
        return self.step("≤", expr, why, **kw)  # type: ignore[arg-type]

    @property
    def end(self) -> Term:
        """The last expression of the chain."""
        return self.steps[-1].expr if self.steps else self.start

    def conclusion(self) -> tuple[str, tuple[Semantics, ...]]:
        """The chain's conclusion ``start rel end`` as (rel, semantics): ``=`` when every step is
        an identity, else the chain's one inequality; it holds (by transitivity of the checked
        steps) in each of the derivation's semantics that every step's semantics covers.
        Expected failures (errata) take no part."""
        steps = [s for s in self.steps if not s.expect_fail]
        rels = {s.rel for s in steps} - {"="}  # at most one (checked on construction)
        if len(rels) > 1:
            raise StepError(self.name, steps[-1], "the chain mixes ≥ and ≤: it concludes nothing")
        rel = rels.pop() if rels else "="
        common = tuple(
            base
            for base in self.semantics
            if all(any(sem.covers(base) for sem in (s.semantics or self.semantics)) for s in steps)
        )
        return rel, common

    def previous(self, i: int) -> Term:
        """The expression before step ``i``."""
        return self.start if i == 0 else self.steps[i - 1].expr

    def step_by_label(self, label: str) -> Step:
        """The step with this label."""
        for s in self.steps:
            if s.label == label:
                return s
        raise KeyError(f"no step labelled {label!r} in {self.name!r}")

    # ---- checking -------------------------------------------------------------------------
    def check_step(self, i: int, step: Step | None = None) -> list[Badge]:
        """Check step ``i`` (or a replacement ``step`` at that position); raise CheckFailed."""
        s = step or self.steps[i]
        sem = s.semantics or self.semantics
        badges = check_relation(self.previous(i), s.rel, s.expr, s.certificate, sem)
        if s.crosscheck:
            num = Numeric(trials=5).check(self.previous(i), s.rel, s.expr, sem)
            text = f"+ numeric cross-check ({num[0].split('(', 1)[1]}"
            badges.append(Badge(text, Strength.CROSS_CHECK))
        return badges

    def check(self, raise_on_failure: bool = True) -> list[StepResult]:
        """Check every step (always afresh).  Raise :class:`StepError` for the first unexpected
        failure, unless ``raise_on_failure`` is False."""
        results: list[StepResult] = []
        for i, s in enumerate(self.steps):
            t0 = time.perf_counter()
            try:
                badges = self.check_step(i)
                detail = "expected to fail, but it passed" if s.expect_fail else ""
                res = StepResult(s, True, tuple(badges), detail)
            except CheckFailed as err:
                badge = (
                    Badge("✗ fails as expected", Strength.ERRATUM)
                    if s.expect_fail
                    else Badge("✗ FAILED", Strength.FAILED)
                )
                res = StepResult(s, False, (badge,), str(err))
            results.append(replace(res, seconds=time.perf_counter() - t0))
        object.__setattr__(self, "_results", tuple(results))
        if raise_on_failure:
            for r in results:
                if not r.as_expected:
                    raise StepError(self.name, r.step, r.detail)
        return results

    def verify(self) -> Derivation:
        """Check every step, raise on a false one, and return self (for display)."""
        self.check()
        return self

    @property
    def results(self) -> list[StepResult]:
        """The verdicts, checking on first use (displays call this)."""
        if self._results is None:
            self.check()
        assert self._results is not None
        return list(self._results)

    # ---- display --------------------------------------------------------------------------
    def _summary(self) -> str:
        res = self.results
        proven = sum(r.proven and not r.expected_failure for r in res)
        expected = sum(r.confirmed_failure for r in res)
        out = f"{proven}/{len(res) - expected} steps verified"
        if expected:
            out += f", {expected} expected failure{'s' if expected > 1 else ''} confirmed"
        return out

    def __repr__(self) -> str:
        lines = [f"Derivation {self.name}: {self._summary()}", f"      {self.start.text()}"]
        for r in self.results:
            s = r.step
            lines.append(f"  ({s.label}) {s.rel} {s.expr.text()}")
            lines.append(f"        [{s.why}] " + " | ".join(r.badges))
            if r.detail:
                lines.append(f"        {r.detail}")
        conclusion = self._conclusion_text()
        if conclusion:
            lines.append(f"  conclusion: {conclusion}")
        return "\n".join(lines)

    def _conclusion_where(self) -> str:
        """Where the conclusion was proved, from the verdicts: every step must have been proved in
        a semantics for it to count (a step of plain algebra holds in all of them); a finite
        semantics in which every step was proved for every size counts as that (its
        :meth:`~elbo_book.derive.semantics.translator.Semantics.describe_any_size`)."""
        rs = [r for r in self.results if not r.expected_failure]
        if all(_is_algebra_step(r) for r in rs):
            return "plain algebra, outside any model"
        model = [r for r in rs if not _is_algebra_step(r)]
        where: list[str] = []
        chain_terms = [self.start, *(st.expr for st in self.steps)]
        for sem in self.conclusion()[1]:
            any_size = sem.describe_any_size(chain_terms)
            if any_size is not None and all(_any_size_only(r) for r in model):
                where.append(any_size)
                continue
            if all(self._proved_in(r, sem) for r in model):
                where.append(sem.describe([self.start, self.end]))
        return "; ".join(dict.fromkeys(where))

    def _proved_in(self, r: StepResult, base: Semantics) -> bool:
        """Whether step ``r`` was proved (its badges say so) in a semantics covering ``base``."""
        i = self.steps.index(r.step)
        terms = [[self.previous(i), r.step.expr], [self.start, self.end]]
        return any(
            sem.describe(t) in b
            for sem in (r.step.semantics or self.semantics)
            if sem.covers(base)
            for t in terms
            for b in r.badges
        )

    def _conclusion_text(self) -> str:
        """``start rel end (in …)`` when every step of the chain is proven (and a semantics in
        which all of them were proved exists), else ``""``."""
        res = self.results
        if not any(not r.expected_failure for r in res) or not all(r.as_expected for r in res):
            return ""
        where = self._conclusion_where()
        if not where:
            return ""
        rel = self.conclusion()[0]
        return f"{self.start.text()} {rel} {self.end.text()} (in {where})"

    def _row_note(self, r: StepResult) -> str:
        badge = "; ".join(b.lstrip("✓✗ ") for b in r.badges)
        mark = r"\checkmark" if r.proven and not r.expected_failure else r"\times"
        why = _tex_text(f"({r.step.label}) {r.step.why}")
        return rf"\text{{{why}}} \quad {mark}\ \text{{{_tex_text(badge)}}}"

    def _repr_latex_(self) -> str:
        rows = []
        for i, r in enumerate(self.results):
            left = self.start.latex() if i == 0 else ""
            rows.append(
                f"{left} &{_REL_TEX[r.step.rel]} {r.step.expr.latex()} && {self._row_note(r)}"
            )
        return "$$\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}$$"

    def _repr_html_(self) -> str:
        return self.html()

    def html(self, *, narrow: bool = False) -> str:
        """The derivation as an HTML table, one row per step with its justification and verdict
        (a badge per check) under it.  ``narrow=True`` lays it out for a narrow column (the
        Errata page): the justification row spans the formula columns and a failing check's
        message (residual, counterexample) is shown in full width, preformatted."""
        esc = html.escape
        cell = "padding:2px 6px;border:none;vertical-align:middle"
        note = "padding:0 6px 8px 6px;border:none;font-size:85%;text-align:left"
        rows = [
            f"<tr><td style='{cell}'></td><td style='{cell}'></td>"
            f"<td style='{cell};text-align:left'>\\(\\displaystyle {esc(self.start.latex())}\\)"
            "</td></tr>"
        ]
        for r in self.results:
            s = r.step
            ok = r.proven and not r.expected_failure
            colour = "#1a7f37" if ok else ("#9a6700" if r.confirmed_failure else "#cf222e")
            badge = " · ".join(esc(b) for b in r.badges)
            verdict = (
                f"<span style='color:#57606a'>{esc(s.why)}</span> — "
                f"<span class='elbo-badge' style='color:{colour}'>{badge}</span>"
            )
            rows.append(
                f"<tr><td style='{cell};color:#57606a;white-space:nowrap'>({esc(s.label)})</td>"
                f"<td style='{cell};text-align:right'>\\({_REL_TEX[s.rel]}\\)</td>"
                f"<td style='{cell};text-align:left'>"
                f"\\(\\displaystyle {esc(s.expr.latex())}\\)</td></tr>"
            )
            if narrow:
                wide = f"<tr><td style='{note}'></td><td style='{note}' colspan='2'>"
                rows.append(f"{wide}{verdict}</td></tr>")
                if r.detail:
                    rows.append(
                        f"{wide}<pre style='white-space:pre-wrap;font-size:80%;margin:0'>"
                        f"{esc(r.detail)}</pre></td></tr>"
                    )
            else:
                detail = ""
                if r.detail:
                    detail = f"<br><span style='color:#57606a'>{esc(r.detail)}</span>"
                rows.append(
                    f"<tr><td style='{note}'></td><td style='{note}'></td>"
                    f"<td style='{note}'>{verdict}{detail}</td></tr>"
                )
        conclusion = ""
        if self._conclusion_text():
            rel, where = self.conclusion()[0], self._conclusion_where()
            conclusion = (
                f"<p style='font-size:85%'>Conclusion: \\(\\displaystyle "
                f"{esc(self.start.latex())} {_REL_TEX[rel]} {esc(self.end.latex())}\\) — "
                f"in {esc(where)}</p>"
            )
        return (
            f"<div class='elbo-derivation mathjax_process'>"
            f"<p><b>{esc(self.title or self.name)}</b> — {esc(self._summary())}</p>"
            "<table style='border-collapse:collapse;border:none'>"
            + "".join(rows)
            + "</table>"
            + conclusion
            + "</div>"
        )


def _sizes(b: str) -> Sizes:
    return b.sizes if isinstance(b, Badge) else Sizes.NONE


def _is_algebra_step(r: StepResult) -> bool:
    return any(isinstance(b, Badge) and b.strength is Strength.ALGEBRA for b in r.badges)


def _any_size_only(r: StepResult) -> bool:
    """Whether every finite-support part of step ``r``'s proof (the identity, and a
    certificate's non-negativity) holds for any support size (and any N), from the badges'
    typed ``elbo_book.derive.strength.Sizes``."""
    sizes = [_sizes(b) for b in r.badges if _sizes(b) is not Sizes.NONE]
    return bool(sizes) and all(s is Sizes.ANY for s in sizes)


def _tex_text(s: str) -> str:
    """Escape a string for ``\\text{…}``."""
    for a, b in (
        ("\\", r"\backslash "),
        ("{", r"\{"),
        ("}", r"\}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
        ("$", r"\$"),
    ):
        s = s.replace(a, b)
    return s
