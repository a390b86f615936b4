"""``elbo_book.derive.zero_test``: the zero test for rational functions with logarithms."""

from __future__ import annotations

import sympy

from elbo_book.derive.zero_test import is_zero, residual


def test_zero_test_proves_log_rules_and_rejects_product_of_logs() -> None:
    a, b = sympy.symbols("a b", positive=True)
    assert is_zero(sympy.log(a * b) - sympy.log(a) - sympy.log(b))
    assert is_zero(sympy.log(a / b) + sympy.log(b / a))
    assert is_zero(sympy.log(sympy.Integer(8)) - 3 * sympy.log(2))
    assert is_zero(sympy.log((a + b) / 2) - sympy.log(a / 2 + b / 2))
    assert not is_zero(sympy.log(a * b) - sympy.log(a) * sympy.log(b))
    assert not is_zero(sympy.log(a + b) - sympy.log(a) - sympy.log(b))


def test_substitution_is_applied_inside_logarithms() -> None:
    a, b = sympy.symbols("a b", positive=True)
    assert not is_zero(sympy.log(a) + sympy.log(1 - a))
    assert is_zero(sympy.log(a) - sympy.log(1 - b), {b: 1 - a})  # normalisation a + b = 1


def test_residual_keeps_what_does_not_cancel() -> None:
    a, b = sympy.symbols("a b", positive=True)
    res, atoms = residual(sympy.log(a * b) - sympy.log(a))
    assert res != 0
    assert sympy.simplify(atoms.restore(res) - sympy.log(b)) == 0
