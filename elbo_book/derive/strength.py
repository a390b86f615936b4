"""Typed strengths of a step's verdict.

Every badge a check returns is a :class:`Badge`: the text shown on the page (a ``str``, so it
prints and compares as before) together with its :class:`Strength` and, for proofs in a family
with sizes, whether the proof covers every size.  The report (``python -m elbo_book.verify``) and
a chain's conclusion read these fields, never the text.
"""

from __future__ import annotations

import enum

__all__ = ["Badge", "Sizes", "Strength"]


class Strength(enum.Enum):
    """What a badge certifies (its value is the report's short name)."""

    ALGEBRA = "algebra"  # plain symbols, outside any model
    ANY_SIZE = "any-K"  # indexed sums: every support size (and every N)
    FIXED_SIZES = "finite"  # a finite family at the sizes named on the badge
    GAUSSIAN = "Gaussian"  # the linear-Gaussian family
    GAP = "gap"  # an inequality: the difference is a quantity proved ≥ 0
    JENSEN = "Jensen"  # an inequality: Jensen's gap proved equal and ≥ 0
    NUMERIC = "numeric"  # random instances only: not a proof
    CROSS_CHECK = "cross-check"  # a numeric evaluation after a proof
    ERRATUM = "erratum"  # a step that fails, as expected
    FAILED = "FAILED"


class Sizes(enum.Enum):
    """For a proof in a family with sizes: whether it covers every size."""

    NONE = "none"  # no finite family involved
    ANY = "any"
    FIXED = "fixed"


class Badge(str):
    """A badge's text with its typed :class:`Strength` and :class:`Sizes`."""

    strength: Strength
    sizes: Sizes

    def __new__(cls, text: str, strength: Strength, sizes: Sizes = Sizes.NONE) -> Badge:
        """Build a badge; ``TypeError`` unless ``strength`` and ``sizes`` are the enums."""
        if not isinstance(strength, Strength) or not isinstance(sizes, Sizes):
            raise TypeError("a badge needs a Strength and a Sizes value")
        obj = super().__new__(cls, text)
        obj.strength = strength
        obj.sizes = sizes
        return obj

    def __reduce__(self) -> tuple[type, tuple[str, Strength, Sizes]]:
        return (Badge, (str(self), self.strength, self.sizes))
