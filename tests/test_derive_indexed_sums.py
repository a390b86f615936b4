"""``elbo_book.derive.indexed_sums``: proofs for every support size K and every N."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book.derive import (
    KL,
    E,
    Entropy,
    Finite,
    Integral,
    LogGap,
    MutualInfo,
    N,
    SumN,
    log,
    n,
    p,
    q,
    x,
    z,
)
from elbo_book.derive.indexed_sums import (
    NoIndexedSumForm,
    SizeModel,
    draws_model,
    proves_identity_every_size,
    proves_nonneg_every_size,
)
from elbo_book.derive.terms import Value

QZ, PZX, PXZ = q(z | x), p(z | x), p(x, z)
ELBO_BODY = log(PXZ / QZ)


def test_identities_for_every_size_are_proved_and_false_ones_are_not(finite: SizeModel) -> None:
    assert proves_identity_every_size(finite, log(p(x)), E(QZ, log(PXZ / PZX)))
    assert proves_identity_every_size(finite, log(p(x)), KL(QZ, PZX) + E(QZ, ELBO_BODY))
    # ∫ p(x) dz = K p(x) under the counting measure: not log p(x) (nested sums are not merged away)
    assert not proves_identity_every_size(finite, log(Integral(QZ * (p(x) / QZ), "z")), log(p(x)))
    assert not proves_identity_every_size(finite, E(QZ, log(QZ / PZX)), E(QZ, log(PZX / QZ)))
    # the data index: the surgery identity for every K and N, and not without its MI term
    surgery = KL(q(z), p(z)) + MutualInfo(q(n, z), "n", "z")
    average = (1 / N) * SumN(KL(q(z | n), p(z)))
    assert proves_identity_every_size(finite, average, surgery)
    assert not proves_identity_every_size(finite, average, KL(q(z), p(z)))
    assert not proves_identity_every_size(finite, SumN(KL(q(z | n), p(z))), surgery)


def test_a_term_without_indexed_form_is_refused(finite: SizeModel) -> None:
    with pytest.raises(NoIndexedSumForm, match="categorical"):
        proves_identity_every_size(finite, E(QZ, Value("z")), E(QZ, Value("z")))
    with pytest.raises(NoIndexedSumForm, match="no data index"):
        proves_identity_every_size(draws_model(), SumN(log(p(x))), SumN(log(p(x))))


def test_non_negativity_for_every_size(finite: SizeModel) -> None:
    gibbs = E(QZ, LogGap(PZX / QZ))  # KL(q ‖ p(z|x)) in Gibbs' form
    assert proves_nonneg_every_size(finite, gibbs)
    assert not proves_nonneg_every_size(finite, -gibbs)
    assert not proves_nonneg_every_size(finite, KL(QZ, PZX).definition())  # needs Gibbs' form


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=5, max_value=8), st.integers(min_value=0, max_value=10**6))
def test_identities_proved_for_every_size_hold_numerically_beyond_checked_sizes(
    k: int, seed: int
) -> None:
    """Numeric cross-check (not a proof) at sizes the fixed-size check never sees."""
    from elbo_book.derive.indexed_sums import finite_model

    pairs = [
        (log(p(x)), KL(QZ, PZX) + E(QZ, ELBO_BODY)),
        (E(QZ, ELBO_BODY), E(QZ, log(PXZ)) + Entropy(QZ)),
        (p(x), E(QZ, PXZ / QZ)),
    ]
    (inst,) = Finite(sizes=(k,)).instances([log(p(x))])
    vals = inst.sample(random.Random(seed).random)
    for a, b in pairs:
        assert proves_identity_every_size(finite_model(), a, b)
        va = float(inst.translate(a).subs(vals))
        vb = float(inst.translate(b).subs(vals))
        assert va == pytest.approx(vb, rel=1e-9, abs=1e-9)
