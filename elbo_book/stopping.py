"""Convergence: stop training when a held-out objective has stopped improving.

For held-out values v_1, …, v_t (one per epoch, higher is better: the held-out value of the
trained objective, the ELBO or a β-objective) and a window w, the improvement of the last w
epochs over everything before them is

    Δ_t = max(v_{t−w+1}, …, v_t) − max(v_1, …, v_{t−w}),        defined for t > w,

and training has *converged* at the first epoch t with Δ_t < δ (the threshold, in nats per
example): in w epochs the held-out objective did not beat its earlier best by δ.  A sequence
that keeps rising by at least δ every w epochs never converges; a constant one converges at
t = w + 1.  A non-finite value in either part makes Δ_t non-finite, which counts as "not
converged" (the NaN guard of the training step reports broken runs; the epoch budget bounds the
rest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from elbo_book.validation import check_int, check_positive

__all__ = ["Convergence"]


@dataclass(frozen=True)
class Convergence:
    """Stop when the best held-out value of the last ``window`` epochs beats the best before
    them by less than ``threshold`` (nats per example); see the module docstring for Δ_t.

    Args:
        window: w ≥ 1, the number of epochs without an improvement of ``threshold``.
        threshold: δ > 0 in the objective's units (nats per example for an ELBO).

    Raises:
        ValueError: ``window`` not an int ≥ 1 or ``threshold`` not finite and > 0.
    """

    window: int = 10
    threshold: float = 0.01

    def __post_init__(self) -> None:
        check_int(self.window, "window")
        check_positive(self.threshold, "threshold")

    def improvement(self, values: Sequence[float]) -> float | None:
        """Δ_t for ``values`` = (v_1, …, v_t); ``None`` while t ≤ ``window``.

        Args:
            values: held-out objective per epoch so far, higher is better.

        Returns:
            max of the last ``window`` values minus the max of the earlier ones (NaN if any
            value is not finite), or ``None``.
        """
        if len(values) <= self.window:
            return None
        if not all(math.isfinite(v) for v in values):
            return math.nan  # Python's max would skip a NaN or not, depending on its position
        return max(values[-self.window :]) - max(values[: -self.window])

    def converged(self, values: Sequence[float]) -> bool:
        """Whether Δ_t < δ (False while t ≤ ``window`` or when Δ_t is not finite).

        Args:
            values: held-out objective per epoch so far, higher is better.

        Returns:
            True when training should stop.
        """
        delta = self.improvement(values)
        return delta is not None and math.isfinite(delta) and delta < self.threshold

    def describe(self, values: Sequence[float]) -> str:
        """A sentence saying how the rule stands for ``values`` (for a history's stop note)."""
        delta = self.improvement(values)
        if delta is None:
            return f"fewer than {self.window + 1} held-out evaluations: convergence not tested"
        verdict = "<" if self.converged(values) else "≥ (or not finite)"
        return (
            f"held-out objective improved by {delta:.4g} {verdict} {self.threshold:g} over the "
            f"last {self.window} epochs (epoch {len(values)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"window": w, "threshold": δ}`` (for cache keys and checkpoints' metadata)."""
        return asdict(self)
