"""Measure how far each number of a notebook moves under other CPU kernels; record its tolerance.

Usage (from the repository root, after the notebook was executed and committed natively)::

    .venv/bin/python -m tools.measure_tolerances chapters/03_kingma_welling_split.ipynb [...]

or, to execute it natively in the same command (the three runs at once, each cold)::

    .venv/bin/python -m tools.measure_tolerances --native chapters/05_beta_vae.ipynb

Each notebook is executed once per kernel set of :data:`tools.notebook_outputs.KERNEL_VARIANTS`
(torch's ``ATEN_CPU_CAPABILITY``, MKL's and OpenBLAS's code paths, NumPy's SIMD dispatch), in a
fresh kernel, without touching the committed notebook. Then:

* every number of every cell tagged ``numeric`` gets its spread (largest deviation from the
  committed value over the runs) and a tolerance (:func:`tools.notebook_outputs.tolerance_for`),
  written to ``chapters/tolerances/<stem>.json`` beside the committed value it applies to;
* every untagged cell must give exactly its committed outputs under every kernel set; one that
  does not is reported (tag it ``numeric`` or make it deterministic) and the command exits 1.

Another machine's CPU is another sample of the same deviations, and the kernel sets of one
machine do not cover every other (torch and MKL choose different code paths on an AMD and an
Intel CPU with the same instruction set).  ``--add-native`` executes the notebook cold with this
machine's own kernels and *adds* that run to the record: the committed outputs stay, each spread
becomes the largest deviation over the earlier runs and this one, and the record lists every
sample it covers.  ``--merge-run RUN.ipynb`` does the same with a copy executed elsewhere (for
example ``--execute-into`` on another machine).  A full measurement (without these) measures this
machine's runs and carries over the earlier record's spreads for every cell whose code, and the
code above it, did not change since the last commit (:func:`tools.notebook_outputs.carry_over`,
against the notebook and record of git ``HEAD``): a chapter changed at its end keeps the other
machines' samples for everything above the change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tools.notebook_outputs import (
    KERNEL_VARIANTS,
    NUMERIC_TAG,
    RELATIVE_FLOOR,
    SAFETY,
    carry_over,
    dump_record,
    is_exempt,
    load_record,
    measure_cell,
    output_texts,
    record_path,
    unchanged_cells,
)

RULE = (
    "spread = largest |value - committed value| over the runs listed in 'samples'. tolerance = "
    "max(SAFETY x spread, one unit in the last printed digit, RELATIVE_FLOOR x |value|) for a "
    "float, whether it moved or not; SAFETY x spread for an integer (0 if it did not move); in a "
    "figure's data, at least RELATIVE_FLOOR x the largest |value| of its array. Numbers that did "
    "not move are not listed; 'moved' lists the others as [position, committed value, spread, "
    "tolerance]."
)


def execute(notebook: Path, env_overrides: dict[str, str], out_dir: Path) -> dict[str, Any]:
    """Execute ``notebook`` in a fresh kernel with extra environment variables; return it.

    The execution runs in a child process (``--execute-into``) that inherits the variables, so the
    kernel it starts does too; the committed notebook is not touched.  Each run gets an empty
    experiment cache of its own (``ELBO_BOOK_CACHE_DIR``), so every model is trained under the
    variant's kernels instead of being loaded from a run made with the native ones.
    """
    handle, name = tempfile.mkstemp(prefix=notebook.stem, suffix=".ipynb", dir=out_dir)
    os.close(handle)
    out = Path(name)
    cache_dir = out.with_suffix(".experiment-cache")
    cache_dir.mkdir()
    env = {**os.environ, **env_overrides, "ELBO_BOOK_CACHE_DIR": str(cache_dir)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.measure_tolerances",
            "--execute-into",
            str(out),
            str(notebook),
        ],
        env=env,
        check=True,
    )
    return json.loads(out.read_text(encoding="utf-8"))


def _timed(notebook: Path, env_overrides: dict[str, str], out_dir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    run = execute(notebook, env_overrides, out_dir)
    label = env_overrides.get("ATEN_CPU_CAPABILITY", "native")
    print(f"{notebook}: executed cold with {label} kernels in {time.perf_counter() - start:.0f} s")
    return run


def execute_into(notebook: Path, out: Path) -> None:
    """Execute ``notebook`` (working directory: its folder) and write the result to ``out``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        timeout=3600,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    client.execute()
    kernels = os.environ.get("ATEN_CPU_CAPABILITY")
    nb.metadata["executed_on"] = _sample(f"{kernels} kernels" if kernels else "native kernels")
    nbformat.write(nb, out)


def cpu_model() -> str:
    """This machine's CPU as ``/proc/cpuinfo`` names it (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _samples_of(record: dict[str, Any]) -> list[str]:
    """The runs a record covers (a record from before ``samples`` covers its kernel sets)."""
    return record.get("samples") or [
        f"{variant} on the machine of the committed outputs"
        for variant in record.get("kernel_sets", [])
    ]


CARRIED = "carried over (cells whose code and the code above are unchanged): "


def _carried_samples(earlier_record: dict[str, Any]) -> list[str]:
    """The earlier record's runs and its committed run, each named once as carried over (a run
    carried over twice is still one run)."""
    earlier = [
        *_samples_of(earlier_record),
        f"the earlier committed run ({earlier_record['committed_outputs_made_with']})",
    ]
    named = [CARRIED + sample.removeprefix(CARRIED) for sample in earlier]
    return list(dict.fromkeys(named))


def _sample(kernels: str) -> str:
    return f"{kernels} on {cpu_model()} ({_native_capability()}), {dt.date.today().isoformat()}"


def _as_committed(notebook: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notebook and its record as last committed (git ``HEAD``): the code the record's runs
    executed, whatever the working copy's cells say now.  Outside git, the files themselves."""

    def committed(path: Path) -> Any:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.relative_to(notebook.parent).as_posix()}"],
            cwd=notebook.parent,
            capture_output=True,
            check=False,
        )
        return json.loads(shown.stdout) if shown.returncode == 0 else None

    try:
        earlier, record = committed(notebook), committed(record_path(notebook))
    except (OSError, ValueError):
        earlier = record = None
    if earlier is None:
        earlier = json.loads(notebook.read_text(encoding="utf-8"))
    return earlier, record if record is not None else load_record(notebook)


def measure(
    notebook: Path,
    jobs: int,
    *,
    tag: bool = False,
    native: bool = False,
    add: Sequence[dict[str, Any]] = (),
    add_native: bool = False,
    label: str | None = None,
) -> list[str]:
    """Measure ``notebook``, write its record, and return the problems found.

    With ``tag``, an untagged cell whose output changed under another kernel set is tagged
    ``numeric`` in the committed notebook (its metadata only; outputs untouched) and measured.
    With ``native``, the notebook is first (in parallel with the other kernel sets) executed cold
    with this CPU's own kernels, and that run replaces its outputs: the committed outputs and
    their record then come from one command.  With ``add`` (executed copies made elsewhere) or
    ``add_native`` (execute here, cold, with this CPU's kernels), those runs are added to the
    existing record instead (module docstring); nothing else is executed.  ``label`` names the
    machine of the added copies in the record, where they do not name it themselves.
    """
    merging = bool(add) or add_native
    if merging and (tag or native):
        raise ValueError("adding runs to a record cannot be combined with --tag or --native")
    previous = load_record(notebook) if merging else None
    if merging and not (previous or {}).get("cells"):
        raise ValueError(f"{notebook} has no tolerance record to add runs to: measure it first")
    earlier_notebook, earlier_record = _as_committed(notebook)
    runs = list(add)
    if add_native:
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_timed(notebook, {}, Path(tmp)))
    else:
        kernel_sets = ({}, *KERNEL_VARIANTS) if native else KERNEL_VARIANTS
        if not merging:
            with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
                runs = list(pool.map(lambda v: _timed(notebook, v, Path(tmp)), kernel_sets))
        if native:
            fresh, runs = runs[0], runs[1:]
            notebook.write_text(json.dumps(fresh, indent=1, ensure_ascii=False) + "\n", "utf-8")
    committed = json.loads(notebook.read_text(encoding="utf-8"))
    problems: list[str] = []
    cells: dict[str, Any] = {}
    by_id = [{c["id"]: c for c in run["cells"]} for run in runs]
    if any(set(ids) != {c["id"] for c in committed["cells"]} for ids in by_id):
        return [f"{notebook}: a run does not have the committed notebook's cells"]
    # adding runs keeps the committed outputs, and their record says what it covers
    carried = {"cells": {}} if merging else carry_over(earlier_notebook, earlier_record, committed)
    unchanged = set(unchanged_cells(earlier_notebook, committed))
    earlier_cells = {c["id"]: c for c in earlier_notebook["cells"]}
    tagged_now = []
    for index, cell in enumerate(committed["cells"]):
        if cell["cell_type"] != "code" or is_exempt(cell):
            continue
        variants = [run[cell["id"]].get("outputs", []) for run in by_id]
        outputs = cell.get("outputs", [])
        tags = cell.setdefault("metadata", {}).get("tags", [])
        varied = any(output_texts(v) != output_texts(outputs) for v in variants)
        if NUMERIC_TAG not in tags and varied and tag:
            cell["metadata"]["tags"] = [*tags, NUMERIC_TAG]
            tagged_now.append(index)
        if NUMERIC_TAG in cell["metadata"].get("tags", []):
            if previous is not None:
                earlier = previous["cells"].get(cell["id"], {})
            else:
                earlier = carried["cells"].get(cell["id"])
            entries, cell_problems = measure_cell(outputs, variants, previous=earlier)
            problems += [f"cell {index} ({cell['id']}): {p}" for p in cell_problems]
            if entries:
                cells[cell["id"]] = {"cell": index, "outputs": entries}
        elif varied:
            problems.append(
                f"cell {index} ({cell['id']}) is compared exactly but its output changed "
                "under another kernel set: tag it 'numeric' or make it deterministic"
            )
        elif cell["id"] in unchanged and output_texts(
            earlier_cells[cell["id"]].get("outputs", [])
        ) != output_texts(outputs):
            problems.append(
                f"cell {index} ({cell['id']}) is compared exactly but its output differs from "
                "the earlier committed run of the same code: tag it 'numeric' or make it "
                "deterministic"
            )
    if tagged_now:
        print(f"{notebook}: tagged 'numeric': cells {tagged_now}")
        text = json.dumps(committed, indent=1, ensure_ascii=False) + "\n"
        notebook.write_text(text, encoding="utf-8")
    if previous is not None:
        samples = _samples_of(previous)
        labels = [
            label or run.get("metadata", {}).get("executed_on", "a run executed elsewhere")
            for run in add
        ]
        samples = [*samples, *labels, *([_sample("native kernels")] if add_native else [])]
    else:
        samples = [_sample(str(variant)) for variant in KERNEL_VARIANTS]
        if carried["cells"]:
            samples += _carried_samples(earlier_record)
    record = {
        "notebook": notebook.name,
        "about": "Tolerances for the numbers of this notebook's cells tagged 'numeric' "
        "(tools/notebook_outputs.py). Written by tools/measure_tolerances.py; do not edit.",
        "rule": RULE,
        "safety": SAFETY,
        "relative_floor": RELATIVE_FLOOR,
        "kernel_sets": list(KERNEL_VARIANTS),
        "samples": samples,
        "committed_outputs_made_with": (
            previous["committed_outputs_made_with"] if previous else _native_capability()
        ),
        "measured_on": dt.date.today().isoformat(),
        "cells": cells,
    }
    path = record_path(notebook)
    path.parent.mkdir(exist_ok=True)
    path.write_text(dump_record(record), encoding="utf-8")
    return problems


def _native_capability() -> str:
    import torch

    return (
        f"torch {torch.__version__}, ATEN_CPU_CAPABILITY {torch.backends.cpu.get_cpu_capability()}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.measure_tolerances",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--tag", action="store_true", help="tag cells whose output moved as 'numeric' first"
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="also execute with this CPU's own kernels, at the same time, and commit that run",
    )
    parser.add_argument(
        "--add-native",
        action="store_true",
        help="execute with this CPU's own kernels and add that run to the existing record",
    )
    parser.add_argument(
        "--merge-run",
        type=Path,
        action="append",
        default=[],
        help="an executed copy of the notebook (made elsewhere) to add to the existing record",
    )
    parser.add_argument(
        "--label", help="the machine and kernels of the --merge-run copies, for the record"
    )
    parser.add_argument("--execute-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--jobs", type=int, default=3, help="kernel sets executed at once (default 3)"
    )
    args = parser.parse_args(argv)
    if args.execute_into:
        execute_into(args.notebooks[0], args.execute_into)
        return 0
    if args.merge_run and len(args.notebooks) != 1:
        parser.error("--merge-run adds runs of one notebook: name exactly one")
    status = 0
    for notebook in args.notebooks:
        added = [json.loads(p.read_text(encoding="utf-8")) for p in args.merge_run]
        problems = measure(
            notebook,
            args.jobs,
            tag=args.tag,
            native=args.native,
            add=added,
            add_native=args.add_native,
            label=args.label,
        )
        print(f"{notebook}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for p in problems:
            print(f"  {p}")
        status |= bool(problems)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
