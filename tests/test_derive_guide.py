"""The authors' guide (``elbo_book/derive/README.md``) is tested documentation: its examples are
doctests, run in a fresh interpreter (the guide registers a derivation of its own, which must not
join the book's registry in this test session)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "elbo_book" / "derive" / "README.md"


def test_the_guide_has_examples_and_they_pass() -> None:
    assert GUIDE.read_text(encoding="utf-8").count(">>> ") >= 5
    code = (
        "import doctest, sys\n"
        f"failed, tried = doctest.testfile({str(GUIDE)!r}, module_relative=False)\n"
        "print(failed, tried)\n"
        "sys.exit(1 if failed or not tried else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
