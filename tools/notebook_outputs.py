"""A notebook's fresh outputs against its committed ones: exact text, numbers within tolerance.

nbval compares every output of every cell byte for byte. That is the right contract for what SymPy,
the derivation engine and integer arithmetic print, and the wrong one for numbers that depend on
floating-point kernels: torch picks vectorised kernels (and MKL its BLAS code path) by CPU
capability, so the same seeded training run gives numbers that differ in the third or fourth
significant digit from one CPU to another.

The contract implemented here:

* A cell is compared **exactly** unless it carries the tag ``numeric`` (visible in the notebook's
  cell metadata).
* In a ``numeric`` cell every output text is split into its numbers and the text around them
  (the *skeleton*). The skeleton must match exactly; each number must lie within its own tolerance
  of the committed one.
* Each number's tolerance is *measured*, not chosen: ``python -m tools.measure_tolerances``
  re-executes the notebook under other CPU kernel sets (:data:`KERNEL_VARIANTS`) and records, for
  every number of every ``numeric`` cell, its largest deviation from the committed value (its
  *spread*) and a tolerance of :data:`SAFETY` times that spread (:func:`tolerance_for`), in
  ``chapters/tolerances/<notebook>.json`` next to the committed value it applies to.
* Figures are never compared as image bytes (they differ with the numbers drawn and the renderer):
  every figure glues the data it draws (``elbo_book.figure_data``), and that data is compared as
  numbers.

A record whose committed values no longer match the notebook is *stale*, and the comparison fails
with a message saying which command re-measures it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The tag that marks a cell whose numbers depend on floating-point kernels.
NUMERIC_TAG = "numeric"

#: Output MIME types that are pictures; they are compared through the data glued beside them.
IMAGE_KEYS = frozenset({"image/png", "image/jpeg", "image/svg+xml"})

#: Output fields that carry no content to compare (nbval skips the same ones).
SKIPPED_KEYS = frozenset(
    {
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        "application/vnd.jupyter.widget-view+json",
    }
)

# NumPy 2.4's dispatch groups: X86_V3 is AVX2 + FMA, X86_V4 the AVX-512 base.
_NUMPY_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"
_NUMPY_SIMD = "X86_V3 " + _NUMPY_AVX512

#: The kernel sets the spread is measured over, besides the one that made the committed outputs.
#: ``ATEN_CPU_CAPABILITY`` selects torch's own vectorised kernels; ``MKL_CBWR`` and
#: ``MKL_ENABLE_INSTRUCTIONS`` select the BLAS code path (MKL dispatches on the CPU by itself,
#: whatever torch's setting);
#: ``OPENBLAS_CORETYPE`` and ``NPY_DISABLE_CPU_FEATURES`` do the same for NumPy and SciPy.
KERNEL_VARIANTS: tuple[dict[str, str], ...] = (
    {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_SIMD,
    },
    {
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512,
    },
)

#: Tolerance = SAFETY x measured spread: the spread is the largest of a few samples of the
#: deviation another CPU produces, so the tolerance leaves an order of magnitude of room.
SAFETY = 10.0

#: Relative floor for every float of a ``numeric`` cell: a float32 result may differ by a few
#: units in its last place (2**-23 = 1.2e-7 relative each) on a CPU we did not measure, even where
#: our kernel sets agreed. Far below any precision the prose quotes (at most 5 significant digits).
RELATIVE_FLOOR = 1e-6

# A number not glued to an identifier (x1, ch3_fig, 2nd) and not inside a hex address, with its
# sign: a difference printed with f"{d:+.1f}" reads "+0.1" or "-0.1", and the sign belongs to the
# number, not to the text around it (a sign that flips under other kernels is a number that moved).
_NUMBER = re.compile(
    r"(?<![\w.])(?P<num>[-−+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])"
    r"|(?<![\w.])(?P<special>[-−]?(?:inf|nan))(?![\w.])"
)


@dataclass(frozen=True)
class Number:
    """One number found in an output text."""

    text: str  # as printed
    value: float
    is_integer: bool  # printed without a decimal point or exponent

    @property
    def last_digit_unit(self) -> float:
        """The value of one unit in the last printed digit (1 for an integer, 0.01 for 3.14)."""
        mantissa, _, exponent = self.text.lower().partition("e")
        decimals = len(mantissa.partition(".")[2])
        return 10.0 ** (int(exponent or 0) - decimals)


def split_numbers(text: str) -> tuple[str, list[Number]]:
    """Split ``text`` into its skeleton (each number replaced by ``{#}``) and its numbers.

    Spaces next to a number are not part of the skeleton: a column padded to a fixed width
    (``f"{x:6.2f}"``) has one space fewer when the number gains a digit (9.99 -> 10.00).

    Args:
        text: an output text (a stream, ``text/plain``, ``text/html``, ``text/latex``, a glue).

    Returns:
        The skeleton and the numbers in order of appearance.
    """
    numbers: list[Number] = []

    def take(match: re.Match[str]) -> str:
        raw = match.group(0)
        plain = raw.replace("−", "-")
        is_int = match.group("num") is not None and re.fullmatch(r"[-+]?\d+", plain) is not None
        numbers.append(Number(raw, float(plain), is_int))
        return "{#}"

    skeleton = _NUMBER.sub(take, text.replace("{#}", "{ #}"))
    return re.sub(r" *\{#\} *", " {#} ", skeleton), numbers


def tolerance_for(number: Number, spread: float) -> float:
    """The tolerance for a number of a ``numeric`` cell, given its measured spread.

    * moved under some kernel set: ``SAFETY * spread``, but at least one unit in the last printed
      digit (a printed value near a rounding boundary flips by one unit);
    * did not move, printed as an integer: 0 (exact);
    * did not move, a float: ``RELATIVE_FLOOR * |value|`` (last-place differences of float32), but
      at least one unit in the last printed digit.  A rounded float of a ``numeric`` cell that kept
      its printed digits in every measured run still moved below them, and on another CPU it can
      cross a rounding boundary (seen: an ELBO printed -36.66 on every measured run, -36.67 under
      the portable kernels of an AMD EPYC).  For a float printed in full precision that unit is far
      below the relative floor.
    """
    if not math.isfinite(number.value):
        return 0.0
    if number.is_integer:
        return SAFETY * spread if spread > 0 else 0.0
    floor = max(RELATIVE_FLOOR * abs(number.value), number.last_digit_unit)
    return max(SAFETY * spread, floor)


_ARRAY_BODY = re.compile(r"\[(?P<body>[^\[\],]*)\]")


def figure_floors(text: str) -> list[float]:
    """The least absolute tolerance of each number of ``text``: nonzero only in a figure's data.

    A figure's data (:func:`elbo_book.figure_data.figure_data`, a text that starts with
    ``"axes "``) writes each drawn array as its shape and its values, ``[161, 161] sum=…
    every~108th[v1 v2 …]``.  An array is drawn at a resolution far coarser than a millionth of its
    largest value, so each value may move by ``RELATIVE_FLOOR`` times the largest magnitude of
    its own array: a density of 1e-80 beside a peak of 0.3 may become 1e-45 on another CPU (both
    are 0 on the page).  Shapes, sums, indices and every number of any other text get 0 (they
    keep their own tolerances).

    Returns:
        One floor per number of ``text``, in the order of :func:`split_numbers`.
    """
    text = text.replace("{#}", "{ #}")  # as split_numbers
    matches = list(_NUMBER.finditer(text))
    floors = [0.0] * len(matches)
    if not text.startswith("axes "):
        return floors
    for body in _ARRAY_BODY.finditer(text):
        inside = [
            i
            for i, m in enumerate(matches)
            if body.start("body") <= m.start() and m.end() <= body.end("body")
        ]
        values = [abs(float(matches[i].group(0).replace("−", "-"))) for i in inside]
        largest = max((v for v in values if math.isfinite(v)), default=0.0)
        for i in inside:
            floors[i] = RELATIVE_FLOOR * largest
    return floors


def numbers_agree(fresh: Number, committed: Number, tolerance: float) -> bool:
    """Whether a fresh number is within ``tolerance`` of the committed one (inf/nan: exactly)."""
    if not (math.isfinite(fresh.value) and math.isfinite(committed.value)):
        return fresh.text.replace("−", "-") == committed.text.replace("−", "-")
    # 1e-12 relative absorbs the binary rounding of decimal texts (-36.67 - -36.66 > 0.01)
    slack = 1e-12 * max(abs(fresh.value), abs(committed.value))
    return abs(fresh.value - committed.value) <= tolerance + slack


def is_exempt(cell: Mapping[str, Any]) -> bool:
    """Whether nbval skips comparing this cell (``NBVAL_IGNORE_OUTPUT`` or ``NBVAL_SKIP``)."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    markers = {line.strip().lstrip("#").strip() for line in source.splitlines()}
    tags = set(cell.get("metadata", {}).get("tags", []))
    return bool(
        markers & {"NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP"}
        or tags & {"nbval-ignore-output", "nbval-skip"}
    )


def output_texts(outputs: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Flatten cell outputs as nbval does: MIME type or stream name -> its texts, in order.

    Streams of one name are joined (as nbval's ``coalesce_streams``); pictures and
    content-free fields are left out.
    """
    flat: dict[str, list[str]] = {}
    streams: dict[str, int] = {}
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            name = str(out["name"])
            text = _text(out["text"])
            if name in streams:
                flat[name][streams[name]] += text
            else:
                streams[name] = len(flat.setdefault(name, []))
                flat[name].append(text)
        elif kind in ("display_data", "execute_result"):
            for key, value in out.get("data", {}).items():
                if key in IMAGE_KEYS or key in SKIPPED_KEYS or key.endswith(("/png", "/jpeg")):
                    continue
                flat.setdefault(key, []).append(_text(value))
        elif kind == "error":
            flat.setdefault("error", []).append(f"{out.get('ename')}: {out.get('evalue')}")
    return flat


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


# --- the record of tolerances ----------------------------------------------------------------


def record_path(notebook: Path) -> Path:
    """Where a notebook's tolerance record lives: ``<folder>/tolerances/<stem>.json``."""
    return notebook.parent / "tolerances" / f"{notebook.stem}.json"


def load_record(notebook: Path) -> dict[str, Any]:
    """The tolerance record of ``notebook`` (an empty one if it has none)."""
    path = record_path(notebook)
    if not path.exists():
        return {"cells": {}}
    return json.loads(path.read_text(encoding="utf-8"))


STALE_HINT = "re-measure with: .venv/bin/python -m tools.measure_tolerances {notebook}"


def compare_cell(
    fresh: Sequence[Mapping[str, Any]],
    committed: Sequence[Mapping[str, Any]],
    *,
    numeric: bool,
    cell_record: Mapping[str, Any] | None,
    sanitize: Any = None,
) -> list[str]:
    """Compare a cell's fresh outputs with its committed ones.

    Args:
        fresh: the outputs of the new execution.
        committed: the outputs stored in the notebook.
        numeric: whether the cell is tagged ``numeric`` (numbers within tolerance); otherwise
            every text must match exactly.
        cell_record: this cell's entry in the tolerance record (``None``: no entry).
        sanitize: a function applied to every text before comparison (nbval's sanitizer).

    Returns:
        A list of human-readable differences; empty when the outputs agree.
    """
    clean = sanitize or (lambda s: s)
    new = {k: [clean(t) for t in v] for k, v in output_texts(fresh).items()}
    old = {k: [clean(t) for t in v] for k, v in output_texts(committed).items()}
    if set(new) != set(old):
        return [f"output fields differ: committed {sorted(old)}, fresh {sorted(new)}"]
    problems: list[str] = []
    by_place = {(q["key"], q["index"]): q for q in (cell_record or {}).get("outputs", [])}
    for key in sorted(old):
        if len(new[key]) != len(old[key]):
            problems.append(f"{key}: {len(old[key])} committed outputs, {len(new[key])} fresh")
            continue
        for index, (n_text, o_text) in enumerate(zip(new[key], old[key], strict=True)):
            if n_text == o_text:
                continue
            if not numeric:
                problems.append(f"{key}[{index}] differs (exact cell):\n{_diff(o_text, n_text)}")
                continue
            problems += _compare_numeric(key, index, n_text, o_text, by_place.get((key, index)))
    return problems


def _compare_numeric(
    key: str, index: int, new: str, old: str, place: Mapping[str, Any] | None
) -> list[str]:
    new_skeleton, new_numbers = split_numbers(new)
    old_skeleton, old_numbers = split_numbers(old)
    where = f"{key}[{index}]"
    if new_skeleton != old_skeleton or len(new_numbers) != len(old_numbers):
        return [f"{where}: the text around the numbers differs:\n{_diff(old, new)}"]
    if place is None:
        return [f"{where}: numbers differ and the tolerance record has no entry for them"]
    if place["sha1"] != text_digest(old):
        return [f"{where}: the tolerance record is stale (made for other committed outputs)"]
    moved = {int(i): tol for i, _value, _spread, tol in place.get("moved", [])}
    floors = figure_floors(old)
    problems = []
    for i, (a, b) in enumerate(zip(new_numbers, old_numbers, strict=True)):
        tol = max(moved.get(i, tolerance_for(b, 0.0)), floors[i])
        if not numbers_agree(a, b, tol):
            label = place.get("name") or "number"
            problems.append(
                f"{where} {label} #{i}: fresh {a.text} vs committed {b.text}, "
                f"|diff| = {abs(a.value - b.value):.3g} > tolerance {tol:.3g}"
            )
    return problems


def text_digest(text: str) -> str:
    """The SHA-1 of an output text: ties a record entry to the committed output it was made for."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _diff(old: str, new: str, limit: int = 1500) -> str:
    import difflib

    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "committed", "fresh", lineterm="", n=1
    )
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + "\n…"


def measure_cell(
    committed: Sequence[Mapping[str, Any]],
    variants: Sequence[Sequence[Mapping[str, Any]]],
    *,
    previous: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure a ``numeric`` cell's spread over kernel variants and derive its tolerances.

    Args:
        committed: the cell's committed outputs (the reference).
        variants: the same cell's outputs from executions under other kernel sets.
        previous: the cell's entry in an earlier record of the same committed outputs, whose
            spreads (measured on other runs, perhaps on another machine) the new runs add to:
            each spread is then the largest deviation over the earlier runs and these.  An
            output text whose entry was made for another committed text is a problem.

    Returns:
        The cell's record entries (one per output text that has numbers: its key, index, glue
        name, committed values, spreads and tolerances) and a list of problems (a variant whose
        skeleton differs from the committed one cannot be compared as numbers).
    """
    old = output_texts(committed)
    runs = [output_texts(v) for v in variants]
    earlier = {(q["key"], q["index"]): q for q in (previous or {}).get("outputs", [])}
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for key in sorted(old):
        for index, text in enumerate(old[key]):
            skeleton, numbers = split_numbers(text)
            if not numbers:
                continue
            spreads = [0.0] * len(numbers)
            if previous is not None:
                place = earlier.get((key, index))
                if place is None or place["sha1"] != text_digest(text):
                    problems.append(f"{key}[{index}]: the earlier record is not for this output")
                else:
                    for i, _value, spread, _tol in place.get("moved", []):
                        spreads[int(i)] = float(spread)
            for run in runs:
                texts = run.get(key, [])
                if index >= len(texts):
                    problems.append(f"{key}[{index}] missing in a variant run")
                    continue
                v_skeleton, v_numbers = split_numbers(texts[index])
                if v_skeleton != skeleton or len(v_numbers) != len(numbers):
                    problems.append(
                        f"{key}[{index}]: text around the numbers differs:\n"
                        + _diff(text, texts[index])
                    )
                    continue
                for i, (a, b) in enumerate(zip(v_numbers, numbers, strict=True)):
                    if math.isfinite(a.value) and math.isfinite(b.value):
                        spreads[i] = max(spreads[i], abs(a.value - b.value))
            floors = figure_floors(text)
            moved = [
                [i, n.text, float(f"{sp:.3g}"), float(f"{max(tolerance_for(n, sp), f):.3g}")]
                for i, (n, sp, f) in enumerate(zip(numbers, spreads, floors, strict=True))
                if sp > 0
            ]
            entry: dict[str, Any] = {"key": key, "index": index}
            name = _glue_name(committed, key, index)
            if name:
                entry["name"] = name
            entry.update(sha1=text_digest(text), numbers=len(numbers), moved=moved)
            entries.append(entry)
    return entries, problems


def _code_cells(notebook: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def unchanged_cells(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The ids of the code cells of ``new`` that compute what they computed in ``old``.

    A code cell qualifies when it and every code cell above it have the same id and source in
    both notebooks (the cells above set its inputs and the state of the random generators).
    """
    same = []
    for a, b in zip(_code_cells(old), _code_cells(new), strict=False):
        if a.get("id") != b.get("id") or _source(a) != _source(b):
            break
        same.append(str(b["id"]))
    return same


def carry_over(
    old: Mapping[str, Any], old_record: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    """An earlier record's spreads, restated for a new execution of the same computation.

    When a notebook is executed again (``--native``) on another machine, its committed outputs
    change, but for a cell that computes what it computed before (:func:`unchanged_cells`) the
    earlier runs are still samples of the same deviations.  Each earlier run v lay within the
    earlier spread s of the earlier committed value c, so by the triangle inequality it lies within
    s + |c − c'| of the new committed value c'; and the earlier committed run is itself a sample,
    |c − c'| from the new one.  The carried spread of a number is therefore s + |c − c'|.  An
    output whose text around the numbers changed is not carried (nor the rest of its cell);
    an earlier entry made for other outputs (stale) carries only |c − c'|.

    Returns:
        A record (``{"cells": {id: {"outputs": [...]}}}``) for :func:`measure_cell`'s
        ``previous``, with an entry for every numeric cell that could be carried.
    """
    old_by_id = {str(c.get("id")): c for c in _code_cells(old)}
    new_by_id = {str(c.get("id")): c for c in _code_cells(new)}
    carried: dict[str, Any] = {}
    for cell_id in unchanged_cells(old, new):
        cell = new_by_id[cell_id]
        if NUMERIC_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        entry = _carry_cell(old_by_id[cell_id], old_record.get("cells", {}).get(cell_id), cell)
        if entry is not None:
            carried[cell_id] = entry
    return {"cells": carried}


def _carry_cell(
    old: Mapping[str, Any], old_entry: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> dict[str, Any] | None:
    old_texts = output_texts(old.get("outputs", []))
    new_texts = output_texts(new.get("outputs", []))
    by_place = {(q["key"], q["index"]): q for q in (old_entry or {}).get("outputs", [])}
    outputs = []
    for key in sorted(new_texts):
        for index, text in enumerate(new_texts[key]):
            skeleton, numbers = split_numbers(text)
            if not numbers:
                continue
            earlier_texts = old_texts.get(key, [])
            if index >= len(earlier_texts):
                return None
            old_skeleton, old_numbers = split_numbers(earlier_texts[index])
            if old_skeleton != skeleton or len(old_numbers) != len(numbers):
                return None
            place = by_place.get((key, index))
            spreads: dict[int, float] = {}
            if place is not None and place["sha1"] == text_digest(earlier_texts[index]):
                spreads = {int(i): float(sp) for i, _value, sp, _tol in place.get("moved", [])}
            moved = []
            for i, (a, b) in enumerate(zip(numbers, old_numbers, strict=True)):
                if not (math.isfinite(a.value) and math.isfinite(b.value)):
                    continue
                spread = spreads.get(i, 0.0) + abs(a.value - b.value)
                if spread > 0:
                    moved.append([i, a.text, spread, 0.0])
            outputs.append({"key": key, "index": index, "sha1": text_digest(text), "moved": moved})
    return {"outputs": outputs}


def dump_record(record: Mapping[str, Any]) -> str:
    """A record as JSON; each moved number on one line: ``[position, value, spread, tolerance]``."""
    text = json.dumps(record, indent=1, ensure_ascii=False)
    # json puts every element of every list on its own line; keep each moved number on one.
    return (
        re.sub(
            r"\[\n\s*(\d+),\n\s*(\"[^\"]*\"),\n\s*([^,\n]+),\n\s*([^,\n]+)\n\s*\]",
            r"[\1, \2, \3, \4]",
            text,
        )
        + "\n"
    )


def _glue_name(outputs: Sequence[Mapping[str, Any]], key: str, index: int) -> str | None:
    """The glue name of the ``index``-th output of MIME type ``key``, if it is a glued value."""
    seen = -1
    for out in outputs:
        if key in out.get("data", {}):
            seen += 1
            if seen == index:
                scrapbook = out.get("metadata", {}).get("scrapbook", {})
                return scrapbook.get("name")
    return None
