"""The verification report (``python -m elbo_book.verify``) and the rule that chapters display
only engine-produced derivation chains."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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


_DISPLAY = re.compile(r"\$\$(.*?)\$\$|\\\[(.*?)\\\]|```\{math\}(.*?)```", re.S)
_ANY_REL = re.compile(r"(\\leq?(?![a-zA-Z])|\\geq?(?![a-zA-Z])|≤|≥|(?<![<>!\\])=|(?<!\\)[<>])")
_EQUATION_SEP = re.compile(r"\\\\|\\qquad|\\quad")


def _top_level(tex: str) -> str:
    """``tex`` with everything inside braces (subscripts, \\text{…}) blanked out."""
    depth, out = 0, []
    for ch in tex:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        out.append(ch if depth == 0 and ch not in "{}" else " ")
    return "".join(out)


def equation_relations(markdown: str) -> list[int]:
    """For each equation of each displayed formula in ``markdown`` (``$$…$$``, ``\\[…\\]``,
    ``{math}`` blocks; equations split at row breaks and ``\\quad``/``\\qquad``), the number of
    relations (=, <, >, ≤, ≥) outside braces (so ``\\sum_{n=1}`` does not count)."""
    counts = []
    for m in _DISPLAY.finditer(markdown):
        body = next(g for g in m.groups() if g is not None)
        for eq in _EQUATION_SEP.split(_top_level(body)):
            counts.append(len(_ANY_REL.findall(eq.replace("&", ""))))
    return counts


def test_equation_relation_counter() -> None:
    assert equation_relations("$$a = b = c$$") == [2]
    assert equation_relations("$$a = \\sum_{n=1}^N b_n, \\qquad c \\le d$$") == [1, 1]
    assert equation_relations("\\[\n x \\geq y \\ge z \n\\]") == [2]
    assert equation_relations("```{math}\na < b\n```") == [1]
    assert equation_relations("$$\\begin{aligned} a &= b \\\\ &= c\\end{aligned}$$") == [1, 1]
    assert equation_relations("inline $a = b = c$ is not displayed") == []


# Hand-typed chains (two relations in one displayed equation) still in chapters, each named by a
# piece of its LaTeX: each should become a displayed engine derivation (the tempered-posterior
# chain of chapter 5 is now ``ch05_beta_vae.tempered_posterior``, chapter 6's χ² identity
# ``ch06_importance_weighting.chi_square_weight_variance``); the list may only shrink.
KNOWN_HAND_TYPED = (
    r"= \log Z_\beta(x) - \KL\left(q \,\|\, q^*_\beta\right)",  # 05: tempered posterior
    r"d \log\frac{\sigma_p^2}{\sigma_q^2} \right]",  # 05: isotropic Gaussian KL, d dimensions
    r"= \frac{\operatorname{Var}_q[w]}{p_\theta(x)^2}",  # 06: χ² = E[(p/q)²] − 1 = Var/p²
    r"= -\KL\big(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)\big) + \log p_\theta(x).",  # errata
)


@pytest.mark.parametrize(
    "notebook", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.name
)
def test_chapters_display_no_hand_typed_relation_chains(notebook: Path) -> None:
    """No displayed equation chains two relations (a = b = c, a ≥ b = c) unless it is one of
    the known ones above: a chain is shown as an elbo_book.derive Derivation."""
    for i, cell in enumerate(_markdown_cells(notebook)):
        for m in _DISPLAY.finditer(cell):
            if any(known in m.group(0) for known in KNOWN_HAND_TYPED):
                continue
            for rels in equation_relations(m.group(0)):
                assert rels < 2, (
                    f"{notebook.name}, markdown cell {i}: a hand-typed chain of {rels} relations "
                    f"in {m.group(0)[:80]!r}; show an elbo_book.derive Derivation instead"
                )


def test_known_hand_typed_chains_still_exist() -> None:
    """Each entry of KNOWN_HAND_TYPED is still in a chapter (remove it once converted)."""
    text = "".join(
        cell for nb in (ROOT / "chapters").glob("*.ipynb") for cell in _markdown_cells(nb)
    )
    for known in KNOWN_HAND_TYPED:
        assert known in text, f"{known!r} no longer appears: remove it from KNOWN_HAND_TYPED"


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


def _fresh_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this checkout on its path); return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


def test_collecting_and_verifying_imports_no_torch() -> None:
    """The engine knows nothing of torch: collecting every derivation and checking one (the
    Errata's, whose numeric claims use torch when shown) leaves torch unimported."""
    code = (
        "import sys\n"
        "from elbo_book.derive.registry import collect\n"
        "from elbo_book.verify import check_all\n"
        "derivations = collect('elbo_book.book')\n"
        "assert len(derivations) > 50, len(derivations)\n"
        "check_all(chapter='01_jensen_bound')\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    assert _fresh_python(code) == "[]"


def test_the_engine_imports_nothing_of_the_book() -> None:
    """No module of ``elbo_book/derive/`` imports ``elbo_book.book``, and importing every one of
    them leaves the book unimported (the engine knows nothing of the book)."""
    for path in sorted((ROOT / "elbo_book" / "derive").glob("**/*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+elbo_book\.book\b", text, re.M), path
    code = (
        "import importlib, pkgutil, sys\n"
        "import elbo_book.derive as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'elbo_book.derive.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('elbo_book.book', 'torch'))))\n"
    )
    assert _fresh_python(code) == "[]"


_USER_MODULE = """
from elbo_book.derive import KL, Derivation, E, log, p, q, register, x, z


@register(chapter="user_notes")
def user_gap() -> Derivation:
    return Derivation("user_gap", log(p(x)) - E(q(z | x), log(p(x, z) / q(z | x)))).eq(
        KL(q(z | x), p(z | x)), "log p(x) - ELBO = KL", label="gap"
    )
"""
_USER_FALSE = """
from elbo_book.derive import Derivation, log, p, register, x, z


@register(chapter="user_notes")
def user_sign_slip() -> Derivation:
    return Derivation("user_sign_slip", log(p(x, z))).eq(
        log(p(x | z)) - log(p(z)), "product rule with the wrong sign", label="sign"
    )
"""


def _user_folder(root: Path, *, false_one: bool) -> Path:
    folder = root / "derivations"
    (folder / "more").mkdir(parents=True)
    (folder / "correct.py").write_text(_USER_MODULE, encoding="utf-8")
    if false_one:
        (folder / "more" / "false.py").write_text(_USER_FALSE, encoding="utf-8")
    return folder


def _verify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "elbo_book.verify", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def test_verify_a_users_folder_reports_the_false_derivation(tmp_path: Path) -> None:
    """A folder with a correct and a false derivation: only its own two are checked (not the
    book's), the false step is named and the exit status is 1."""
    folder = _user_folder(tmp_path, false_one=True)
    out = _verify(str(folder), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "verified: 1/2 steps in 2 derivations" in out.stdout, out.stdout
    assert re.search(r"^FAILED user_sign_slip \(sign\)", out.stdout, re.M), out.stdout
    assert "user_gap" in out.stdout and "jensen_bound" not in out.stdout


def test_verify_a_users_correct_file_and_module_pass(tmp_path: Path) -> None:
    """A file of correct derivations, given by its path or as a dotted module name, passes."""
    folder = _user_folder(tmp_path, false_one=False)
    for source, cwd in ((str(folder / "correct.py"), tmp_path), ("correct", folder)):
        out = _verify(source, cwd=cwd)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "verified: 1/1 steps in 1 derivations" in out.stdout, out.stdout


def test_verify_the_mutation_test_runs_on_a_users_file(tmp_path: Path) -> None:
    folder = _user_folder(tmp_path, false_one=False)
    out = _verify("--mutate", str(folder / "correct.py"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"mutation kill rate: (\d+)/(\d+)", out.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) > 0, out.stdout


@pytest.mark.parametrize("what", ["empty folder", "no derivation", "missing file", "no module"])
def test_verify_a_source_without_derivations_is_a_clear_error(tmp_path: Path, what: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "plain.py").write_text("VALUE = 1\n", encoding="utf-8")
    source, message = {
        "empty folder": (str(tmp_path / "empty"), "holds no .py file"),
        "no derivation": (str(tmp_path / "plain.py"), "defines no derivation"),
        "missing file": (str(tmp_path / "missing.py"), "no such file or folder"),
        "no module": ("no_such_module_anywhere", "neither a file, a folder nor an importable"),
    }[what]
    out = _verify(source, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr and out.stdout == "", out.stderr
