"""Check every derivation of the book, or your own: ``python -m elbo_book.verify [SOURCE]``.

``SOURCE`` is the book (``elbo_book.book``, the default), a dotted module name, a ``.py`` file or
a folder of them (see :func:`elbo_book.derive.registry.collect`).  The report collects the
derivations registered there (no notebook is executed), checks every step afresh (nothing is
cached between runs), prints one row per derivation (chapter, name, steps, strengths, seconds)
and ends with ``verified: S/T steps in D derivations``; the exit status is 1 if S < T or a
recorded mistake (errata) unexpectedly passes, and 2 if ``SOURCE`` defines no derivation.

``--mutate`` instead applies the mutation operators of :mod:`elbo_book.derive.mutate` to every
step, prints the kill rate per operator and ends with ``mutation kill rate: K/M (P%)``; its exit
status is 1 if any valid mutant survives.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from elbo_book.derive.chain import StepResult
from elbo_book.derive.mutate import OPERATORS, MutationReport, mutate_derivation
from elbo_book.derive.registry import collect
from elbo_book.derive.strength import Badge

T = TypeVar("T")

BOOK = "elbo_book.book"
"""The default source, the book's own derivations."""

__all__ = [
    "BOOK",
    "Row",
    "check_all",
    "format_operators",
    "format_table",
    "main",
    "mutate_all",
    "operator_totals",
    "strength_summary",
    "totals",
]


@dataclass(frozen=True)
class Row:
    """One derivation's verdict."""

    chapter: str
    name: str
    steps: int
    proven: int
    expected_failures: int
    confirmed_failures: int
    strengths: str
    failures: tuple[str, ...]
    seconds: float


def _kind(r: StepResult) -> str:
    if r.expected_failure:
        return "erratum"
    if not r.as_expected:
        return "FAILED"
    first = r.badges[0] if r.badges else None
    if isinstance(first, Badge):
        return first.strength.value
    return "other"


def strength_summary(results: list[StepResult]) -> str:
    """E.g. ``finite×4, Jensen×1`` (deterministic order of first appearance)."""
    counts: dict[str, int] = {}
    for r in results:
        k = _kind(r)
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{k}×{v}" for k, v in counts.items())


def _check_one(source: str | Path, name: str) -> Row:
    d = next(d for d in collect(source) if d.name == name)
    t0 = time.perf_counter()
    results = d.check(raise_on_failure=False)
    secs = time.perf_counter() - t0
    failures = tuple(
        f"({r.step.label}) [{r.step.why}] {r.detail}" for r in results if not r.as_expected
    )
    return Row(
        d.chapter,
        d.name,
        len(results),
        sum(r.proven and not r.expected_failure for r in results),
        sum(r.expected_failure for r in results),
        sum(r.confirmed_failure for r in results),
        strength_summary(results),
        failures,
        secs,
    )


def _pool_map(fn: Callable[[str], T], names: list[str], jobs: int) -> list[T]:
    if jobs <= 1 or len(names) <= 1:
        return [fn(n) for n in names]
    # "spawn", not "fork": the parent may have imported torch (a notebook, a test run), whose
    # thread pools do not survive a fork (the children can deadlock).
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(fn, names))


def _names(source: str | Path, chapter: str | None) -> list[str]:
    names = [d.name for d in collect(source) if chapter is None or d.chapter == chapter]
    if not names:
        raise ValueError(f"{os.fspath(source)} has no derivation in the chapter {chapter!r}")
    return names


def check_all(jobs: int = 1, chapter: str | None = None, source: str | Path = BOOK) -> list[Row]:
    """Check every derivation of ``source`` (optionally one chapter); one :class:`Row` each.

    Raises:
        ValueError: ``source`` defines no derivation (in ``chapter``).
    """
    return _pool_map(functools.partial(_check_one, source), _names(source, chapter), jobs)


def totals(rows: list[Row]) -> tuple[int, int, int, int, int]:
    """(S proven steps, T steps to prove, D derivations, confirmed errata, errata)."""
    s = sum(r.proven for r in rows)
    t = sum(r.steps - r.expected_failures for r in rows)
    return (
        s,
        t,
        len(rows),
        sum(r.confirmed_failures for r in rows),
        sum(r.expected_failures for r in rows),
    )


def format_table(rows: list[Row], seconds: bool = True) -> str:
    """The report table and its closing lines (``seconds=False`` for a deterministic copy)."""
    head = f"{'chapter':<26} {'derivation':<34} {'steps':>5}  {'strengths':<34}"
    lines = [head + ("  seconds" if seconds else "")]
    for r in rows:
        line = f"{r.chapter:<26} {r.name:<34} {r.steps:>5}  {r.strengths:<34}"
        lines.append(line + (f"  {r.seconds:7.2f}" if seconds else ""))
    for r in rows:
        for f in r.failures:
            lines.append(f"FAILED {r.name} {f}")
    s, t, d, ec, e = totals(rows)
    if e:
        lines.append(f"errata: {ec}/{e} expected failures confirmed")
    lines.append(f"verified: {s}/{t} steps in {d} derivations")
    return "\n".join(lines)


def _mutate_one(source: str | Path, name: str) -> MutationReport:
    d = next(d for d in collect(source) if d.name == name)
    return mutate_derivation(d)


def mutate_all(
    jobs: int = 1, chapter: str | None = None, source: str | Path = BOOK
) -> list[MutationReport]:
    """Mutation-test every derivation of ``source`` (optionally one chapter).

    Raises:
        ValueError: ``source`` defines no derivation (in ``chapter``).
    """
    return _pool_map(functools.partial(_mutate_one, source), _names(source, chapter), jobs)


def operator_totals(reps: list[MutationReport]) -> dict[str, list[int]]:
    """Operator → [killed, survived, invalid, equivalent, true steps], summed over the reports,
    in the order of :data:`elbo_book.derive.mutate.OPERATORS`."""
    out: dict[str, list[int]] = {}
    for op in OPERATORS:
        counts = [r.by_operator.get(op, [0, 0, 0, 0, 0]) for r in reps]
        total = [sum(c[j] for c in counts) for j in range(5)]
        if any(total):
            out[op] = total
    return out


def format_operators(reps: list[MutationReport]) -> str:
    """One line per operator: kill rate over valid mutants, and the invalid, equivalent and
    true-step counts."""
    lines = []
    for op, (k, s, inv, eq, true) in operator_totals(reps).items():
        pct = f"{100.0 * k / (k + s):5.1f}%" if k + s else "    –"
        lines.append(
            f"  {op:<42} killed {k:>4}/{k + s:<4} {pct}  "
            f"(invalid {inv}, equivalent {eq}, true steps {true})"
        )
    return "per operator:\n" + "\n".join(lines)


def _report_mutants(reps: list[MutationReport]) -> int:
    """Print the mutation report; the exit status (1 if a valid mutant survived)."""
    for r in reps:
        print(
            f"{r.name:<34} killed {r.killed:>4}/{r.total:<4} "
            f"(invalid {r.invalid}, equivalent {r.equivalent}, true steps {r.true_steps})"
        )
        for s in r.survivors:
            print(f"    survived: {s}")
        for s in r.explained:
            print(f"    true step: {s}")
    print(format_operators(reps))
    k = sum(r.killed for r in reps)
    m = sum(r.total for r in reps)
    pct = 100.0 * k / m if m else 100.0
    print(f"mutation kill rate: {k}/{m} ({pct:.1f}%)")
    return 0 if k == m else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m elbo_book.verify", description=__doc__)
    ap.add_argument(
        "source",
        nargs="?",
        default=BOOK,
        help=f"a dotted module name, a .py file or a folder (default: {BOOK}, the book)",
    )
    ap.add_argument("--mutate", action="store_true", help="run the mutation test instead")
    ap.add_argument("--chapter", default=None, help="only this chapter (file basename)")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes (each re-imports the library)",
    )
    args = ap.parse_args(argv)
    # workers must find the task functions by their importable name, also under ``python -m``
    import elbo_book.verify as verify_module

    if args.jobs < 1:
        raise ValueError(f"--jobs must be ≥ 1, got {args.jobs}")
    t0 = time.perf_counter()
    try:
        if args.mutate:
            return _report_mutants(verify_module.mutate_all(args.jobs, args.chapter, args.source))
        rows = verify_module.check_all(args.jobs, args.chapter, args.source)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(rows))
    print(f"total time: {time.perf_counter() - t0:.1f} s with {args.jobs} job(s)", file=sys.stderr)
    verified, total, _, confirmed, expected = totals(rows)
    return 0 if verified == total and confirmed == expected else 1


if __name__ == "__main__":
    sys.exit(main())
