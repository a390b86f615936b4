"""The verification report (``python -m elbo_book.verify``) and the rule that chapters display
only engine-produced derivation chains."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from elbo_book.verify import check_all, format_table, main, totals

ROOT = Path(__file__).resolve().parents[1]
_ENV = re.compile(
    r"\\begin\{(aligned|align\*?|alignat\*?|eqnarray\*?|split)\}(.*?)\\end\{\1\}", re.S
)
_REL = re.compile(r"&\s*(=|<|>|\\leq?(?![a-z])|\\geq?(?![a-z])|≤|≥)")


def chain_rows(markdown: str) -> list[int]:
    """For each aligned environment in ``markdown``, the number of rows that start with a
    relation (``&=``, ``&\\le``, ``&\\ge``, …)."""
    return [
        sum(1 for row in body.split(r"\\") if _REL.search(row))
        for _, body in _ENV.findall(markdown)
    ]


def test_chain_detector() -> None:
    md = "$$\n\\begin{aligned}\na &= b \\\\\n &= c \\\\\n &\\le d\n\\end{aligned}\n$$"
    assert chain_rows(md) == [3]
    assert chain_rows("$$\\begin{align}\na &= b\n\\end{align}$$") == [1]
    assert chain_rows("$$a = b = c$$") == []


def _markdown_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.name
)
def test_chapters_display_no_hand_written_chains(notebook: Path) -> None:
    """A chain of two or more aligned relation rows in a markdown cell was not produced (nor
    checked) by the engine: display the registered Derivation instead."""
    for i, cell in enumerate(_markdown_cells(notebook)):
        for rows in chain_rows(cell):
            assert rows < 2, (
                f"{notebook.name}, markdown cell {i}: a hand-written chain of {rows} aligned "
                "relations; show an elbo_book.derive Derivation instead"
            )


def test_report_for_one_chapter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--chapter", "01_jensen_bound", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"verified: (\d+)/(\d+) steps in (\d+) derivations", out)
    assert m and m.group(1) == m.group(2) and int(m.group(3)) >= 3
    assert "jensen_bound" in out and "Jensen×1" in out


def test_table_without_seconds_is_deterministic() -> None:
    rows = check_all(jobs=1, chapter="00_foundations")
    assert format_table(rows, seconds=False) == format_table(
        check_all(jobs=1, chapter="00_foundations"), seconds=False
    )
    s, t, d, _, _ = totals(rows)
    assert s == t and d == len(rows)


def test_mutation_report_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--mutate", "--chapter", "01_jensen_bound", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"mutation kill rate: (\d+)/(\d+) \(([\d.]+)%\)", out)
    assert m and int(m.group(2)) > 0 and float(m.group(3)) >= 95.0, out


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.name
)
def test_displayed_derivations_are_verified(notebook: Path) -> None:
    """A derivation shown in a committed output must report all of its steps verified."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/plain", []))
            if text.startswith("Derivation "):
                m = re.search(r"(\d+)/(\d+) steps verified", text.splitlines()[0])
                assert m and m.group(1) == m.group(2), f"{notebook.name}: {text.splitlines()[0]}"
