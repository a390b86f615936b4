"""``elbo_book.derive.terms``: the language of derivations."""

from __future__ import annotations

import pytest

from elbo_book.derive import ELBO, KL, E, Entropy, Named, Scalar, log, p, q, x, z
from elbo_book.derive.terms import MutualInfo, RandomVariable, n


def test_mutual_info_takes_the_exported_random_variables() -> None:
    """Issue 16: MutualInfo(q(n, z), n, z) with the RandomVariable objects failed only at
    verify time."""
    joint = q(n, z)
    assert MutualInfo(joint, n, z) == MutualInfo(joint, "n", "z")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MutualInfo u"):
        MutualInfo(joint, 3, "z")  # type: ignore[arg-type]


def test_every_defined_node_states_its_definition_by_one_method() -> None:
    qz, post = q(z | x), p(z | x)
    assert KL(qz, post).definition() == E(qz, log(qz / post))
    assert Entropy(qz).definition() == -E(qz, log(qz))
    assert ELBO.definition() == E(qz, log(p(x, z) / qz))
    assert ELBO.children() == (ELBO.definition(),)


def test_a_symbol_keeps_its_one_definition() -> None:
    with pytest.raises(ValueError, match="already defined"):
        Named(ELBO.tex, ELBO.label, E(q(z | x), log(p(x, z))))
    assert Named(ELBO.tex, ELBO.label, ELBO.definition()) == ELBO


def test_scalars_and_random_variables_are_different_things() -> None:
    beta = Scalar("beta", r"\beta")
    assert (beta * ELBO).text() == "beta · ELBO(x; θ, φ)"
    assert beta.sympy().is_positive and Scalar("mu", positive=False).sympy().is_positive is None
    assert isinstance(z, RandomVariable) and (z | x).given == (x,)
    with pytest.raises(ValueError, match="cannot make a term"):
        beta * z  # type: ignore[operator]
