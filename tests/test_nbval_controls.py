"""The notebook tests end to end: nbval with conftest.py's comparison, on control notebooks.

Each control notebook prints ``ELBO 0.5000 after 7 epochs``; its committed output is as if made on
another CPU, and its tolerance record lets the ELBO move by 0.004 and the epoch count not at all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTROLS = Path(__file__).parent / "nbval_controls"


def run_nbval(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--no-header",
            "-p",
            "no:randomly",
            str(CONTROLS / f"{name}.ipynb"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_numeric_cell_within_its_tolerance_passes() -> None:
    result = run_nbval("within_tolerance")  # committed 0.5004, fresh 0.5000
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("beyond_tolerance", "fresh 0.5000 vs committed 0.5100"),
        ("integer_moved", "fresh 7 vs committed 8"),
        ("exact_cell_changed", "differs (exact cell)"),
    ],
)
def test_changes_beyond_tolerance_or_in_exact_cells_fail(name: str, message: str) -> None:
    result = run_nbval(name)
    assert result.returncode == 1, result.stdout
    assert message in result.stdout, result.stdout
