"""One convention for the public API: each module's ``__all__`` is its single source of truth.

For every module of ``elbo_book`` (found by walking the package, so a new module is checked
without editing this file):

- ``__all__`` exists, names each public name once, and every name in it exists;
- every name in it is documented: a function or class by its own docstring, a constant by a
  ``#:`` comment where it is defined (what autodoc shows), or it is re-exported from the module
  that documents it (the ``elbo_book.derive`` facade);
- every public function or class *defined* in the module is in ``__all__`` (an alias such as
  ``E = Expect`` is not a definition);
- the API page (``chapters/api_reference.md``) has an ``automodule`` section with ``:members:``
  for it, which autodoc fills from ``__all__`` (a facade, whose names are all re-exported from
  the modules that document them, has its section without ``:members:``);
- its docstring holds no hand-kept list of its members that could disagree with ``__all__``:
  no "Public API:" heading, no run of three or more bullets that each start by naming a member
  (a bullet or two explaining the module's main functions is prose, not a list to keep in step).

The rule is the same for the book's own modules (``elbo_book.book``, one per chapter): their
``__all__`` lists the terms, closed forms and helpers a chapter or another module imports from
them.  Their registered derivations are the modules' content, not API: a chapter reaches them
as attributes (``ch01.jensen_bound``), ``python -m elbo_book.verify`` collects them, and each
chapter shows its module's source in a collapsed block.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from sphinx.pycode import ModuleAnalyzer

import elbo_book

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "chapters" / "api_reference.md").read_text(encoding="utf-8")
WITH_MEMBERS = set(re.findall(r"^\.\. automodule:: (\S+)\n   :members:$", PAGE, re.M))
DOCUMENTED = set(re.findall(r"^\.\. automodule:: (\S+)$", PAGE, re.M))

MODULES = sorted(
    {"elbo_book"}
    | {
        info.name
        for info in pkgutil.walk_packages(elbo_book.__path__, "elbo_book.")
        if info.name.rsplit(".", 1)[-1] != "__main__"  # importing it runs the command line
    }
)

# A bullet that starts by naming something: "- :func:`name` — …", "* ``name``, …".
BULLET = re.compile(r"^[ \t]*[-*][ \t]+(?::\w+:`~?(?:[\w.]+\.)?(\w+)`|``(\w+)``)")
# Three or more bullets in a row that each start by naming a member make a member list.
LIST_LENGTH = 3


def _member_lists(doc: str, members: set[str]) -> list[list[str]]:
    """Runs of at least ``LIST_LENGTH`` bullets, each starting with one of ``members``."""
    runs: list[list[str]] = [[]]
    for line in doc.splitlines():
        if re.match(r"^[ \t]*[-*][ \t]", line):  # a new bullet
            match = BULLET.match(line)
            named = match and (match.group(1) or match.group(2))
            if named in members:
                runs[-1].append(named)
            else:
                runs.append([])
        elif not line.strip() or not line.startswith((" ", "\t")):  # the list ends
            runs.append([])
    return [run for run in runs if len(run) >= LIST_LENGTH]


@cache
def _attribute_docs(name: str) -> frozenset[str]:
    """The module-level names documented by a ``#:`` comment or a string after them."""
    docs = ModuleAnalyzer.for_module(name).find_attr_docs()
    return frozenset(attribute for scope, attribute in docs if scope == "")


def _own_docstring(value: object) -> str:
    """A function's or class's own docstring (not the signature a dataclass makes up)."""
    doc = (value.__doc__ or "").strip()
    if inspect.isclass(value) and doc.startswith(f"{value.__name__}("):
        return ""
    return doc


def _defined_here(module: ModuleType, name: str, value: object) -> bool:
    value = inspect.unwrap(value) if callable(value) else value
    return (
        (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
        and value.__name__ == name
    )


def _home(value: object, here: str) -> str | None:
    """Another module whose ``__all__`` has this very object (so it documents it), if any."""
    for other in MODULES:
        if other == here:
            continue
        module = importlib.import_module(other)
        if any(getattr(module, name, None) is value for name in getattr(module, "__all__", ())):
            return other
    return None


def _documented_elsewhere(value: object, here: str) -> bool:
    """A re-export: another module's ``__all__`` has the same object and documents it."""
    for other in MODULES:
        if other == here:
            continue
        module = importlib.import_module(other)
        names = [n for n in getattr(module, "__all__", ()) if getattr(module, n, None) is value]
        if any(n in _attribute_docs(other) for n in names):
            return True
    return False


def _is_facade(module: ModuleType) -> bool:
    """A module that only re-exports names defined and documented elsewhere (or a package that
    exports nothing of its own)."""
    here = module.__name__

    def reexported(name: str) -> bool:
        value = getattr(module, name)
        if inspect.ismodule(value):  # a submodule, with a section of its own
            return True
        if inspect.isfunction(value) or inspect.isclass(value):
            return value.__module__ != here
        return name not in _attribute_docs(here) and _home(value, here) is not None

    return all(reexported(n) for n in getattr(module, "__all__", ()))


def test_the_walk_finds_the_package() -> None:
    assert {"elbo_book.derive.terms", "elbo_book.objectives", "elbo_book.verify"} <= set(MODULES)
    assert len(MODULES) >= 50, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_all_exists_and_names_what_the_module_has(name: str) -> None:
    module = importlib.import_module(name)
    public = getattr(module, "__all__", None)
    assert public is not None, f"{name} has no __all__"
    assert len(public) == len(set(public)), f"{name}.__all__ repeats a name"
    missing = [n for n in public if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names {missing}, which the module does not have"


@pytest.mark.parametrize("name", MODULES)
def test_every_exported_name_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    undocumented = []
    for member in getattr(module, "__all__", ()):
        value = getattr(module, member)
        value = inspect.unwrap(value) if callable(value) else value
        if inspect.isfunction(value) or inspect.isclass(value) or inspect.ismodule(value):
            if not _own_docstring(value):
                undocumented.append(member)
        elif member not in _attribute_docs(name) and not _documented_elsewhere(value, name):
            undocumented.append(member)
    assert not undocumented, f"{name}: no docstring or #: comment for {undocumented}"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_definition_is_exported(name: str) -> None:
    module = importlib.import_module(name)
    defined = {
        n for n, v in vars(module).items() if not n.startswith("_") and _defined_here(module, n, v)
    }
    assert sorted(defined - set(getattr(module, "__all__", ()))) == [], name


@pytest.mark.parametrize("name", MODULES)
def test_every_module_has_a_section_on_the_api_page(name: str) -> None:
    """A facade (``elbo_book.derive``, or a package that exports only its submodules) has a
    section without ``:members:``: each of its names is documented once, in the module that
    defines it (twice would be a duplicate target)."""
    module = importlib.import_module(name)
    if _is_facade(module):
        assert name in DOCUMENTED and name not in WITH_MEMBERS, f"{name}: a facade's section"
    else:
        assert name in WITH_MEMBERS, f"{name}: no '.. automodule:: {name}' with :members:"


@pytest.mark.parametrize("name", MODULES)
def test_no_hand_kept_member_list_in_the_module_docstring(name: str) -> None:
    module = importlib.import_module(name)
    doc = module.__doc__ or ""
    assert not re.search(r"public api", doc, re.I), f"{name}: a 'Public API' list in its docstring"
    members = set(getattr(module, "__all__", ())) | {
        n for n, v in vars(module).items() if _defined_here(module, n, v)
    }
    lists = _member_lists(doc, members)
    assert not lists, f"{name}: its docstring lists members by hand: {lists}"


def test_every_documented_module_exists() -> None:
    for name in sorted(DOCUMENTED):
        importlib.import_module(name)


def test_the_docstring_check_tells_a_member_list_from_prose() -> None:
    members = {"fit", "evaluate", "train_step", "Gap", "Jensen"}
    listing = (
        "Things.\n\n- :func:`fit` — trains,\n  and more.\n* ``evaluate``, the test ELBO.\n"
        "- :func:`~elbo_book.training.train_step` — one step.\n"
    )
    two = "Certificates.\n\n* :class:`Gap` — a difference.\n* :class:`Jensen` — a log of a mean.\n"
    prose = "Rules.\n\n* ``distinct-variables`` — once.\n- the ELBO.\n- ``fit``.\n- ``evaluate``.\n"
    assert _member_lists(listing, members) == [["fit", "evaluate", "train_step"]]
    assert _member_lists(two, members) == []
    assert _member_lists(prose, members) == []
