"""Input checks shared by the public functions of :mod:`elbo_book`.

Every check raises :class:`ValueError` with a message that names the argument, says what was
wrong and what was expected (a wrong *type* is a ValueError too, so one ``except ValueError``
catches every bad argument).  Other modules (and chapters) may import these.

Numbers.  Integer arguments accept Python ``int``, NumPy integers and 0-d integer tensors (not
``bool``); real arguments accept those and floats, NumPy floats and 0-d float tensors.  Each
check returns a plain Python ``int`` or ``float``.

Conventions of the whole package, stated once:

- Every value is in **nats per example** (one number per row of ``x``: sums over the pixels
  and latent coordinates of that example, never a per-pixel mean).
- Functions that return per-example tensors take ``reduction`` and default to ``"mean"`` over
  the batch; the one exception is :func:`elbo_book.importance.log_evidence_estimate`, an
  evaluation tool whose per-example values are the usual output (default ``"none"``).
  (:func:`elbo_book.gradient_snr.signal_to_noise`'s ``reduction`` summarises coordinates, not
  examples, and defaults to ``"none"``.)
- Data sets (``fit``, ``evaluate``, ``surgery_terms``) have shape ``(N, D)`` with N ≥ 1;
  per-batch functions take any leading batch shape ``(..., D)`` with at least one example.
- Defaults agree between the API and the command line (a test compares them).
- Tensor-valued functions return tensors (0-d after a ``"mean"``/``"sum"``); results that
  summarise a data set (``History``, ``SurgeryTerms``, ``KLDecomposition``, ``MIGResult``
  scores) hold Python floats.  :func:`elbo_book.training.evaluate` returns 0-d float64 tensors
  (``float(terms.elbo)`` gives the number).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Literal

import numpy as np
import torch

#: How per-example values are reduced, kept as they are (``"none"``), averaged or summed.
Reduction = Literal["none", "mean", "sum"]

__all__ = [
    "MAX_SEED",
    "MIN_SCALE",
    "Reduction",
    "all_finite",
    "check_bool",
    "check_choice",
    "check_gaussian_q",
    "check_generator",
    "check_int",
    "check_nonnegative",
    "check_positive",
    "check_real",
    "check_reduction",
    "check_scale",
    "check_seed",
    "check_tensor",
    "is_binary",
    "reduce",
]

#: The smallest standard deviation accepted for a Gaussian.  Far below it σ² underflows
#: float32's normal range (about 1.2·10⁻³⁸ ≈ (1.1·10⁻¹⁹)²) and log-densities become NaN or ±inf.
MIN_SCALE: float = 1e-12
#: The largest seed accepted, 2**63 − 1 (the range of torch's ``manual_seed``).
MAX_SEED: int = 2**63 - 1


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

    Args:
        value: the object to check.
        name: the argument's name, used in the error message.
        ndim: the required number of dimensions, or None.
        min_ndim: the smallest allowed number of dimensions, or None.
        last_dim: the required size of the last dimension, or None.
        finite: whether NaN and ±inf are refused.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not a floating-point tensor, has the wrong shape, or (with
            ``finite``) contains NaN or inf.
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

    Args:
        value: a floating-point tensor (not type-checked: callers check it first).

    Returns:
        True when no entry is NaN or ±inf.

    Raises:
        AttributeError: ``value`` is not a tensor.
    """
    if math.isfinite(float(value.detach().sum())):
        return True
    return bool(torch.isfinite(value).all())


def is_binary(value: torch.Tensor) -> bool:
    """Whether every entry of ``value`` is exactly 0 or 1.

    x − x² = x(1 − x) is zero exactly at 0 and 1 (also in floating point, where x² rounds to x
    only for x ∈ {0, 1}), and NaN or inf make it non-finite: one sum of ``abs(x - x * x)`` decides.

    Args:
        value: a floating-point tensor (not type-checked: callers check it first).

    Returns:
        True when every entry is 0 or 1.

    Raises:
        AttributeError: ``value`` is not a tensor.
    """
    v = value.detach()
    return float((v - v * v).abs().sum()) == 0.0


def _scalar(value: object) -> object:
    """A 0-d tensor or NumPy scalar as the Python number it holds; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and value.dtype != torch.bool:
        return value.item()
    return value


def _check_real(value: object, name: str) -> float:
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def check_real(value: object, name: str) -> float:
    """Check that ``value`` is a finite real number.

    Args:
        value: a Python, NumPy or 0-d tensor real number.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` as a Python float.

    Raises:
        ValueError: ``value`` is not a real number or is NaN/inf.
    """
    return _check_real(value, name)


def check_positive(value: object, name: str) -> float:
    """Check that ``value`` is a finite real number ``> 0``.

    Args:
        value: a Python, NumPy or 0-d tensor real number.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` as a Python float.

    Raises:
        ValueError: ``value`` is not a real number, is NaN/inf, or is ``≤ 0``.
    """
    number = _check_real(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def check_nonnegative(value: object, name: str) -> float:
    """Check that ``value`` is a finite real number ``≥ 0``.

    Args:
        value: a Python, NumPy or 0-d tensor real number.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` as a Python float.

    Raises:
        ValueError: ``value`` is not a real number, is NaN/inf, or is negative.
    """
    number = _check_real(value, name)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def check_int(value: object, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer (``bool`` excluded) in ``[minimum, maximum]``.

    Args:
        value: a Python int, NumPy integer or 0-d integer tensor.
        name: the argument's name, used in the error message.
        minimum: the smallest allowed value.
        maximum: the largest allowed value, or None for no upper bound.

    Returns:
        ``value`` as a Python int.

    Raises:
        ValueError: ``value`` is not an integer or lies outside the bounds.
    """
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    number = int(value)
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {number}")
    return number


def check_seed(value: object, name: str = "seed") -> int:
    """Check that ``value`` is an integer seed in ``[0, 2**63)`` (torch's seed range).

    Args:
        value: the seed.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` as a Python int.

    Raises:
        ValueError: ``value`` is not an integer in ``[0, 2**63)``.
    """
    return check_int(value, name, minimum=0, maximum=MAX_SEED)


def check_bool(value: object, name: str) -> bool:
    """Check that ``value`` is a ``bool`` (or a NumPy bool): truthy strings and numbers are refused.

    Args:
        value: the flag.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` as a Python bool.

    Raises:
        ValueError: ``value`` is not a bool (for example ``"no"`` or ``1``).
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_generator(value: object, name: str = "generator") -> torch.Generator | None:
    """Check that ``value`` is a ``torch.Generator`` or None.

    Args:
        value: the generator.
        name: the argument's name, used in the error message.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is something else (for example an int seed: use
            ``torch.Generator().manual_seed(seed)``).
    """
    if value is None or isinstance(value, torch.Generator):
        return value
    raise ValueError(
        f"{name} must be a torch.Generator or None, got {value!r}; for a seed s pass "
        "torch.Generator().manual_seed(s)"
    )


def check_scale(
    value: object,
    name: str = "scale",
    *,
    ndim: int | None = None,
    min_ndim: int | None = None,
    last_dim: int | None = None,
) -> torch.Tensor:
    """Check a tensor of Gaussian standard deviations: finite and ``≥`` :data:`MIN_SCALE`.

    Args:
        value: the tensor of standard deviations.
        name: the argument's name, used in the error message.
        ndim: the required number of dimensions, as in :func:`check_tensor`.
        min_ndim: the smallest allowed number of dimensions.
        last_dim: the required size of the last dimension.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not a finite floating-point tensor of the expected shape, or
            has an entry below :data:`MIN_SCALE` (smaller scales make σ² underflow).
    """
    scale = check_tensor(value, name, ndim=ndim, min_ndim=min_ndim, last_dim=last_dim)
    smallest = float(scale.detach().min()) if scale.numel() else MIN_SCALE
    if smallest <= 0:
        raise ValueError(
            f"{name} must be > 0 everywhere (standard deviations), got a minimum of {smallest:g}"
        )
    if smallest < MIN_SCALE * (1 - 1e-6):  # float32 rounds 1e-12 down slightly
        raise ValueError(
            f"{name} must be >= MIN_SCALE = {MIN_SCALE:g} everywhere (smaller standard "
            f"deviations underflow when squared), got a minimum of {smallest:g}"
        )
    return scale


def check_gaussian_q(x: object, loc: object, scale: object) -> None:
    """Check the parameters of a per-example Gaussian q(z | x) = N(loc, diag scale²).

    Args:
        x: the data, a tensor of shape ``(*batch, D)``.
        loc: the means, a tensor of shape ``(*batch, latent_dim)``.
        scale: the standard deviations, the shape of ``loc``, each ``≥`` :data:`MIN_SCALE`.

    Raises:
        ValueError: a tensor that is not finite floating point, a scale below
            :data:`MIN_SCALE`, ``loc`` and ``scale`` of different shapes, or a batch shape of
            ``loc`` other than ``x``'s.
    """
    data = check_tensor(x, "x", min_ndim=1)
    means = check_tensor(loc, "loc", min_ndim=1)
    scales = check_scale(scale, "scale", min_ndim=1)
    if means.shape != scales.shape:
        raise ValueError(
            f"loc and scale must have the same shape, got {means.shape} and {scales.shape}"
        )
    if means.shape[:-1] != data.shape[:-1]:
        raise ValueError(
            f"loc's batch shape {tuple(means.shape[:-1])} must equal x's {tuple(data.shape[:-1])}"
        )


def check_choice(value: object, name: str, choices: Collection[str]) -> str:
    """Check that ``value`` is one of ``choices``.

    Args:
        value: the string to check.
        name: the argument's name, used in the error message.
        choices: the allowed strings.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not one of ``choices``.
    """
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}; got {value!r}")
    return value


def check_reduction(reduction: object) -> Reduction:
    """Check that ``reduction`` is ``"none"``, ``"mean"`` or ``"sum"``.

    Args:
        reduction: the value to check.

    Returns:
        ``reduction`` unchanged.

    Raises:
        ValueError: it is none of the three.
    """
    check_choice(reduction, "reduction", ("none", "mean", "sum"))
    return reduction  # type: ignore[return-value]


def reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Reduce per-example ``values`` over all dimensions: unchanged, mean or sum.

    Args:
        values: per-example values.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        ``values`` (``"none"``) or a 0-d tensor.

    Raises:
        ValueError: ``reduction`` is not one of the three, or a mean is asked of no values.
    """
    check_reduction(reduction)
    if reduction == "mean" and values.numel() == 0:
        raise ValueError("cannot take the mean over an empty batch (x has no examples)")
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
