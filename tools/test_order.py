"""The order in which the test run hands files to its workers: the longest notebooks first.

``make test`` runs pytest with two workers, one file at a time each (pytest-xdist,
``--dist loadfile``). A worker takes the next file when it finishes one, so the run ends when
the last file started ends: a 15-minute chapter that starts last keeps one worker busy for
15 minutes while the other has nothing left to do. Starting the longest files first (the
*longest-processing-time-first* rule) leaves the short ones to fill the gaps at the end.

A notebook's length is read from the notebook itself: ``jupyter execute`` records, in each code
cell's metadata, when its execution started and when its reply came (``execution`` with
``iopub.execute_input`` and ``shell.execute_reply``). Their sum over the cells is the time the
committed outputs took to make. Test modules come after every notebook, in collection order.
pytest-xdist sorts files by their number of tests unless it runs with ``--no-loadscope-reorder``,
which the Makefile passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

Item = TypeVar("Item")

_STARTED, _REPLIED = "iopub.execute_input", "shell.execute_reply"


def recorded_seconds(notebook: Path) -> float:
    """The execution time recorded in a notebook's cell metadata, summed over its code cells.

    Args:
        notebook: a ``.ipynb`` file.

    Returns:
        The sum over code cells of (reply time − start time), in seconds; cells without both
        timestamps count 0.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a notebook's JSON, or a timestamp is not ISO 8601.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells")
    if not isinstance(cells, list):
        raise ValueError(f"{notebook} has no list of cells")
    total = 0.0
    for cell in cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.get("cell_type") == "code" and _STARTED in timing and _REPLIED in timing:
            started, replied = (datetime.fromisoformat(timing[k]) for k in (_STARTED, _REPLIED))
            total += max(0.0, (replied - started).total_seconds())
    return total


def longest_first(items: Sequence[Item], path_of: Callable[[Item], Path]) -> list[Item]:
    """``items`` regrouped by file: notebooks by recorded time, longest first, then the rest.

    The sort is stable: the items of one file keep their order (a notebook's cells must run in
    order) and files of equal cost keep their collection order.

    Args:
        items: the collected test items.
        path_of: the file an item belongs to.

    Returns:
        A new list with the same items.

    Raises:
        OSError, ValueError: as :func:`recorded_seconds`, for a notebook that cannot be read.
    """
    cost: dict[Path, float] = {}
    first_seen: dict[Path, int] = {}
    for item in items:
        path = path_of(item)
        if path not in cost:
            cost[path] = recorded_seconds(path) if path.suffix == ".ipynb" else 0.0
            first_seen[path] = len(first_seen)
    return sorted(items, key=lambda item: (-cost[path_of(item)], first_seen[path_of(item)]))
