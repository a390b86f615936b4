"""pytest configuration for the chapter notebooks: nbval with numbers compared within tolerance.

nbval compares every output byte for byte. Cells tagged ``numeric`` hold numbers that depend on
floating-point kernels (training, sampling, float32 reductions); for them the text around the
numbers must still match exactly, and each number must lie within the tolerance measured for it
(``chapters/tolerances/<notebook>.json``, written by ``python -m tools.measure_tolerances``).
Every other cell is compared exactly. Pictures are not compared as bytes; the data each figure
draws is glued beside it and compared as numbers. See ``tools/notebook_outputs.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbval.plugin
import pytest

from tools.notebook_outputs import NUMERIC_TAG, STALE_HINT, compare_cell, load_record
from tools.test_order import longest_first

_records: dict[Path, dict[str, Any]] = {}


def _compare_outputs(
    self: nbval.plugin.IPyNbCell, test: Any, ref: Any, skip_compare: Any = None
) -> bool:
    """nbval's ``compare_outputs``: exact cells exactly, ``numeric`` cells within tolerance."""
    notebook = Path(str(self.fspath))
    if notebook not in _records:
        _records[notebook] = load_record(notebook)
    cell = self.cell
    numeric = NUMERIC_TAG in cell.get("metadata", {}).get("tags", [])
    cell_record = _records[notebook]["cells"].get(cell.get("id"))
    problems = compare_cell(
        test, ref, numeric=numeric, cell_record=cell_record, sanitize=self.sanitize
    )
    self.comparison_traceback = list(problems)
    if problems and numeric:
        rel = notebook.relative_to(Path(__file__).parent) if notebook.is_absolute() else notebook
        self.comparison_traceback.append(STALE_HINT.format(notebook=rel))
    return not problems


nbval.plugin.IPyNbCell.compare_outputs = _compare_outputs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest notebooks first, so that the two workers of ``make test`` finish together."""
    items[:] = longest_first(items, lambda item: Path(str(item.path)))
