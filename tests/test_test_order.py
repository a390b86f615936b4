"""Tests for the order in which the test run hands files to its workers (tools/test_order.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.test_order import longest_first, recorded_seconds

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"


def _timed(start: str, reply: str) -> dict[str, object]:
    execution = {"iopub.execute_input": start, "shell.execute_reply": reply}
    return {"cell_type": "code", "metadata": {"execution": execution}, "source": ""}


def _notebook(path: Path, *cells: dict[str, object]) -> Path:
    path.write_text(json.dumps({"cells": list(cells)}), encoding="utf-8")
    return path


def test_recorded_seconds_sums_the_timed_code_cells(tmp_path: Path) -> None:
    notebook = _notebook(
        tmp_path / "a.ipynb",
        _timed("2026-12-01T10:00:00.000000Z", "2026-12-01T10:00:02.500000Z"),
        _timed("2026-12-01T10:00:03Z", "2026-12-01T10:01:03Z"),
        {"cell_type": "code", "metadata": {}, "source": ""},  # never executed: 0
        {"cell_type": "markdown", "metadata": {"execution": {}}, "source": ""},
        _timed("2026-12-01T10:05:00Z", "2026-12-01T10:04:00Z"),  # a reply before its start: 0
    )
    assert recorded_seconds(notebook) == pytest.approx(62.5)


def test_recorded_seconds_rejects_what_is_not_a_notebook(tmp_path: Path) -> None:
    assert recorded_seconds(_notebook(tmp_path / "b.ipynb")) == 0.0  # no cells, no time
    (tmp_path / "c.ipynb").write_text('{"nbformat": 4}', encoding="utf-8")
    with pytest.raises(ValueError, match="no list of cells"):
        recorded_seconds(tmp_path / "c.ipynb")
    bad = _notebook(tmp_path / "d.ipynb", _timed("yesterday", "2026-12-01T10:00:00Z"))
    with pytest.raises(ValueError):
        recorded_seconds(bad)


def test_longest_first_orders_files_and_keeps_each_files_items_in_order(tmp_path: Path) -> None:
    short = _notebook(
        tmp_path / "short.ipynb", _timed("2026-12-01T10:00:00Z", "2026-12-01T10:00:05Z")
    )
    long = _notebook(
        tmp_path / "long.ipynb", _timed("2026-12-01T10:00:00Z", "2026-12-01T10:09:00Z")
    )
    module = tmp_path / "test_x.py"
    items = [
        (module, 0),
        (short, 0),
        (short, 1),
        (long, 0),
        (module, 1),
        (long, 1),
        (long, 2),
    ]
    ordered = longest_first(items, lambda item: item[0])
    assert ordered == [
        (long, 0),
        (long, 1),
        (long, 2),
        (short, 0),
        (short, 1),
        (module, 0),
        (module, 1),
    ]
    assert longest_first([], lambda item: item) == []


def test_the_long_chapters_go_first() -> None:
    """The committed chapters carry their execution times: the trained ones outlast chapter 1."""
    seconds = {path.stem: recorded_seconds(path) for path in CHAPTERS.glob("*.ipynb")}
    assert (
        min(seconds["04_elbo_surgery"], seconds["05_beta_vae"], seconds["06_importance_weighting"])
        > 10 * seconds["01_jensen_bound"]
    )
    ordered = longest_first(sorted(CHAPTERS.glob("*.ipynb")), lambda path: path)
    assert {ordered[0].stem, ordered[1].stem} <= {
        "04_elbo_surgery",
        "05_beta_vae",
        "06_importance_weighting",
    }
