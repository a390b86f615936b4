"""Input checks shared by the public functions of :mod:`elbo_book`.

Every check raises :class:`ValueError` with a message that names the argument, says what was
wrong and what was expected.  Other modules (and chapters) may import these.

Public API:

- :data:`Reduction` — the literal type ``"none" | "mean" | "sum"``.
- :func:`check_tensor` — a floating-point, finite tensor with an optional number of dimensions.
- :func:`all_finite`, :func:`is_binary` — cheap whole-tensor tests (one reduction each).
- :func:`check_positive` — a finite real number ``> 0``.
- :func:`check_nonnegative` — a finite real number ``≥ 0``.
- :func:`check_int` — an ``int`` (not ``bool``) with a lower bound.
- :func:`check_reduction` — one of ``"none"``, ``"mean"``, ``"sum"``.
- :func:`check_choice` — one of a fixed set of strings.
- :func:`reduce` — apply a checked reduction to a per-example tensor.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal

import torch

Reduction = Literal["none", "mean", "sum"]

__all__ = [
    "Reduction",
    "all_finite",
    "check_choice",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_reduction",
    "check_tensor",
    "is_binary",
    "reduce",
]


def check_tensor(
    value: object,
    name: str,
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    last_dim: int | None = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``value`` is a floating-point tensor, finite, with the expected shape.

    ``ndim`` fixes the number of dimensions, ``min_ndim`` bounds it from below and ``last_dim``
    fixes the size of the last dimension.  Returns ``value`` unchanged.
    """
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(
            f"{name} must have a floating-point dtype (e.g. torch.float32), got {value.dtype}"
        )
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(value.shape)}")
    if min_ndim is not None and value.dim() < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {tuple(value.shape)}"
        )
    if last_dim is not None and (value.dim() == 0 or value.shape[-1] != last_dim):
        raise ValueError(
            f"{name} must have last dimension {last_dim}, got shape {tuple(value.shape)}"
        )
    if finite and not all_finite(value):
        raise ValueError(f"{name} must be finite everywhere; it contains NaN or inf")
    return value


def all_finite(value: torch.Tensor) -> bool:
    """Whether every entry of ``value`` is finite (no NaN, no ±inf).

    Fast path: NaN and ±inf propagate through a sum, so a finite sum proves a finite tensor;
    only a non-finite sum (which finite values can reach by overflow) needs the full check.
    """
    if math.isfinite(float(value.detach().sum())):
        return True
    return bool(torch.isfinite(value).all())


def is_binary(value: torch.Tensor) -> bool:
    """Whether every entry of ``value`` is exactly 0 or 1.

    x − x² = x(1 − x) is zero exactly at 0 and 1 (also in floating point, where x² rounds to x
    only for x ∈ {0, 1}), and NaN or inf make it non-finite: one sum of ``abs(x - x * x)`` decides.
    """
    v = value.detach()
    return float((v - v * v).abs().sum()) == 0.0


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_positive(value: object, name: str) -> float:
    """Check that ``value`` is a finite real number ``> 0``; return it as a float."""
    number = _check_real(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def check_nonnegative(value: object, name: str) -> float:
    """Check that ``value`` is a finite real number ``≥ 0``; return it as a float."""
    number = _check_real(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def check_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an ``int`` (``bool`` excluded) and ``≥ minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value: object, name: str, choices: Collection[str]) -> str:
    """Check that ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}; got {value!r}")
    return value


def check_reduction(reduction: object) -> Reduction:
    """Check that ``reduction`` is ``"none"``, ``"mean"`` or ``"sum"``."""
    check_choice(reduction, "reduction", ("none", "mean", "sum"))
    return reduction  # type: ignore[return-value]


def reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Reduce per-example ``values`` over all dimensions: unchanged, mean or sum."""
    check_reduction(reduction)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
