"""Fixtures shared by the engine's tests (``tests/test_derive_*.py``, ``tests/test_mutate.py``,
``tests/test_soundness.py``).

The repository's top-level ``conftest.py`` is the nbval plugin for the chapters; this one only
adds fixtures.  Nothing here seeds a global random number generator: the engine draws its
numeric instances from its own seeded ``random.Random``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from elbo_book.derive import KL, Derivation, E, log, p, q, x, z
from elbo_book.derive.indexed_sums import SizeModel, finite_model


def _kl_identity() -> Derivation:
    """log p(x) = KL(q(z|x) ‖ p(z|x)) + E_q[log p(x, z)/q(z|x)], in four labelled steps."""
    qz, post, joint = q(z | x), p(z | x), p(x, z)
    return (
        Derivation("kl_identity_test", log(p(x)))
        .eq(E(qz, log(p(x))), "expectation of a constant", label="const")
        .eq(E(qz, log(joint / post)), "Bayes' rule", label="bayes")
        .eq(
            E(qz, log(qz / post)) + E(qz, log(joint / qz)),
            "multiply by q/q; linearity",
            label="split",
        )
        .eq(KL(qz, post) + E(qz, log(joint / qz)), "definition of KL", label="kl")
    )


@pytest.fixture
def kl_identity() -> Callable[[], Derivation]:
    """A builder of the four-step KL/ELBO identity (a fresh, unchecked chain at each call)."""
    return _kl_identity


@pytest.fixture
def finite() -> SizeModel:
    """The finite semantics read with symbolic sizes (every K and every N)."""
    return finite_model()
