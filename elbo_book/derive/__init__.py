"""SymPy-checked derivations: the verification engine of the ELBO Book.

Write a derivation as a chain of terms (:mod:`elbo_book.derive.terms`), each step with a relation
and a justification; every step is checked (:mod:`elbo_book.derive.checks`) in one or more model
families (:mod:`elbo_book.derive.semantics`) and the chain displays itself with a strength badge
per step (:mod:`elbo_book.derive.chain`).  ``elbo_book/derive/README.md`` is the authors' guide.
"""

from elbo_book.derive.chain import Derivation, Step, StepError, StepResult
from elbo_book.derive.checks import CheckFailed, Gap, Jensen, Numeric
from elbo_book.derive.registry import collect, register
from elbo_book.derive.semantics import Finite, Gaussian, K, N
from elbo_book.derive.terms import (
    ELBO,
    KL,
    E,
    Entropy,
    Expect,
    Integral,
    LogGap,
    MutualInfo,
    Named,
    Num,
    Pi,
    Scalar,
    SumN,
    Term,
    Value,
    log,
    n,
    p,
    q,
    x,
    x_n,
    z,
    z_n,
)

__all__ = [
    "ELBO",
    "KL",
    "CheckFailed",
    "Derivation",
    "E",
    "Entropy",
    "Expect",
    "Finite",
    "Gap",
    "Gaussian",
    "Integral",
    "Jensen",
    "K",
    "LogGap",
    "MutualInfo",
    "N",
    "Named",
    "Num",
    "Numeric",
    "Pi",
    "Scalar",
    "Step",
    "StepError",
    "StepResult",
    "SumN",
    "Term",
    "Value",
    "collect",
    "log",
    "n",
    "p",
    "q",
    "register",
    "x",
    "x_n",
    "z",
    "z_n",
]
