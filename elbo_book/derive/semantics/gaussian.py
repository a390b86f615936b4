"""The Gaussian semantics: the one-dimensional linear-Gaussian model.

p(z) = N(μ_0, σ_0²), p(x | z) = N(w z + b, σ_x²), hence p(x) and p(z | x) in closed form, and
q(z | x) = N(μ, σ²) (:class:`Gaussian`).  An expectation over a Gaussian of a polynomial in z
(log-densities of Gaussians are quadratics) is computed exactly from the Gaussian moments
(:func:`gaussian_moment`), which the book proves once by symbolic integration (derivations
``gaussian_moment_0`` … ``gaussian_moment_4``; higher orders by the recursion
:func:`prove_moment_recursion`).  With ``integrate=True`` expectations are instead computed by
``sympy.integrate`` (used to prove the moments themselves).  The model's parameters are terms
(``mu_p``, ``sigma_p``, ``w``, ``b``, ``sigma_x``, ``mu_q``, ``sigma_q``), so that a chapter can
write a closed form in them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import sympy

from elbo_book.derive.semantics.translator import (
    _ALIASES,
    Instance,
    K,
    N,
    Semantics,
    Undefined,
    Unsupported,
    _canon,
    translate_arithmetic,
)
from elbo_book.derive.terms import (
    KL,
    Density,
    Entropy,
    Expect,
    Integral,
    Log,
    LogGap,
    Mul,
    Named,
    Scalar,
    Term,
    Value,
)

__all__ = [
    "MAX_MOMENT",
    "Gaussian",
    "b",
    "gaussian_moment",
    "moment_by_recursion",
    "mu_p",
    "mu_q",
    "prove_moment_recursion",
    "sigma_p",
    "sigma_q",
    "sigma_x",
    "w",
]


def gaussian_moment(j: int, mean: sympy.Expr, var: sympy.Expr) -> sympy.Expr:
    """E[z^j] for z ~ N(mean, var): Σ_{even i ≤ j} C(j, i) mean^{j-i} var^{i/2} (i-1)!!."""
    if j < 0:
        raise ValueError(f"moment order must be ≥ 0, got {j}")
    return sympy.Add(
        *[
            sympy.binomial(j, i) * mean ** (j - i) * var ** (i // 2) * sympy.factorial2(i - 1)
            for i in range(0, j + 1, 2)
        ]
    )


_Z, _M, _S = (
    sympy.Dummy("z", real=True),
    sympy.Dummy("m", real=True),
    sympy.Dummy("s", positive=True),
)


@functools.cache
def _integrated_moment(j: int) -> sympy.Expr:
    """∫ z^j N(z; m, s) dz by ``sympy.integrate``, for symbolic m (real) and s > 0 (a variance);
    substituting any real mean and positive variance afterwards is valid.  (Memoised within one
    process: it is a pure function of j.)"""
    pdf = sympy.exp(-((_Z - _M) ** 2) / (2 * _S)) / sympy.sqrt(2 * sympy.pi * _S)
    return sympy.integrate(_Z**j * pdf, (_Z, -sympy.oo, sympy.oo))


#: The highest moment order proven by integration (``gaussian_moment_0`` … ``gaussian_moment_4``).
MAX_MOMENT = 4


@functools.cache
def prove_moment_recursion() -> str:
    """Prove E[z^{j+1}] = m E[z^j] + j s E[z^{j−1}] for z ~ N(m, s) and *every* integer j ≥ 1
    (j a symbol): the density satisfies d/dz N(z) = −(z − m)/s · N(z), and z^j N(z) → 0 at ±∞,
    so integrating by parts, E[(z − m) z^j] = −s ∫ z^j dN = s j E[z^{j−1}].  With the moments of
    order 0 and 1 proven by integration, this gives every moment (:func:`moment_by_recursion`).
    Raises :class:`~elbo_book.derive.semantics.translator.Undefined` if SymPy does not confirm a
    step."""
    j = sympy.Symbol("j", integer=True, positive=True)
    pdf = sympy.exp(-((_Z - _M) ** 2) / (2 * _S)) / sympy.sqrt(2 * sympy.pi * _S)
    slope = sympy.simplify(sympy.diff(pdf, _Z) + (_Z - _M) / _S * pdf)
    ends = [sympy.limit(_Z**j * pdf, _Z, end) for end in (sympy.oo, -sympy.oo)]
    if slope != 0 or ends != [0, 0]:
        raise Undefined("the integration-by-parts proof of the moment recursion did not go through")
    return "E[z^{j+1}] = μ E[z^j] + j σ² E[z^{j−1}] (integration by parts, every j)"


def moment_by_recursion(j: int, mean: sympy.Expr, var: sympy.Expr) -> sympy.Expr:
    """E[z^j] for z ~ N(mean, var) from E[z^0] = 1, E[z^1] = mean and the recursion proven by
    :func:`prove_moment_recursion` (for any order j ≥ 0)."""
    if j < 0:
        raise ValueError(f"moment order must be ≥ 0, got {j}")
    prove_moment_recursion()
    low, high = sympy.Integer(1), mean
    if j == 0:
        return low
    for i in range(1, j):
        low, high = high, sympy.expand(mean * high + i * var * low)
    return high


# Parameters of the Gaussian model, as terms (so that chapters can write closed forms).
#: The prior's mean μ₀.
mu_p = Scalar("mu_p", r"\mu_0", positive=False)
#: The prior's standard deviation σ₀.
sigma_p = Scalar("sigma_p", r"\sigma_0")
#: The likelihood's slope w (the mean of x given z is w z + b).
w = Scalar("w", "w", positive=False)
#: The likelihood's offset b.
b = Scalar("b", "b", positive=False)
#: The likelihood's standard deviation σₓ.
sigma_x = Scalar("sigma_x", r"\sigma_x")
#: The encoder's mean μ.
mu_q = Scalar("mu_q", r"\mu", positive=False)
#: The encoder's standard deviation σ.
sigma_q = Scalar("sigma_q", r"\sigma")
_PARAMETERS = (mu_p, sigma_p, w, b, sigma_x, mu_q, sigma_q)
_SHOWN = {
    "mu_p": "μ₀",
    "sigma_p": "σ₀",
    "w": "w",
    "b": "b",
    "sigma_x": "σₓ",
    "mu_q": "μ",
    "sigma_q": "σ",
}


class Gaussian(Semantics):
    """The one-dimensional linear-Gaussian model (see module docstring).  ``fix`` pins
    parameters, e.g. ``{"mu_p": 0, "sigma_p": 1}`` for a standard normal prior."""

    name = "gaussian"

    def __init__(self, fix: dict[str, int] | None = None, integrate: bool = False) -> None:
        self.fix = dict(fix or {})
        known = {v.name for v in _PARAMETERS}
        bad = set(self.fix) - known
        if bad:
            raise ValueError(f"unknown Gaussian parameters {sorted(bad)}; known: {sorted(known)}")
        self.integrate = integrate
        self.z = sympy.Symbol("z", real=True)
        self.x = sympy.Symbol("x", real=True)

    def _par(self, v: Scalar) -> sympy.Expr:
        return sympy.Integer(self.fix[v.name]) if v.name in self.fix else v.sympy()

    def _gauss(self, d: Density) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """(variable, mean, variance) of a Gaussian density, or Unsupported."""
        m0, s0 = self._par(mu_p), self._par(sigma_p)
        ww, bb, sx = self._par(w), self._par(b), self._par(sigma_x)
        vs, gs = _canon(d.vars), _canon(d.given)
        post_var = 1 / (1 / s0**2 + ww**2 / sx**2)
        post_mean = post_var * (m0 / s0**2 + ww * (self.x - bb) / sx**2)
        table = {
            ("p", frozenset({"z"}), frozenset()): (self.z, m0, s0**2),
            ("p", frozenset({"x"}), frozenset({"z"})): (self.x, ww * self.z + bb, sx**2),
            ("p", frozenset({"x"}), frozenset()): (self.x, ww * m0 + bb, ww**2 * s0**2 + sx**2),
            ("p", frozenset({"z"}), frozenset({"x"})): (self.z, post_mean, post_var),
            ("q", frozenset({"z"}), frozenset({"x"})): (
                self.z,
                self._par(mu_q),
                self._par(sigma_q) ** 2,
            ),
        }
        key = (d.family, vs, gs)
        if key not in table:
            raise Unsupported(f"{d.text()} is not a Gaussian of the linear-Gaussian model")
        return table[key]

    def _pdf(self, d: Density) -> sympy.Expr:
        if _canon(d.vars) == frozenset({"x", "z"}) and d.family == "p" and not d.given:
            return self._pdf(Density("p", ("z",))) * self._pdf(Density("p", ("x",), ("z",)))
        v, mean, var = self._gauss(d)
        return sympy.exp(-((v - mean) ** 2) / (2 * var)) / sympy.sqrt(2 * sympy.pi * var)

    def _expect(self, d: Density, body: sympy.Expr) -> sympy.Expr:
        v, mean, var = self._gauss(d)
        if v != self.z:
            raise Unsupported("expectations are over z only")
        poly = sympy.expand(body)
        if not poly.is_polynomial(v):
            raise Unsupported("the integrand is not a polynomial in z (after expanding logs)")
        if self.integrate:
            return sympy.Add(
                *[
                    c * _integrated_moment(j).subs({_M: mean, _S: var})
                    for (j,), c in sympy.Poly(poly, v).terms()
                ]
            )
        P = sympy.Poly(poly, v)
        return sympy.Add(
            *[
                c
                * (
                    gaussian_moment(j, mean, var)
                    if j <= MAX_MOMENT
                    else moment_by_recursion(j, mean, var)
                )
                for (j,), c in P.terms()
            ]
        )

    def tr(self, t: Term) -> sympy.Expr:
        """The SymPy value of ``t`` in this family (fixed parameters substituted)."""
        if isinstance(t, LogGap):
            # written out: expectations are computed for polynomials in z only
            return self.tr(t.definition())
        arithmetic = translate_arithmetic(t, self.tr)
        if arithmetic is not None:
            return arithmetic
        if t == N:
            raise Unsupported("the Gaussian semantics has no data index")
        if t == K:
            raise Unsupported("the Gaussian semantics has no finite support size")
        if isinstance(t, Scalar):
            return self._par(t)
        if isinstance(t, Value):
            return {"z": self.z, "x": self.x}[t.name]
        if isinstance(t, Density):
            return self._pdf(t)
        if isinstance(t, Log):
            arg = self.tr(t.arg)
            if arg.is_positive is not True:
                raise Undefined(f"log of a quantity not known to be positive: log({t.arg.text()})")
            return sympy.expand_log(sympy.log(arg), force=True)
        if isinstance(t, Expect):
            return self._expect(t.dist, self.tr(t.body))
        if isinstance(t, Integral):
            dens = [f for f in (t.body.factors if isinstance(t.body, Mul) else (t.body,))]
            for i, f in enumerate(dens):
                if isinstance(f, Density) and _canon(f.vars) == {_ALIASES.get(t.var, t.var)}:
                    rest = dens[:i] + dens[i + 1 :]
                    body = self.tr(Mul(tuple(rest))) if rest else sympy.Integer(1)
                    return self._expect(f, body)
            raise Unsupported("an integral needs a Gaussian density factor over z")
        if isinstance(t, KL):
            return self.tr(t.definition())
        if isinstance(t, Entropy):
            return self.tr(t.definition())
        if isinstance(t, Named):
            return self.tr(t.definition())
        raise Unsupported(f"the Gaussian semantics has no rule for {type(t).__name__}")

    def instances(self, terms: list[Term]) -> Iterator[Instance]:
        def sample(rnd: Callable[[], float]) -> dict[sympy.Symbol, float]:
            out: dict[sympy.Symbol, float] = {self.x: 4 * rnd() - 2}
            for v in (mu_p, sigma_p, w, b, sigma_x, mu_q, sigma_q):
                s = v.sympy()
                out[s] = (0.3 + 2 * rnd()) if v.positive else (4 * rnd() - 2)
            return out

        label = "Gaussian (integration)" if self.integrate else "Gaussian"
        yield Instance(label, self.tr, {}, sample)

    def describe(self, terms: list[Term] | None = None) -> str:
        fixed = ", ".join(
            f"{_SHOWN[v.name]}={self.fix[v.name]}" for v in _PARAMETERS if v.name in self.fix
        )
        return (
            "Gaussian family" + (f", fixed {fixed}" if fixed else "") + (" (symbolic integration)")
        )

    def badge(self, terms: list[Term]) -> str:
        return f"✓ {self.describe(terms)}"

    def covers(self, other: Semantics) -> bool:
        """A Gaussian semantics covers one that fixes at least the same parameters alike."""
        return isinstance(other, Gaussian) and all(
            other.fix.get(k) == v for k, v in self.fix.items()
        )
