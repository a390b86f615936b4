"""Multi-seed summaries: mean, standard error and a confidence interval, printed as "x ± y".

For n ≥ 2 values v_1, …, v_n of one per-model scalar (a test ELBO, a MIG score…) from runs that
differ only in their seed,

    mean  v̄ = (1/n) Σ_i v_i,
    s²    = (1/(n−1)) Σ_i (v_i − v̄)²                     (unbiased sample variance),
    SE    = s / √n                                      (standard error of the mean),
    CI    = v̄ ± t_{n−1, (1+c)/2} · SE                   (Student-t interval, level c),

the interval being exact when the values are independent draws of a normal variable and a
reasonable approximation otherwise; with few seeds it is much wider than v̄ ± 2 SE (for n = 5
and c = 0.95 the t quantile is 2.78).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from scipy import stats

__all__ = ["Summary", "summarize", "summarize_groups"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Summary:
    """Mean, standard error and Student-t confidence interval of ``n`` values."""

    n: int
    mean: float
    sem: float
    ci_low: float
    ci_high: float
    confidence: float

    @property
    def half_width(self) -> float:
        """Half the confidence interval's length, t_{n−1,(1+c)/2} · SE."""
        return (self.ci_high - self.ci_low) / 2

    def pm(self, digits: int | None = None, *, spread: str = "sem") -> str:
        """``"x ± y"`` with y the standard error (``spread="sem"``) or the interval's half-width
        (``spread="ci"``).

        Args:
            digits: decimals for both numbers; None rounds y to two significant digits and x to
                the same decimal place (y = 0 then shows four decimals).
            spread: ``"sem"`` or ``"ci"``.

        Returns:
            e.g. ``"-93.41 ± 0.27"``.

        Raises:
            ValueError: another ``spread`` or a negative ``digits``.
        """
        if spread not in ("sem", "ci"):
            raise ValueError(f"spread must be 'sem' or 'ci', got {spread!r}")
        y = self.sem if spread == "sem" else self.half_width
        if digits is None:
            digits = 4 if y == 0 else max(0, 1 - math.floor(math.log10(y)))
        elif digits < 0:
            raise ValueError(f"digits must be >= 0, got {digits!r}")
        return f"{self.mean:.{digits}f} ± {y:.{digits}f}"

    def glue_items(self, name: str, digits: int | None = None) -> dict[str, float | int | str]:
        """What a chapter glues for this summary: ``name`` ("x ± SE", see :meth:`pm`), and
        ``name_mean``, ``name_sem``, ``name_ci_low``, ``name_ci_high``, ``name_n``.

        Args:
            name: the glue name's stem.
            digits: as for :meth:`pm`.

        Returns:
            glue name → value.
        """
        return {
            name: self.pm(digits),
            f"{name}_mean": self.mean,
            f"{name}_sem": self.sem,
            f"{name}_ci_low": self.ci_low,
            f"{name}_ci_high": self.ci_high,
            f"{name}_n": self.n,
        }


def summarize(values: Iterable[float], *, confidence: float = 0.95) -> Summary:
    """The :class:`Summary` of ``values`` (see the module docstring for the formulas).

    Args:
        values: n ≥ 2 finite numbers (e.g. one per seed).
        confidence: the interval's level c in (0, 1).

    Returns:
        the summary.

    Raises:
        ValueError: fewer than two values, a non-finite value, or c outside (0, 1).
    """
    data = [float(v) for v in values]
    if len(data) < 2:
        raise ValueError(f"a standard error needs at least 2 values (seeds), got {len(data)}")
    if not all(math.isfinite(v) for v in data):
        raise ValueError(f"values must be finite, got {data}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    n = len(data)
    mean = math.fsum(data) / n
    variance = math.fsum((v - mean) ** 2 for v in data) / (n - 1)
    sem = math.sqrt(variance / n)
    t = float(stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1))
    return Summary(n, mean, sem, mean - t * sem, mean + t * sem, confidence)


def summarize_groups(
    pairs: Iterable[tuple[K, float]], *, confidence: float = 0.95
) -> dict[K, Summary]:
    """One summary per group, groups in order of first appearance.

    Args:
        pairs: (group, value) pairs, e.g. ``((beta, run.history.test_elbo[-1]) for …)``.
        confidence: as for :func:`summarize`.

    Returns:
        group → summary of its values.

    Raises:
        ValueError: a group with fewer than two values (and as :func:`summarize`).
    """
    groups: dict[K, list[float]] = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    return {key: _summarize_group(key, vs, confidence) for key, vs in groups.items()}


def _summarize_group(key: Hashable, values: Sequence[float], confidence: float) -> Summary:
    try:
        return summarize(values, confidence=confidence)
    except ValueError as error:
        raise ValueError(f"group {key!r}: {error}") from error
