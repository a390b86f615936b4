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
from dataclasses import dataclass, field

from elbo_book.derive.checks import Certificate, CheckFailed, Numeric, check_relation
from elbo_book.derive.semantics import Finite, Semantics
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
    """The verdict on one step.  ``ok`` is True for a proven step and for a confirmed expected
    failure; ``badges`` state the strength; ``detail`` holds the failure message."""

    step: Step
    ok: bool
    badges: tuple[str, ...]
    detail: str = ""
    seconds: float = 0.0

    @property
    def expected_failure(self) -> bool:
        return self.step.expect_fail


@dataclass
class Derivation:
    """A chain ``start rel_1 e_1 rel_2 e_2 …`` whose every step is checked.

    ``semantics`` are the model families in which identities are proven (default: finite support
    K = 2, 3, 4).  ``chapter`` is set by :func:`elbo_book.derive.registry.register`.
    """

    name: str
    start: Term
    title: str = ""
    semantics: tuple[Semantics, ...] = (Finite(),)
    chapter: str = ""
    steps: list[Step] = field(default_factory=list)
    _results: list[StepResult] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.start = as_term(self.start)
        if not self.name.isidentifier():
            raise ValueError(f"a derivation name must be an identifier, got {self.name!r}")

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
        """Append a step and return the derivation (for chaining).  ``crosscheck`` adds a numeric
        evaluation on random instances after the proof (labelled as such)."""
        if rel not in _REL_TEX:
            raise ValueError(f"relation must be one of {list(_REL_TEX)}, got {rel!r}")
        if not why.strip():
            raise ValueError("every step needs a justification")
        lab = label or str(len(self.steps) + 1)
        if any(s.label == lab for s in self.steps):
            raise ValueError(f"duplicate step label {lab!r} in derivation {self.name!r}")
        self.steps.append(
            Step(rel, as_term(expr), why, lab, certificate, expect_fail, semantics, crosscheck)
        )
        self._results = None
        return self

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
    def check_step(self, i: int, step: Step | None = None) -> list[str]:
        """Check step ``i`` (or a replacement ``step`` at that position); raise CheckFailed."""
        s = step or self.steps[i]
        sem = s.semantics or self.semantics
        badges = check_relation(self.previous(i), s.rel, s.expr, s.certificate, sem)
        if s.crosscheck:
            num = Numeric(trials=5).check(self.previous(i), s.rel, s.expr, sem)
            badges.append(num[0].replace("numeric only", "+ numeric cross-check"))
        return badges

    def check(self, raise_on_failure: bool = True) -> list[StepResult]:
        """Check every step (always afresh).  Raise :class:`StepError` for the first unexpected
        failure, unless ``raise_on_failure`` is False."""
        results: list[StepResult] = []
        for i, s in enumerate(self.steps):
            t0 = time.perf_counter()
            try:
                badges = self.check_step(i)
                if s.expect_fail:
                    res = StepResult(s, False, tuple(badges), "expected to fail, but it passed")
                else:
                    res = StepResult(s, True, tuple(badges))
            except CheckFailed as err:
                if s.expect_fail:
                    res = StepResult(s, True, ("✗ fails as expected",), str(err))
                else:
                    res = StepResult(s, False, ("✗ FAILED",), str(err))
            results.append(
                StepResult(res.step, res.ok, res.badges, res.detail, time.perf_counter() - t0)
            )
        self._results = results
        if raise_on_failure:
            for r in results:
                if not r.ok:
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
        return self._results

    # ---- display --------------------------------------------------------------------------
    def _summary(self) -> str:
        res = self.results
        proven = sum(r.ok and not r.expected_failure for r in res)
        expected = sum(r.ok and r.expected_failure for r in res)
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
        return "\n".join(lines)

    def _row_note(self, r: StepResult) -> str:
        badge = "; ".join(b.lstrip("✓✗ ") for b in r.badges)
        mark = r"\checkmark" if r.ok and not r.expected_failure else r"\times"
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
            ok = r.ok and not r.expected_failure
            colour = "#1a7f37" if ok else ("#9a6700" if r.ok else "#cf222e")
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
        return (
            f"<div class='elbo-derivation mathjax_process'>"
            f"<p><b>{esc(self.title or self.name)}</b> — {esc(self._summary())}</p>"
            "<table style='border-collapse:collapse;border:none'>"
            + "".join(rows)
            + "</table></div>"
        )


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
