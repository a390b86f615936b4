"""Run every ``benchmarks/bench_*.py`` module's ``main()``, or only the modules named.

With more than one module, each runs in a fresh Python process, so that a peak-memory reading
(the process's high-water mark) belongs to that benchmark alone.
"""

import argparse
import importlib
import pkgutil
import subprocess
import sys

import benchmarks


def discover() -> list[str]:
    """Names of the benchmark modules, sorted."""
    return sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args(argv)
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {discover()}")
    if len(names) == 1:
        print(f"# {names[0]}", flush=True)
        importlib.import_module(f"benchmarks.{names[0]}").main()
        return 0
    status = 0
    for name in names:
        status |= subprocess.run([sys.executable, "-m", "benchmarks", name], check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
