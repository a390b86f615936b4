"""The records of the Errata chapter that need no torch: the outcome of a computed check.

The engine's derivations (``elbo_book.derive``) need no torch, and neither does this module, so
``python -m elbo_book.verify`` collects the Errata without importing it; the numeric checks that
do use torch live in ``elbo_book.errata_claims`` and are imported only when an entry is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check"]


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
