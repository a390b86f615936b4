"""Semantics: what a term *means*, as a SymPy expression, in a concrete family of models.

One module per semantics, each on the one shared translator
(``elbo_book.derive.semantics.translator``: the sizes, arithmetic, the non-negativity prover, the
errors ``Unsupported`` and ``Undefined``).  The finite semantics
(``elbo_book.derive.semantics.finite``) reads every probability as a free positive symbol on K
points and is the workhorse; the Gaussian semantics (``elbo_book.derive.semantics.gaussian``) is
the one-dimensional linear-Gaussian model with its expectations computed exactly from the
Gaussian moments; the i.i.d.-draws semantics is ``elbo_book.derive.draws``.

A semantics raises ``Unsupported`` for a term it cannot interpret (e.g. an aggregate posterior in
the Gaussian model); the step is then simply not checked in that semantics.  ``Undefined`` is
raised for a term that has no meaning at all (``q(x | x)``).  Every name is importable from this
package, as ``from elbo_book.derive.semantics import Finite, Gaussian, mu_q``.
"""

from elbo_book.derive.semantics.finite import Finite
from elbo_book.derive.semantics.gaussian import (
    MAX_MOMENT,
    Gaussian,
    b,
    gaussian_moment,
    moment_by_recursion,
    mu_p,
    mu_q,
    prove_moment_recursion,
    sigma_p,
    sigma_q,
    sigma_x,
    w,
)
from elbo_book.derive.semantics.translator import (
    Instance,
    K,
    LogGapF,
    N,
    Semantics,
    Undefined,
    Unsupported,
    expand_loggap,
    positive_log,
    proves_nonneg,
    sizes_text,
    translate_algebra,
    translate_arithmetic,
    uses_index,
)

__all__ = [
    "MAX_MOMENT",
    "Finite",
    "Gaussian",
    "Instance",
    "K",
    "LogGapF",
    "N",
    "Semantics",
    "Undefined",
    "Unsupported",
    "b",
    "expand_loggap",
    "gaussian_moment",
    "moment_by_recursion",
    "mu_p",
    "mu_q",
    "positive_log",
    "prove_moment_recursion",
    "proves_nonneg",
    "sigma_p",
    "sigma_q",
    "sigma_x",
    "sizes_text",
    "translate_algebra",
    "translate_arithmetic",
    "uses_index",
    "w",
]
