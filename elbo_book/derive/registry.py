"""The registry of derivations: what ``python -m elbo_book.verify`` checks.

A module registers its derivations with the decorator :func:`register`; :func:`collect` imports
the modules of a *source* and returns the derivations they registered.  A source is a dotted
module or package name (a package: every module and subpackage directly inside it, found with
``pkgutil``, so adding a module needs no edit elsewhere), a ``.py`` file or a folder of them.  The
engine knows no source of its own: the book's derivations are the package ``elbo_book.book``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from elbo_book.derive.chain import Derivation

__all__ = ["collect", "register", "registered"]

_REGISTRY: dict[str, Derivation] = {}
_MODULE: dict[str, str] = {}
"""Derivation name → the module that defines the function building it."""
_LOADED: dict[Path, str] = {}
"""A ``.py`` file loaded by :func:`collect` → the module name it was loaded under."""


def register(chapter: str) -> Callable[[Callable[[], Derivation]], Derivation]:
    """Decorator: build the derivation returned by the function, tag it with ``chapter`` (the
    chapter file's basename, e.g. ``"01_jensen_bound"``) and register it under its name.

    The decorated name becomes the (tagged) :class:`~elbo_book.derive.chain.Derivation` itself
    (checked lazily, on display or by ``python -m elbo_book.verify``); it belongs to the module
    that defines the decorated function.

    Raises:
        ValueError: ``chapter`` is empty, the function returns no ``Derivation``, or another
            chapter already registered a derivation of the same name.
    """
    if not chapter:
        raise ValueError("register needs the chapter basename, e.g. '01_jensen_bound'")

    def deco(build: Callable[[], Derivation]) -> Derivation:
        d = build()
        if not isinstance(d, Derivation):
            raise ValueError(f"{build.__name__} must return a Derivation, got {type(d).__name__}")
        d = replace(d, chapter=chapter)
        old = _REGISTRY.get(d.name)
        if old is not None and old.chapter != chapter:
            raise ValueError(f"derivation name {d.name!r} is already used in {old.chapter}")
        _REGISTRY[d.name] = d
        _MODULE[d.name] = build.__module__
        return d

    return deco


def registered() -> list[Derivation]:
    """The derivations registered so far, from every source (import order)."""
    return list(_REGISTRY.values())


def _load_file(path: Path) -> str:
    """Import the file ``path`` as a module of its own (its folder first on ``sys.path`` while
    it runs, so that it can import its neighbours); return the module's name."""
    path = path.resolve()
    if path in _LOADED:
        return _LOADED[path]
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"_derivations_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(path.parent))
    _LOADED[path] = name
    return name


def _import(source: str | Path) -> list[str]:
    """Import ``source``; return the names of the modules whose derivations it holds."""
    path = Path(source)
    if path.is_dir():
        files = sorted(
            f
            for f in path.rglob("*.py")
            if not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        if not files:
            raise ValueError(f"the folder {source} holds no .py file")
        return [_load_file(f) for f in files]
    if path.is_file():
        if path.suffix != ".py":
            raise ValueError(f"{source} is not a .py file")
        return [_load_file(path)]
    text = os.fspath(source)
    if text.endswith(".py") or os.sep in text or "/" in text:
        raise ValueError(f"no such file or folder: {text}")
    try:
        module: ModuleType = importlib.import_module(text)
    except ModuleNotFoundError as err:
        if err.name is None or not (text == err.name or text.startswith(f"{err.name}.")):
            raise  # the module exists but imports one that does not
        raise ValueError(f"{text} is neither a file, a folder nor an importable module") from err
    names = [module.__name__]
    if hasattr(module, "__path__"):  # a package: its modules and subpackages, by name
        for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
            names.append(importlib.import_module(f"{module.__name__}.{info.name}").__name__)
    return names


def collect(source: str | Path) -> list[Derivation]:
    """The derivations defined in ``source``, sorted by chapter (stable within a chapter).

    ``source`` is a dotted module name, a package (every module and subpackage directly inside
    it is imported; a subpackage's ``__init__`` imports what it registers), a ``.py`` file or a
    folder (every ``.py`` file in it and its subfolders, each imported as a module of its own).
    A derivation belongs to the source that defines the function :func:`register` decorated.

    Raises:
        ValueError: ``source`` is no file, folder or importable module, or defines no
            derivation.
    """
    modules = _import(source)
    prefixes = tuple(f"{m}." for m in modules)
    found = [
        d
        for d in registered()
        if _MODULE[d.name] in modules or _MODULE[d.name].startswith(prefixes)
    ]
    if not found:
        raise ValueError(f"{os.fspath(source)} defines no derivation (none is registered there)")
    return sorted(found, key=lambda d: d.chapter)
