"""The Errata's catalogue: every mistake found in the two source documents, in the page's order.

Sources: the notes on the KL/ELBO decomposition (``shi_elbo_notes`` in the book's bibliography,
source ``"000"``; entries in ``working_notes``) and the annotated ELBO bibliography
(``elbo_bibliography_post``, source ``"002"``; entries in ``blog_post``).  Each entry is
an :class:`~elbo_book.book.errata.records.Erratum` record: a stable label (the MyST
label of its section in ``chapters/errata.ipynb``), the location, a kind, and a check with two
sides:

* ``as_written()`` — the source's version, which must FAIL: a derivation whose step is marked
  ``expect_fail`` (the engine shows the failing check), a numeric counterexample
  (``elbo_book.book.errata.claims``, imported only when shown: collecting the derivations needs no
  torch) or a notation check (``notation``);
* ``corrected()`` — the corrected statement, which must PASS.

Where the source's step is a well-formed equation or inequality that the engine refutes, the
entry also carries a :class:`~elbo_book.book.errata.records.Residual`: the quantity by
which the source's right side is off, written in the page's notation (for example
2·KL(q(z) ‖ p(z))), the identity "right side − left side = that quantity" proven by the engine
(derivation ``<name>_residual``), and one concrete instance, given by exact fractions, on which
both sides, their difference and the quantity are evaluated.

Equation entries use the SymPy engine; their derivations are registered under the chapter
``errata`` so ``python -m elbo_book.verify`` counts the expected failures.  Kinds:

* ``wrong`` — a well-formed equation or a claim in words that is false as written;
* ``typo`` — a slip of notation whose intended meaning is clear from the context: a term with no
  meaning (``q(x | x)``, an index used outside its sum), a misplaced bracket or differential, a
  repeated row, a reference to an empty row;
* ``imprecise`` — a misleading name, or a statement true only under conditions the source does
  not state.

This module assembles the catalogue (:data:`ERRATA`, by kind, the notes first within a kind),
registers its derivations in that order and lays the checks out for the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from elbo_book.book.errata import blog_post, working_notes
from elbo_book.book.errata.records import (
    DIFFERENCE_DIGITS,
    KINDS,
    SIDE_DIGITS,
    SOURCES,
    Check,
    Erratum,
    Residual,
    Shown,
    register_errata,
    rounded,
)
from elbo_book.derive.chain import Derivation, StepResult

__all__ = [
    "ALIASES",
    "ERRATA",
    "KINDS",
    "SOURCES",
    "DerivationView",
    "SourceVersion",
    "by_label",
    "correction_passes",
    "failing_check_fails",
    "kind_counts",
    "summary_rows",
    "view",
]

ERRATA: tuple[Erratum, ...] = tuple(
    sorted((*working_notes.ENTRIES, *blog_post.ENTRIES), key=lambda e: KINDS.index(e.kind))
)
"""Every entry, grouped by kind in the order of ``KINDS``; within a kind the notes come first."""

register_errata(ERRATA)  # the verification report lists the derivations in the page's order

#: Old labels kept as link targets on the page (chapters link to them).
ALIASES: dict[str, str] = {"erratum-002-eq36-stray-sum": "erratum-002-eq37-stray-sum"}


def by_label(label: str) -> Erratum:
    """The erratum with this label (an old label in :data:`ALIASES` is resolved).

    Raises:
        KeyError: no erratum has this label.
    """
    label = ALIASES.get(label, label)
    for e in ERRATA:
        if e.label == label:
            return e
    raise KeyError(f"no erratum labelled {label!r}")


def failing_check_fails(e: Erratum) -> bool:
    """True iff the source's version is refuted: every expected-to-fail step of its derivation
    fails (and every other step passes), or its computed check does not hold; and, where the
    entry has a :class:`~elbo_book.book.errata.records.Residual`, the residual identity
    is proven and the instance shows the relation false by more than rounding."""
    shown = e.as_written()
    if isinstance(shown, Check):
        return not shown.passed
    results = shown.check(raise_on_failure=False)
    engine = any(r.expected_failure for r in results) and all(r.as_expected for r in results)
    return engine and (e.residual is None or e.residual.refutes())


def correction_passes(e: Erratum) -> bool:
    """True iff the corrected statement checks: every step proven, or the computed check holds."""
    shown = e.corrected()
    if isinstance(shown, Check):
        return shown.passed
    results = shown.check(raise_on_failure=False)
    return all(r.proven and not r.expected_failure for r in results)


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
    :class:`~elbo_book.book.errata.records.Residual` where it has one: the failure
    explained in the page's notation and evaluated on an exact instance, instead of the engine's
    raw residual (an expression in the finite model's symbols).  Without a residual (a term with
    no meaning) the engine's message is shown."""

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
            colour = "#9a6700" if r.as_expected else "#cf222e"
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
                lv, rv, diff, qv = (
                    rounded(v, digits)
                    for v, digits in zip(
                        res.numbers(),
                        (SIDE_DIGITS, SIDE_DIGITS, DIFFERENCE_DIGITS, DIFFERENCE_DIGITS),
                        strict=True,
                    )
                )
                rows.append(
                    f"{wide}<b>Why.</b> {esc(res.meaning)}. Proven: right side − left side "
                    f"\\(= {esc(res.quantity.latex())}\\) "
                    f"<span class='elbo-badge' style='color:#1a7f37'>"
                    f"{esc(' · '.join(b for x in res.derivation.results for b in x.badges))}"
                    f"</span>.<br>At {esc(res.point.text())}: left side "
                    f"{lv}, right side {rv}, right − left "
                    f"{diff} \\(= {esc(res.quantity.latex())}\\) = {qv}."
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
    or the computed :class:`~elbo_book.book.errata.records.Check` itself."""
    if isinstance(shown, Check):
        return shown
    if any(s.expect_fail for s in shown.steps):
        return SourceVersion(shown, residual)
    return DerivationView(shown)
