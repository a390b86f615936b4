"""Notation checks for the sources' typographical slips (the Errata chapter).

Some mistakes in the sources change no mathematics: a ``KL`` written with a comma, a missing
``φ``, a differential ``dz_n`` where ``dz_N`` is meant.  The SymPy engine checks meaning, not
typography, so these slips are checked here by small rules applied to the LaTeX itself: the
source's snippet fails the rule, the corrected snippet passes it.  Each rule is a function from a
LaTeX string to the list of problems found; :func:`notation_check` runs one rule and returns an
:class:`~elbo_book.book.errata.records.Check` labelled "notation check".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from elbo_book.book.errata.records import Check

__all__ = [
    "RULES",
    "align_rows",
    "cited_rows",
    "differential_outside",
    "differentials",
    "distinct_symbols",
    "expectation_subscript",
    "kl_separator",
    "mutual_information_arguments",
    "notation_check",
    "repeated_rows",
    "subscript_brackets",
    "variational_subscript",
]


def _groups(tex: str, opener: str, open_ch: str, close_ch: str) -> list[str]:
    """The contents of every balanced ``opener…close_ch`` group (``opener`` ends in open_ch)."""
    out: list[str] = []
    for m in re.finditer(re.escape(opener), tex):
        depth, start = 0, m.end() - 1
        for i in range(start, len(tex)):
            if tex[i] == open_ch:
                depth += 1
            elif tex[i] == close_ch:
                depth -= 1
                if depth == 0:
                    out.append(tex[start + 1 : i])
                    break
        else:
            out.append(tex[start + 1 :])
    return out


def _top_level(arg: str) -> str:
    """``arg`` with every bracketed sub-group removed (what is left at depth 0)."""
    out, depth = [], 0
    for ch in arg:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def kl_separator(tex: str) -> list[str]:
    """KL takes two densities separated by ‖ (``\\|``, ``\\Vert`` or ``\\vert\\vert``)."""
    problems = []
    for opener in (r"\operatorname{KL}\left(", r"\kl(", "KL(", r"\kl_{\vv{z}}("):
        for arg in _groups(tex, opener, "(", ")"):
            flat = arg.replace(r"\left", "").replace(r"\right", "")
            top = _top_level(flat)
            if not re.search(r"\\\||\\Vert|\\vert\s*\\vert|\|\||‖", top):
                found = "a comma" if "," in top else ("a single bar" if "mid" in top else "none")
                problems.append(f"KL({flat.strip()}): separator is {found}, expected ‖")
    return problems


def variational_subscript(tex: str) -> list[str]:
    """Every variational density carries its parameters: ``q_\\phi(…)`` or ``q_{\\phi}(…)``."""
    return [
        f"q{m.group(1)}: a variational density without the subscript φ"
        for m in re.finditer(r"(?<![A-Za-z\\])q(\s*\()", tex)
    ]


def expectation_subscript(tex: str) -> list[str]:
    """An expectation's subscript names one density, e.g. ``q_\\phi(z|x)``, no ``\\sim``."""
    problems = []
    for sub in _groups(tex, r"\Ex_{", "{", "}") + _groups(tex, r"\mathbb{E}_{", "{", "}"):
        if r"\sim" in sub:
            problems.append(f"E_{{{sub.strip()}}}: '\\sim' inside the density's argument")
    return problems


def differentials(tex: str) -> list[str]:
    """Integrals over z_1, …, z_N end with the differential ``dz_N`` (not ``dz_n``)."""
    ints = re.findall(r"\\int_\{?z_(\w)\}?", tex)
    diffs = re.findall(r"d\s*z_(\w)", tex)
    if ints and diffs and ints[-1] != diffs[-1]:
        return [f"last integral is over z_{ints[-1]} but the last differential is dz_{diffs[-1]}"]
    return []


def differential_outside(tex: str) -> list[str]:
    """A differential closes the integral; it does not sit inside the integrand's brackets."""
    return [
        f"'{m.group(0).strip()}': the differential is inside the bracket"
        for m in re.finditer(r"d\s*z_\w+\s*\\right\)", tex)
    ]


def repeated_rows(tex: str) -> list[str]:
    """No row of an aligned chain repeats the row before it (an empty step)."""
    rows = [re.sub(r"\s+", "", r) for r in re.split(r"\\\\", tex)]
    rows = [r for r in rows if r]
    return [f"row {i + 1} repeats row {i}" for i in range(1, len(rows)) if rows[i] == rows[i - 1]]


def subscript_brackets(tex: str) -> list[str]:
    """Brackets opened inside a subscript ``_{…}`` are closed inside it."""
    return [
        f"_{{{sub}}}: unbalanced parentheses"
        for sub in _groups(tex, "_{", "{", "}")
        if sub.count("(") != sub.count(")")
    ]


def mutual_information_arguments(tex: str) -> list[str]:
    """Mutual information separates its two variables by a semicolon: 𝕀(n; z)."""
    return [
        f"I({a.strip()}): variables separated by a comma, expected ';'"
        for a in re.findall(r"\\mathbb\{I\}_\{[^}]*\}\(([^)]*)\)", tex)
        if "," in a
    ]


def align_rows(body: str, first: int) -> dict[int, str]:
    """The numbered rows of an ``align`` body, numbered from ``first``: one number per row, a
    trailing ``\\\\`` adding an empty numbered row (the rule behind the second source's own
    cross-references, e.g. "(11)").  Returns {number: row text, stripped}."""
    rows = re.split(r"\\\\", body)
    return {first + i: r.strip() for i, r in enumerate(rows)}


def cited_rows(tex: str) -> list[str]:
    """A cited equation number names a row that holds an equation, not an empty row.  ``tex`` is
    one or more blocks, each ``% first=<number> cited=<n>[,<n>…]`` on a line of its own followed
    by the block's rows (see :func:`align_rows`)."""
    problems = []
    blocks = re.split(r"^%\s*", tex, flags=re.M)
    for block in blocks:
        head, _, body = block.partition("\n")
        m = re.fullmatch(r"first=(\d+)\s+cited=([\d,\s]+)", head.strip())
        if not m:
            continue
        rows = align_rows(body, int(m.group(1)))
        for c in (int(v) for v in m.group(2).split(",")):
            if c not in rows:
                problems.append(f"({c}) is not a row of the block ({min(rows)})–({max(rows)})")
            elif not rows[c]:
                problems.append(f"({c}) is an empty row (after the block's trailing \\\\)")
    return problems


def distinct_symbols(tex: str) -> list[str]:
    """Observed and latent variables get different symbols.  ``tex`` lists them as
    ``role=symbol`` pairs separated by ``;``."""
    pairs = [p.split("=", 1) for p in tex.split(";") if "=" in p]
    seen: dict[str, str] = {}
    problems = []
    for role, sym in pairs:
        key = sym.strip()
        if key in seen:
            problems.append(f"'{role.strip()}' and '{seen[key]}' are both written {key}")
        seen[key] = role.strip()
    return problems


#: Rule name → (the statement it checks, the function returning the problems found).
RULES: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "kl_separator": ("KL(a ‖ b) separates its densities by ‖", kl_separator),
    "variational_subscript": ("every variational density is written q_φ", variational_subscript),
    "expectation_subscript": ("an expectation's subscript is one density", expectation_subscript),
    "differentials": ("the differentials match the integrals", differentials),
    "differential_outside": ("the differential is outside the integrand", differential_outside),
    "repeated_rows": ("no row of the chain repeats the previous one", repeated_rows),
    "subscript_brackets": ("brackets in a subscript are balanced", subscript_brackets),
    "mutual_information_arguments": ("𝕀(n; z) has a semicolon", mutual_information_arguments),
    "distinct_symbols": ("observed and latent variables have distinct symbols", distinct_symbols),
    "cited_rows": ("a cited equation number names a non-empty row", cited_rows),
}


def notation_check(rule: str | tuple[str, ...], tex: str) -> Check:
    """Apply the notation ``rule`` (a key of :data:`RULES`, or a tuple of keys) to ``tex``."""
    rules = (rule,) if isinstance(rule, str) else rule
    unknown = [r for r in rules if r not in RULES]
    if unknown or not rules:
        raise ValueError(
            f"unknown notation rule {unknown or rules!r}; expected one of {sorted(RULES)}"
        )
    problems = [msg for r in rules for msg in RULES[r][1](tex)]
    statement = "; ".join(RULES[r][0] for r in rules)
    shown = tex if len(tex) <= 160 else tex[:157] + "..."
    evidence = (f"checked: {shown}", *(problems or ["no problem found"]))
    return Check(statement, "notation check", not problems, evidence)
