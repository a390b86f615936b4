"""The probabilistic expression language in which derivations are written.

A term is a small immutable tree: densities ``p(x, z)``, ``q(z | x)``; arithmetic (``+``, ``-``,
``*``, ``/``, ``**``); ``log``; expectations ``E(q(z | x), f)``; integrals ``Integral(f, z)``; sums
over the data index ``SumN(f)`` = Σ_{n=1}^{N} f; and the information quantities ``KL(a, b)``,
``Entropy(a)``, ``MutualInfo(q(n, z), n, z)``.  ``Named`` gives a defined quantity (the ELBO) its
own symbol while keeping its definition for checking.

Terms keep exactly the shape in which they were written: nothing is simplified on construction,
so ``q * (p / q)`` prints as written.  (This is why the language is a tree of its own rather than
SymPy expressions, which cancel and reorder on construction.)  Meaning is given by the
*semantics* in :mod:`elbo_book.derive.semantics` (finite supports, Gaussians), which
translate a term into a SymPy expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sympy

__all__ = [
    "ELBO",
    "KL",
    "Add",
    "Density",
    "Div",
    "E",
    "Entropy",
    "Expect",
    "Given",
    "Integral",
    "Log",
    "LogGap",
    "Mul",
    "MutualInfo",
    "Named",
    "Neg",
    "Num",
    "Pi",
    "Pow",
    "RandomVariable",
    "Scalar",
    "SumN",
    "Term",
    "Value",
    "as_term",
    "log",
    "n",
    "p",
    "q",
    "walk",
    "x",
    "x_n",
    "z",
    "z_n",
]

_FAMILY_SUB = {"p": r"\theta", "q": r"\phi"}
_FAMILY_TEXT_SUB = {"p": "θ", "q": "φ"}


class Term:
    """Base class of all terms.  Subclasses are frozen dataclasses."""

    prec: int = 9  # binding strength for parenthesisation

    # --- tree structure -------------------------------------------------------------------
    def children(self) -> tuple[Term, ...]:
        """Sub-terms (used by traversal and mutation)."""
        return ()

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        """The same node with new children (same order as :meth:`children`)."""
        return self

    # --- printing -------------------------------------------------------------------------
    def latex(self) -> str:
        """Plain LaTeX (no book macros)."""
        raise NotImplementedError

    def text(self) -> str:
        """Unicode text, for ``text/plain`` displays and error messages."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    # --- arithmetic builders ----------------------------------------------------------------
    def __add__(self, other: object) -> Term:
        return Add(_flat(Add, (self, as_term(other))))

    def __radd__(self, other: object) -> Term:
        return Add(_flat(Add, (as_term(other), self)))

    def __sub__(self, other: object) -> Term:
        return Add(_flat(Add, (self, Neg(as_term(other)))))

    def __rsub__(self, other: object) -> Term:
        return Add(_flat(Add, (as_term(other), Neg(self))))

    def __mul__(self, other: object) -> Term:
        return Mul(_flat(Mul, (self, as_term(other))))

    def __rmul__(self, other: object) -> Term:
        return Mul(_flat(Mul, (as_term(other), self)))

    def __truediv__(self, other: object) -> Term:
        return Div(self, as_term(other))

    def __rtruediv__(self, other: object) -> Term:
        return Div(as_term(other), self)

    def __neg__(self) -> Term:
        return Neg(self)

    def __pow__(self, other: object) -> Term:
        return Pow(self, as_term(other))


def _flat(cls: type, items: tuple[Term, ...]) -> tuple[Term, ...]:
    out: list[Term] = []
    for item in items:
        if isinstance(item, cls):
            out.extend(item.children())
        else:
            out.append(item)
    return tuple(out)


def as_term(value: object) -> Term:
    """Coerce an int, a SymPy rational or a term into a term (floats are refused: exact only)."""
    if isinstance(value, Term):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"terms are exact: got {value!r}; use an int or sympy.Rational")
    if isinstance(value, int | sympy.Rational):
        return Num(sympy.Rational(value))
    raise ValueError(f"cannot make a term from {value!r} (expected a Term, int or sympy.Rational)")


def _paren(t: Term, prec: int, latex: bool) -> str:
    s = t.latex() if latex else t.text()
    if t.prec < prec:
        return rf"\left({s}\right)" if latex else f"({s})"
    return s


# ---------------------------------------------------------------------------------------------
# Random variables and densities
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Given:
    """``a | b``: the variables before and after the bar (built by ``RandomVariable.__or__``)."""

    vars: tuple[RandomVariable, ...]
    given: tuple[RandomVariable, ...]


@dataclass(frozen=True)
class RandomVariable:
    """A random variable, by name: ``x`` (one data point), ``z`` (latent), ``n`` (data index),
    ``x_n`` (the n-th data point), ``z_n`` (the latent of the n-th point).

    Not a term: it appears only as an argument of a density (``q(z | x)``) or a binder (``E``,
    ``Integral``, ``MutualInfo``).  A number that takes part in arithmetic is a :class:`Scalar`;
    the value of z in the Gaussian semantics is a :class:`Value`."""

    name: str

    def __or__(self, other: RandomVariable | tuple[RandomVariable, ...]) -> Given:
        given = other if isinstance(other, tuple) else (other,)
        return Given((self,), given)

    def latex(self) -> str:
        return self.name

    def text(self) -> str:
        return self.name


#: The observed x, the latent z, the data index n, and the n-th point's x_n and latent z_n.
x, z, n, x_n, z_n = (
    RandomVariable("x"),
    RandomVariable("z"),
    RandomVariable("n"),
    RandomVariable("x_n"),
    RandomVariable("z_n"),
)


@dataclass(frozen=True)
class Density(Term):
    """A density (or mass function) ``family(vars | given)``, e.g. ``p(x, z)``, ``q(z | x)``.

    ``family`` is ``"p"`` (the model, parameters θ) or ``"q"`` (the variational family, φ).
    """

    family: str
    vars: tuple[str, ...]
    given: tuple[str, ...] = ()
    sub: bool = True  # print the parameter subscript θ / φ

    def __post_init__(self) -> None:
        if self.family not in ("p", "q"):
            raise ValueError(f"density family must be 'p' or 'q', got {self.family!r}")
        if not self.vars:
            raise ValueError("a density needs at least one variable")

    def latex(self) -> str:
        head = f"{self.family}_{{{_FAMILY_SUB[self.family]}}}" if self.sub else self.family
        inner = ", ".join(self.vars)
        if self.given:
            inner += r" \mid " + ", ".join(self.given)
        return f"{head}({inner})"

    def text(self) -> str:
        head = self.family + (_FAMILY_TEXT_SUB[self.family] if self.sub else "")
        inner = ", ".join(self.vars)
        if self.given:
            inner += " | " + ", ".join(self.given)
        return f"{head}({inner})"

    def swapped_family(self) -> Density:
        """The same density under the other family (p ↔ q)."""
        return Density("q" if self.family == "p" else "p", self.vars, self.given, self.sub)


def _density(family: str, args: tuple[RandomVariable | Given, ...], sub: bool) -> Density:
    vars_: list[str] = []
    given: list[str] = []
    for a in args:
        if isinstance(a, Given):
            if given:
                raise ValueError("only one '|' is allowed in a density")
            vars_.extend(v.name for v in a.vars)
            given.extend(g.name for g in a.given)
        elif isinstance(a, RandomVariable):
            if given:
                raise ValueError("variables after the '|' must be on its right-hand side")
            vars_.append(a.name)
        else:
            raise ValueError(f"density arguments are random variables (x, z, n, …), got {a!r}")
    return Density(family, tuple(vars_), tuple(given), sub)


def p(*args: RandomVariable | Given, sub: bool = True) -> Density:
    """Model density: ``p(x, z)``, ``p(z | x)``, ``p(x | z)``, ``p(z)``, ``p(x)``, …"""
    return _density("p", args, sub)


def q(*args: RandomVariable | Given, sub: bool = True) -> Density:
    """Variational density: ``q(z | x)``, aggregate ``q(z)``, ``q(n | z)``, ``q(n, z)``, …"""
    return _density("q", args, sub)


# ---------------------------------------------------------------------------------------------
# Numbers, symbols, arithmetic
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Num(Term):
    """An exact rational number."""

    value: sympy.Rational

    def __post_init__(self) -> None:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | sympy.Rational):
            raise ValueError(f"Num takes an int or sympy.Rational, got {v!r}")
        object.__setattr__(self, "value", sympy.Rational(v))

    @property
    def prec(self) -> int:  # type: ignore[override]
        return 9 if self.value >= 0 and self.value.q == 1 else 4

    def latex(self) -> str:
        v = self.value
        if v.q == 1:
            return str(v.p)
        sign = "-" if v < 0 else ""
        return rf"{sign}\frac{{{abs(v.p)}}}{{{v.q}}}"

    def text(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Scalar(Term):
    """A scalar symbol: a number that is not random (a weight ``β``, a size ``N``, a Gaussian
    parameter μ), positive unless declared otherwise.  Random variables are
    :class:`RandomVariable` names inside densities."""

    name: str
    tex: str = ""
    positive: bool = True

    def latex(self) -> str:
        return self.tex or self.name

    def text(self) -> str:
        return self.name

    def sympy(self) -> sympy.Symbol:
        """The SymPy symbol (positive unless declared real)."""
        if self.positive:
            return sympy.Symbol(self.name, positive=True)
        return sympy.Symbol(self.name, real=True)


@dataclass(frozen=True)
class Pi(Term):
    """The constant π."""

    def latex(self) -> str:
        return r"\pi"

    def text(self) -> str:
        return "π"


@dataclass(frozen=True)
class Value(Term):
    """The value of a real-valued random variable (``z`` or ``x`` in the Gaussian model)."""

    name: str

    def latex(self) -> str:
        return self.name

    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class Add(Term):
    """A sum a + b + … of ``terms``."""

    terms: tuple[Term, ...]
    prec = 1

    def children(self) -> tuple[Term, ...]:
        return self.terms

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Add(children)

    def _fmt(self, latex: bool) -> str:
        out = ""
        for i, t in enumerate(self.terms):
            if i and isinstance(t, Neg):
                out += " - " + _paren(t.arg, 2, latex)
            elif i and isinstance(t, Num) and t.value < 0:
                out += " - " + (Num(-t.value).latex() if latex else Num(-t.value).text())
            else:
                s = _paren(t, 1, latex)
                out += (" + " if i else "") + s
        return out

    def latex(self) -> str:
        return self._fmt(True)

    def text(self) -> str:
        return self._fmt(False)


@dataclass(frozen=True)
class Neg(Term):
    """A negation −a."""

    arg: Term
    prec = 2

    def children(self) -> tuple[Term, ...]:
        return (self.arg,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Neg(children[0])

    def latex(self) -> str:
        return "-" + _paren(self.arg, 3, True)

    def text(self) -> str:
        return "-" + _paren(self.arg, 3, False)


@dataclass(frozen=True)
class Mul(Term):
    """A product a · b · … of ``factors``."""

    factors: tuple[Term, ...]
    prec = 3

    def children(self) -> tuple[Term, ...]:
        return self.factors

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Mul(children)

    def latex(self) -> str:
        parts: list[str] = []
        for i, f in enumerate(self.factors):
            last = i == len(self.factors) - 1
            if isinstance(f, Log) and not last:
                parts.append(rf"\log\left({f.arg.latex()}\right)")
            elif isinstance(f, SumN | Integral) and not last:
                parts.append(rf"\left({f.latex()}\right)")
            else:
                parts.append(_paren(f, 4 if i else 3, True))
        out = parts[0]
        for cur, s in zip(self.factors[1:], parts[1:], strict=True):
            out += (r" \cdot " if isinstance(cur, Num) else r" \, ") + s
        return out

    def text(self) -> str:
        parts: list[str] = []
        for i, f in enumerate(self.factors):
            last = i == len(self.factors) - 1
            if isinstance(f, Log | SumN | Integral) and not last:
                parts.append(f"({f.text()})")
            else:
                parts.append(_paren(f, 4 if i else 3, False))
        return " · ".join(parts)


@dataclass(frozen=True)
class Div(Term):
    """A quotient ``num`` / ``den``."""

    num: Term
    den: Term
    prec = 8

    def children(self) -> tuple[Term, ...]:
        return (self.num, self.den)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Div(children[0], children[1])

    def latex(self) -> str:
        return rf"\frac{{{self.num.latex()}}}{{{self.den.latex()}}}"

    def text(self) -> str:
        return f"{_paren(self.num, 4, False)} / {_paren(self.den, 5, False)}"


@dataclass(frozen=True)
class Pow(Term):
    """A power ``base`` ^ ``exp``."""

    base: Term
    exp: Term
    prec = 6

    def children(self) -> tuple[Term, ...]:
        return (self.base, self.exp)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Pow(children[0], children[1])

    def latex(self) -> str:
        return f"{_paren(self.base, 9, True)}^{{{self.exp.latex()}}}"

    def text(self) -> str:
        return f"{_paren(self.base, 9, False)}^{_paren(self.exp, 9, False)}"


@dataclass(frozen=True)
class Log(Term):
    """Natural logarithm."""

    arg: Term
    prec = 5

    def children(self) -> tuple[Term, ...]:
        return (self.arg,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Log(children[0])

    def latex(self) -> str:
        a = self.arg
        if isinstance(a, Density | Scalar | Div | Integral | Expect | SumN | Named) or (
            isinstance(a, Num) and a.prec == 9
        ):
            return rf"\log {a.latex()}"
        return rf"\log\left({a.latex()}\right)"

    def text(self) -> str:
        a = self.arg
        if isinstance(a, Density | Scalar | Expect | Named | Num):
            return f"log {a.text()}"
        return f"log({a.text()})"


def log(arg: object) -> Log:
    """``log(arg)`` as a term."""
    return Log(as_term(arg))


# ---------------------------------------------------------------------------------------------
# Expectations, integrals, sums, information quantities
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expect(Term):
    """``E_{dist}[body]``: expectation over the variables of ``dist``."""

    dist: Density
    body: Term

    def children(self) -> tuple[Term, ...]:
        return (self.dist, self.body)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        d = children[0]
        if not isinstance(d, Density):
            raise ValueError("the distribution of an expectation must be a density")
        return Expect(d, children[1])

    def latex(self) -> str:
        return rf"\mathbb{{E}}_{{{self.dist.latex()}}}\left[{self.body.latex()}\right]"

    def text(self) -> str:
        return f"E_{self.dist.text()}[{self.body.text()}]"


#: Short name for :class:`Expect`, as the derivations write E_q[...].
E = Expect


@dataclass(frozen=True)
class Integral(Term):
    """``∫ body d var`` (a sum over the support in the finite semantics)."""

    body: Term
    var: str
    prec = 0

    def children(self) -> tuple[Term, ...]:
        return (self.body,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Integral(children[0], self.var)

    def latex(self) -> str:
        return rf"\int {_paren(self.body, 3, True)} \,\mathrm{{d}}{self.var}"

    def text(self) -> str:
        return f"∫ {_paren(self.body, 3, False)} d{self.var}"


@dataclass(frozen=True)
class SumN(Term):
    """``Σ_{n=1}^{N} body``: a sum over the data index n."""

    body: Term
    prec = 4

    def children(self) -> tuple[Term, ...]:
        return (self.body,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return SumN(children[0])

    def latex(self) -> str:
        return rf"\sum_{{n=1}}^{{N}} {_paren(self.body, 3, True)}"

    def text(self) -> str:
        return f"Σ_n {_paren(self.body, 3, False)}"


@dataclass(frozen=True)
class KL(Term):
    """``KL(a ‖ b)`` = E_a[log a/b]."""

    a: Density
    b: Density

    def children(self) -> tuple[Term, ...]:
        return (self.a, self.b)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        a, b = children
        if not (isinstance(a, Density) and isinstance(b, Density)):
            raise ValueError("KL takes two densities")
        return KL(a, b)

    def latex(self) -> str:
        return rf"\operatorname{{KL}}\left({self.a.latex()} \,\|\, {self.b.latex()}\right)"

    def text(self) -> str:
        return f"KL({self.a.text()} ‖ {self.b.text()})"

    def definition(self) -> Term:
        """E_a[log(a / b)]."""
        return Expect(self.a, Log(Div(self.a, self.b)))


@dataclass(frozen=True)
class Entropy(Term):
    """``H[a]`` = -E_a[log a]."""

    a: Density

    def children(self) -> tuple[Term, ...]:
        return (self.a,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        a = children[0]
        if not isinstance(a, Density):
            raise ValueError("entropy takes a density")
        return Entropy(a)

    def latex(self) -> str:
        return rf"\mathbb{{H}}\left[{self.a.latex()}\right]"

    def text(self) -> str:
        return f"H[{self.a.text()}]"

    def definition(self) -> Term:
        """-E_a[log a]."""
        return Neg(Expect(self.a, Log(self.a)))


@dataclass(frozen=True)
class MutualInfo(Term):
    """``I_joint(u; v)`` = KL(joint(u, v) ‖ joint(u) joint(v)).

    ``u`` and ``v`` name the two variables: a str such as ``"n"`` or the exported
    :class:`RandomVariable` (``n``, ``z``), which is stored by its name.
    """

    joint: Density
    u: str
    v: str

    def __post_init__(self) -> None:
        for field_name in ("u", "v"):
            value = getattr(self, field_name)
            if isinstance(value, RandomVariable):
                object.__setattr__(self, field_name, value.name)
            elif not isinstance(value, str):
                raise TypeError(
                    f"MutualInfo {field_name} must be a variable name or a RandomVariable, "
                    f"got {value!r}"
                )

    def children(self) -> tuple[Term, ...]:
        return (self.joint,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        j = children[0]
        if not isinstance(j, Density):
            raise ValueError("mutual information takes a joint density")
        return MutualInfo(j, self.u, self.v)

    def latex(self) -> str:
        fam = self.joint.family
        head = f"{fam}_{{{_FAMILY_SUB[fam]}}}" if self.joint.sub else fam
        return rf"\mathbb{{I}}_{{{head}}}\left({self.u}; {self.v}\right)"

    def text(self) -> str:
        return f"I_{self.joint.family}({self.u}; {self.v})"

    def definition(self) -> Term:
        """E_joint[log joint(u, v) / (joint(u) joint(v))]."""
        j = self.joint
        mu = Density(j.family, (self.u,), j.given, j.sub)
        mv = Density(j.family, (self.v,), j.given, j.sub)
        return Expect(j, Log(Div(j, Mul((mu, mv)))))


@dataclass(frozen=True)
class LogGap(Term):
    """``t - 1 - log t`` for a positive term t: non-negative by the lemma log t ≤ t − 1."""

    arg: Term
    prec = 1

    def children(self) -> tuple[Term, ...]:
        return (self.arg,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return LogGap(children[0])

    def definition(self) -> Term:
        return Add((self.arg, Num(sympy.Integer(-1)), Neg(Log(self.arg))))

    def latex(self) -> str:
        return self.definition().latex()

    def text(self) -> str:
        return self.definition().text()


_SYMBOLS: dict[str, tuple[str, Term]] = {}
_LABELS: dict[str, str] = {}


@dataclass(frozen=True)
class Named(Term):
    """A defined quantity shown by its own symbol, e.g. the ELBO, checked through its definition.

    The display is tied to the meaning through one table (per process): a symbol (``tex``) and
    its text ``label`` always denote the same definition, so two different definitions can never
    be displayed alike; constructing a second one raises ValueError.

    The defining term is the field ``defined_as``; :meth:`definition` returns it, as every other
    defined node (:class:`KL`, :class:`Entropy`, :class:`MutualInfo`, :class:`LogGap`) does."""

    tex: str
    label: str
    defined_as: Term

    def __post_init__(self) -> None:
        known = _SYMBOLS.setdefault(self.tex, (self.label, self.defined_as))
        tex = _LABELS.setdefault(self.label, self.tex)
        if known != (self.label, self.defined_as) or tex != self.tex:
            shown = known[1].text() if known[0] == self.label else f"{known[0]}"
            raise ValueError(
                f"the symbol {self.tex!r} ({self.label!r}) is already defined as {shown}; "
                f"{self.defined_as.text()} needs a symbol of its own"
            )

    def definition(self) -> Term:
        """The term this symbol stands for."""
        return self.defined_as

    def children(self) -> tuple[Term, ...]:
        return (self.defined_as,)

    def rebuild(self, children: tuple[Term, ...]) -> Term:
        return Named(self.tex, self.label, children[0])

    def latex(self) -> str:
        return self.tex

    def text(self) -> str:
        return self.label


def walk(term: Term) -> Iterator[Term]:
    """All sub-terms, pre-order."""
    yield term
    for c in term.children():
        yield from walk(c)


ELBO = Named(
    r"\mathcal{L}(x; \theta, \phi)",
    "ELBO(x; θ, φ)",
    Expect(q(z | x), Log(Div(p(x, z), q(z | x)))),
)
"""The evidence lower bound ℒ(x; θ, φ) = E_{q_φ(z|x)}[log p_θ(x, z) / q_φ(z | x)]."""
