"""tools/measure_tolerances.py: a re-execution keeps the earlier machines' spreads where the code
did not change, and finds exact cells that another machine computes differently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools import measure_tolerances
from tools.notebook_outputs import dump_record, load_record, measure_cell


def _stream(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _notebook(elbo: str, count: str, *, source: str = "train()") -> dict[str, Any]:
    cells = [
        ("a", source, ["numeric"], f"ELBO {elbo}\n"),
        ("b", "count()", [], f"units {count}\n"),
    ]
    return {
        "cells": [
            {
                "id": cell_id,
                "cell_type": "code",
                "source": src,
                "metadata": {"tags": tags},
                "outputs": [_stream(text)],
            }
            for cell_id, src, tags, text in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    """A notebook committed on an earlier machine, with its record (one variant moved 0.0003)."""
    notebook = tmp_path / "chapter.ipynb"
    committed = _notebook("-18.1770", "7")
    notebook.write_text(json.dumps(committed), encoding="utf-8")
    variant = _notebook("-18.1773", "7")
    entries, problems = measure_cell(
        committed["cells"][0]["outputs"], [variant["cells"][0]["outputs"]]
    )
    assert problems == []
    record = {
        "kernel_sets": ["portable"],
        "committed_outputs_made_with": "the earlier machine",
        "cells": {"a": {"cell": 0, "outputs": entries}},
    }
    (tmp_path / "tolerances").mkdir()
    (tmp_path / "tolerances" / "chapter.json").write_text(dump_record(record), encoding="utf-8")
    return notebook


def _fake_runs(monkeypatch: pytest.MonkeyPatch, runs: list[dict[str, Any]]) -> None:
    """Replace the executions: the kernel sets (native first) get these notebooks in turn."""
    queue = list(runs)
    monkeypatch.setattr(measure_tolerances, "_timed", lambda *_args: queue.pop(0))


def test_native_re_execution_carries_the_earlier_spreads(
    earlier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, variant = _notebook("-18.1790", "7"), _notebook("-18.1791", "7")
    _fake_runs(monkeypatch, [fresh, variant, variant])
    assert measure_tolerances.measure(earlier, 1, native=True) == []
    assert json.loads(earlier.read_text(encoding="utf-8")) == fresh  # the new committed run
    record = load_record(earlier)
    ((_, value, spread, tolerance),) = record["cells"]["a"]["outputs"][0]["moved"]
    # 0.0003 (earlier spread) + 0.0020 (earlier committed vs new): more than this machine's 0.0001
    assert (value, spread) == ("-18.1790", pytest.approx(0.0023))
    assert tolerance == pytest.approx(0.023)
    assert any(s.startswith("carried over") for s in record["samples"])


def test_a_second_carry_over_names_each_run_once(
    earlier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, variant = _notebook("-18.1790", "7"), _notebook("-18.1791", "7")
    for _ in range(2):
        _fake_runs(monkeypatch, [fresh, variant, variant])
        assert measure_tolerances.measure(earlier, 1, native=True) == []
    samples = load_record(earlier)["samples"]
    assert len(samples) == len(set(samples))
    assert not any("carried over" in s.removeprefix(measure_tolerances.CARRIED) for s in samples)


def test_changed_code_starts_afresh(earlier: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _notebook("-18.1790", "7", source="train(longer=True)")
    variant = _notebook("-18.1791", "7", source="train(longer=True)")
    _fake_runs(monkeypatch, [fresh, variant, variant])
    assert measure_tolerances.measure(earlier, 1, native=True) == []
    ((_, _, spread, _),) = load_record(earlier)["cells"]["a"]["outputs"][0]["moved"]
    assert spread == pytest.approx(0.0001)  # this machine's runs only
    assert not any(s.startswith("carried") for s in load_record(earlier)["samples"])


def test_an_exact_cell_that_another_machine_computes_differently_is_reported(
    earlier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _notebook("-18.1790", "8")  # the same code counted 7 units on the earlier machine
    _fake_runs(monkeypatch, [fresh, fresh, fresh])
    (problem,) = measure_tolerances.measure(earlier, 1, native=True)
    assert "cell 1 (b)" in problem and "earlier committed run" in problem


def test_cells_edited_before_measuring_are_not_carried(
    earlier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual order is edit, then measure: the carry-over compares with the last commit, so a
    cell whose code was edited in the working copy starts afresh."""
    import subprocess

    folder = earlier.parent

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "committed")
    edited = _notebook("-18.1770", "7", source="train(longer=True)")  # outputs not yet refreshed
    earlier.write_text(json.dumps(edited), encoding="utf-8")
    fresh = _notebook("-18.1790", "7", source="train(longer=True)")
    variant = _notebook("-18.1791", "7", source="train(longer=True)")
    _fake_runs(monkeypatch, [fresh, variant, variant])
    assert measure_tolerances.measure(earlier, 1, native=True) == []
    ((_, _, spread, _),) = load_record(earlier)["cells"]["a"]["outputs"][0]["moved"]
    assert spread == pytest.approx(0.0001)  # not 0.0023: the committed code was train()
