"""The well-formedness pass: a term is checked for these rules before any semantics reads it.

* ``distinct-variables`` — a density lists each variable once, and no variable on both sides of
  its bar: ``q(z, z | x)`` and ``q(x | x)`` are refused (a semantics would otherwise read the first
  as ``q(z | x)``).
* ``bound-variables`` — every latent or index variable a term mentions is bound by an enclosing
  ``E``, ``∫``, ``Σ_n``, ``KL``, ``ℍ`` or ``𝕀``; the only observed variables are ``x`` and ``x_n``
  (the latter inside a binder of ``n``).
* ``no-capture`` — a binder never re-binds a variable that an enclosing binder already binds, nor
  one that denotes the same latent (``z_n`` is the latent of point n, which the finite model
  reads as ``z``): ``E_q(z|x)[Σ_n log q(z_n | x_n)]`` is refused instead of letting the outer z
  capture z_n.
* ``kl-same-variables`` — ``KL(a ‖ b)`` compares two densities over the same variables, so
  ``KL(q(z | x) ‖ p(x, z))`` and ``KL(q(z | x) ‖ p(x | z))`` are refused (that b is *normalised*
  is a semantic fact, proved where a certificate needs it: :mod:`elbo_book.derive.checks`).
* ``mi-two-variables`` — ``𝕀_j(u; v)`` takes two distinct variables that are exactly the
  variables of the joint j.

A violation raises :class:`Malformed`, whose message names the rule and the offending term.
"""

from __future__ import annotations

from elbo_book.derive.terms import (
    KL,
    Density,
    Entropy,
    Expect,
    Integral,
    MutualInfo,
    Named,
    SumN,
    Term,
    Value,
)

__all__ = ["OBSERVED", "Malformed", "check_wellformed"]

OBSERVED = frozenset({"x", "x_n"})
"""The observed variables (``x_n`` only inside a binder of n)."""

_SAME_LATENT = {"z_n": "z"}


class Malformed(ValueError):
    """A term breaks a well-formedness rule; ``rule`` names it, the message names the term."""

    def __init__(self, rule: str, term: Term, detail: str) -> None:
        self.rule = rule
        self.term = term
        super().__init__(f"ill-formed term {term.text()} (rule {rule}): {detail}")


def _latent(v: str) -> str:
    return _SAME_LATENT.get(v, v)


def _bind(scope: frozenset[str], names: tuple[str, ...], at: Term) -> frozenset[str]:
    """The scope inside a binder of ``names`` (observed variables are not bound)."""
    new = [v for v in names if v not in OBSERVED]
    for v in new:
        clash = [u for u in scope if _latent(u) == _latent(v)]
        if clash:
            raise Malformed(
                "no-capture",
                at,
                f"it binds {v} inside a binder of {clash[0]} (bound variables must be distinct)",
            )
    return scope | frozenset(new)


def _density(d: Density, scope: frozenset[str]) -> None:
    if len(set(d.vars)) != len(d.vars) or len(set(d.given)) != len(d.given):
        raise Malformed("distinct-variables", d, "a variable is listed twice")
    both = set(d.vars) & set(d.given)
    if both:
        raise Malformed(
            "distinct-variables", d, f"{sorted(both)[0]} appears on both sides of the bar"
        )
    for v in d.vars + d.given:
        _occurs(v, d, scope)


def _occurs(v: str, at: Term, scope: frozenset[str]) -> None:
    if v == "x" or v in scope:
        return
    if v == "x_n":
        if "n" in scope:
            return
        raise Malformed("bound-variables", at, "x_n is used outside a binder of the index n")
    captured = [u for u in scope if _latent(u) == _latent(v)]
    hint = f" (an enclosing binder of {captured[0]} would capture it)" if captured else ""
    raise Malformed("bound-variables", at, f"the variable {v} is free{hint}")


def _wf(t: Term, scope: frozenset[str]) -> None:
    if isinstance(t, Density):
        _density(t, scope)
        return
    if isinstance(t, Value):
        _occurs(t.name, t, scope)
        return
    if isinstance(t, Expect):
        inner = _bind(scope, t.dist.vars, t)
        _density(t.dist, inner)
        _wf(t.body, inner)
        return
    if isinstance(t, Integral):
        _wf(t.body, _bind(scope, (t.var,), t))
        return
    if isinstance(t, SumN):
        _wf(t.body, _bind(scope, ("n",), t))
        return
    if isinstance(t, KL):
        if set(t.a.vars) != set(t.b.vars):
            raise Malformed(
                "kl-same-variables",
                t,
                f"{t.a.text()} is a density over {', '.join(t.a.vars)} but {t.b.text()} is one "
                f"over {', '.join(t.b.vars)}",
            )
        inner = _bind(scope, t.a.vars, t)
        _density(t.a, inner)
        _density(t.b, inner)
        return
    if isinstance(t, Entropy):
        _density(t.a, _bind(scope, t.a.vars, t))
        return
    if isinstance(t, MutualInfo):
        if t.u == t.v:
            raise Malformed("mi-two-variables", t, f"both arguments are {t.u}")
        if {t.u, t.v} != set(t.joint.vars):
            raise Malformed(
                "mi-two-variables",
                t,
                f"the arguments {t.u}, {t.v} are not the variables of {t.joint.text()}",
            )
        _density(t.joint, _bind(scope, t.joint.vars, t))
        return
    if isinstance(t, Named):
        _wf(t.definition(), scope)
        return
    for c in t.children():
        _wf(c, scope)


def check_wellformed(t: Term) -> None:
    """Raise :class:`Malformed` unless ``t`` obeys every rule of the module docstring."""
    _wf(t, frozenset())
