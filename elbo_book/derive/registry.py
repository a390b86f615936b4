"""The registry of the book's derivations.

Each module in :mod:`elbo_book.derive.library` registers its derivations with the decorator
:func:`register`.  :func:`collect` imports every module of that package (found with ``pkgutil``, so
adding a chapter module needs no edit elsewhere) and returns all registered derivations.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import replace

from elbo_book.derive.chain import Derivation

__all__ = ["collect", "register", "registered"]

_REGISTRY: dict[str, Derivation] = {}


def register(chapter: str) -> Callable[[Callable[[], Derivation]], Derivation]:
    """Decorator: build the derivation returned by the function, tag it with ``chapter`` (the
    chapter file's basename, e.g. ``"01_jensen_bound"``) and register it under its name.

    The decorated name becomes the (tagged) :class:`~elbo_book.derive.chain.Derivation` itself
    (checked lazily, on display or by ``python -m elbo_book.verify``)."""
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
        return d

    return deco


def registered() -> list[Derivation]:
    """The derivations registered so far (import order)."""
    return list(_REGISTRY.values())


def collect() -> list[Derivation]:
    """Import every module of :mod:`elbo_book.derive.library`; return all derivations, sorted by
    chapter (stable within a chapter)."""
    import elbo_book.derive.library as lib

    for info in sorted(pkgutil.iter_modules(lib.__path__), key=lambda m: m.name):
        importlib.import_module(f"{lib.__name__}.{info.name}")
    return sorted(registered(), key=lambda d: d.chapter)
