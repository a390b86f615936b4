"""A sound zero test for expressions built from rational functions and logarithms.

Every ``log(a)`` with ``a > 0`` is rewritten as ``log|c| + Σ_i e_i · L(f_i)`` where
``a = c · Π_i f_i^{e_i}`` is the factorisation of the (rational) argument into irreducible
polynomials and ``L(f) = log|f|`` is a fresh symbol shared by ``f`` and ``-f``.  Because ``a > 0``
this rewrite is an identity on the reals, whatever the signs of the factors.  Rational constants
are split into primes (``log 4 = 2 log 2``).  The result is a rational function of the model's
symbols and the log-atoms; it is zero iff its normal form in the field of rational functions
(``sfield``) is ``0``.

If the test says zero, the identity is *proven* (each rewrite is an equality).  If it does not,
the caller shows the residual and searches a numeric counterexample.
"""

from __future__ import annotations

import sympy
from sympy.polys.fields import sfield

from elbo_book.derive.semantics import expand_loggap

__all__ = ["LogAtoms", "is_zero", "residual"]


class LogAtoms:
    """Maps each irreducible log-argument (up to sign) to one atom symbol."""

    def __init__(self) -> None:
        self._atoms: dict[sympy.Expr, sympy.Symbol] = {}
        self._back: dict[sympy.Symbol, sympy.Expr] = {}
        self._memo: dict[sympy.Expr, sympy.Expr] = {}

    def atom(self, f: sympy.Expr, minus_f: sympy.Expr | None = None) -> sympy.Symbol:
        """``log|f|`` as a symbol; ``f`` and ``-f`` share it (``minus_f``: -f, expanded)."""
        if f.is_Symbol or f.is_Integer or (f.is_number and f.is_positive):
            key = f
        else:
            e = sympy.expand(f) if minus_f is None else f
            m = sympy.expand(-e) if minus_f is None else minus_f
            key = min(e, m, key=sympy.default_sort_key)
        if key not in self._atoms:
            s = sympy.Dummy(f"L{len(self._atoms)}")
            self._atoms[key] = s
            self._back[s] = key
        return self._atoms[key]

    def symbols(self) -> list[sympy.Symbol]:
        """The atom symbols created so far."""
        return list(self._back)

    def restore(self, expr: sympy.Expr) -> sympy.Expr:
        """Replace atoms by ``log(f)`` again (for showing a residual)."""
        return expr.xreplace({s: sympy.log(f) for s, f in self._back.items()})

    def log_of(self, arg: sympy.Expr) -> sympy.Expr:
        """``log(arg)`` for a positive ``arg``, as a linear combination of atoms."""
        if arg.is_Symbol:
            return self.atom(arg)
        if arg not in self._memo:
            self._memo[arg] = self._log_of(arg)
        return self._memo[arg]

    def _log_of(self, arg: sympy.Expr) -> sympy.Expr:
        if arg.is_Mul:
            return sympy.Add(*[self.log_of(a) for a in arg.args])
        if arg.is_Pow and arg.exp.is_number:
            return arg.exp * self.log_of(arg.base)
        if arg.is_Rational:
            return self._log_rational(sympy.Rational(arg))
        if arg.is_number and not arg.free_symbols:
            root = _exact_square_root(arg)
            if root is not None:
                return 2 * self.log_of(root)  # log(3 + 2√2) = 2 log(1 + √2)
            return self.atom(arg)  # an irrational constant such as pi
        ring, frac = sfield(arg)
        if not ring.gens or (frac.numer.is_ground and frac.denom.is_ground):
            value = frac.as_expr()  # the symbols cancelled: a constant
            return self._log_rational(value) if value.is_Rational else self.atom(value)
        out = sympy.Integer(0)
        for poly, sign in ((frac.numer, 1), (frac.denom, -1)):
            coeff, factors = poly.factor_list()
            out += sign * self._log_rational(sympy.Rational(ring.domain.to_sympy(coeff)))
            for fac, e in factors:
                out += sign * e * self.atom(fac.as_expr(), (-fac).as_expr())
        return out

    def _log_rational(self, r: sympy.Rational) -> sympy.Expr:
        r = abs(r)
        out = sympy.Integer(0)
        for prime, e in sympy.factorint(r.p).items():
            out += e * self.atom(sympy.Integer(prime))
        for prime, e in sympy.factorint(r.q).items():
            out -= e * self.atom(sympy.Integer(prime))
        return out

    def linearise(self, expr: sympy.Expr, sub: dict[sympy.Symbol, sympy.Expr]) -> sympy.Expr:
        """Replace every ``log`` in ``expr`` (bottom-up) by its atom combination, applying the
        substitution ``sub`` (normalisation) to the log arguments first."""
        if not expr.has(sympy.log):
            return expr
        if isinstance(expr, sympy.log):
            return self.log_of(self.linearise(expr.args[0], sub).xreplace(sub))
        return expr.func(*[self.linearise(a, sub) for a in expr.args])


def _exact_square_root(a: sympy.Expr) -> sympy.Expr | None:
    """A positive r with r² = a exactly and r simpler than √a (by denesting), or None."""
    if a.is_positive is not True:
        return None
    root = sympy.sqrtdenest(sympy.sqrt(a))
    if root.is_positive is not True or sympy.expand(root**2 - a) != 0:
        return None
    if isinstance(root, sympy.Pow) and root.exp == sympy.Rational(1, 2):
        return None  # not denested: √a itself
    return root


def residual(
    expr: sympy.Expr, sub: dict[sympy.Symbol, sympy.Expr] | None = None
) -> tuple[sympy.Expr, LogAtoms]:
    """The canonical residual of ``expr`` after the substitution ``sub`` (e.g. normalisation):
    a rational function of the symbols and the log-atoms, zero iff ``expr`` is identically zero."""
    sub = sub or {}
    expr = expand_loggap(expr)
    atoms = LogAtoms()
    lin = atoms.linearise(expr, sub).xreplace(sub)
    # Atoms are independent indeterminates: group the expanded terms by their atom monomial and
    # normalise each group's coefficient in the field of rational functions.
    syms = tuple(atoms.symbols())
    groups: dict[sympy.Expr, list[sympy.Expr]] = {}
    for term in sympy.Add.make_args(sympy.expand(lin)):
        coeff, mono = term.as_independent(*syms, as_Add=False) if syms else (term, sympy.S.One)
        groups.setdefault(mono, []).append(coeff)
    out = sympy.Integer(0)
    for mono, coeffs in groups.items():
        _, frac = sfield(sympy.Add(*coeffs))
        if frac != 0:
            out += frac.as_expr() * mono
    return out, atoms


def is_zero(expr: sympy.Expr, sub: dict[sympy.Symbol, sympy.Expr] | None = None) -> bool:
    """True iff ``expr`` is proven identically zero (see the module docstring)."""
    res, _ = residual(expr, sub)
    return res == 0
