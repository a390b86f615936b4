"""The engine-checked exercises: every solution is accepted, every typical wrong answer rejected."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elbo_book.derive.checks import Gap, Jensen
from elbo_book.derive.semantics import Finite
from elbo_book.derive.terms import ELBO, KL, log, p, q, x, z
from elbo_book.exercises import (
    CHAPTERS,
    Exercise,
    ExerciseError,
    NumberChecker,
    StepChecker,
    chapter_exercises,
)

ALL = [(c, name) for c in CHAPTERS for name in chapter_exercises(c)]


def test_every_chapter_has_at_least_three_exercises() -> None:
    assert CHAPTERS == (
        "01_jensen_bound",
        "02_kl_elbo_identity",
        "03_kingma_welling_split",
        "04_elbo_surgery",
        "05_beta_vae",
        "06_importance_weighting",
    )
    for chapter in CHAPTERS:
        assert len(chapter_exercises(chapter)) >= 3, chapter


@pytest.mark.parametrize(("chapter", "name"), ALL)
def test_solution_accepted_and_wrong_answer_rejected(chapter: str, name: str) -> None:
    ex = chapter_exercises(chapter)[name]
    right, wrong = ex.self_check()
    assert right.correct and not wrong.correct
    assert repr(right).startswith("✓ correct") and repr(wrong).startswith("✗ not correct")
    if isinstance(ex.checker, StepChecker):
        # a rejected step names what is false: the engine's residual or its failed certificate
        assert "is false" in wrong.detail and (
            "residual" in wrong.detail or "Jensen" in wrong.detail
        )
    else:
        assert "outside the tolerance" in wrong.detail


def test_step_verdicts_state_residual_and_counterexample() -> None:
    ex = chapter_exercises("02_kl_elbo_identity")["bayes_sign"]
    wrong = ex.check(ex.wrong)
    assert "residual 2*log(" in wrong.detail and "counterexample" in wrong.detail
    right = ex.check(ex.solution)
    assert "symbolic" in right.detail


def test_numbers_are_the_chapters_values() -> None:
    ch1 = chapter_exercises("01_jensen_bound")
    # chapter 1: the best gap of the restricted q is -log P(z in {0, 1} | x) = 0.1881 nats
    assert ch1["restricted_gap"].check(0.1881).correct
    ch2 = chapter_exercises("02_kl_elbo_identity")
    assert ch2["ignored_mode"].check(math.log(2)).correct  # the symmetric posterior: log 2
    ch3 = chapter_exercises("03_kingma_welling_split")
    # ½[(1 + 0.25 - 1 - log 0.25) + (1 + 4 - 1 - log 4)] = 2.125 (the log terms cancel)
    assert ch3["diagonal_kl"].check(2.125).correct


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-6, 1e3, allow_nan=False),
    st.floats(-3.0, 3.0, allow_nan=False),
)
def test_number_checker_accepts_exactly_within_tolerance(
    value: float, tol: float, k: float
) -> None:
    checker = NumberChecker(value, tol)
    answer = value + k * tol
    if abs(answer - value) <= tol:
        assert checker(answer).correct
    else:
        assert not checker(answer).correct


def test_number_checker_rejects_non_finite_and_bad_types() -> None:
    checker = NumberChecker(1.0, 0.1)
    assert not checker(math.nan).correct and not checker(math.inf).correct
    with pytest.raises(TypeError):
        checker("1.0")
    with pytest.raises(TypeError):
        checker(True)
    with pytest.raises(TypeError):
        NumberChecker("1", 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        NumberChecker(1.0, 0.0)
    with pytest.raises(ValueError):
        NumberChecker(math.nan, 0.1)


def test_step_checker_validates_its_construction_and_answers() -> None:
    with pytest.raises(TypeError):
        StepChecker("log p(x)")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StepChecker(ELBO, "<")
    with pytest.raises(ValueError):
        StepChecker(ELBO, "≥")  # an inequality needs a certificate
    with pytest.raises(ValueError):
        StepChecker(ELBO, "=", certificate=Jensen())
    with pytest.raises(ValueError):
        StepChecker(ELBO, semantics=())
    with pytest.raises(TypeError):
        StepChecker(ELBO)("log p(x) - KL")


def test_step_checker_inequality_with_gap_certificate() -> None:
    qz, post = q(z | x), p(z | x)
    checker = StepChecker(log(p(x)), "≥", (Finite(),), Gap(KL(qz, post)))
    assert checker(ELBO).correct
    # the same certificate does not make the reversed claim log p(x) ≤ ELBO true
    assert not StepChecker(log(p(x)), "≤", (Finite(),), Gap(KL(qz, post)))(ELBO).correct


def test_broken_exercises_are_caught() -> None:
    checker = NumberChecker(2.0, 0.01)
    swapped = Exercise("swapped", "a prompt", checker, solution=0.0, wrong=2.0, explanation="why")
    with pytest.raises(ExerciseError, match="solution is rejected"):
        swapped.self_check()
    lenient = Exercise("lenient", "a prompt", checker, solution=2.0, wrong=2.001, explanation="w")
    with pytest.raises(ExerciseError, match="wrong answer is accepted"):
        lenient.self_check()
    with pytest.raises(ValueError):
        Exercise("not an identifier", "p", checker, 2.0, 0.0, "e")
    with pytest.raises(ValueError):
        Exercise("empty", " ", checker, 2.0, 0.0, "e")
    with pytest.raises(TypeError):
        Exercise("bad", "p", lambda a: a, 2.0, 0.0, "e")  # type: ignore[arg-type]


def test_chapter_exercises_rejects_unknown_chapters() -> None:
    with pytest.raises(ValueError, match="no exercises"):
        chapter_exercises("99_no_such_chapter")
    with pytest.raises(TypeError):
        chapter_exercises(3)  # type: ignore[arg-type]


def test_chapter4_numbers_match_the_estimators() -> None:
    """The MWS offset of exercise 4.3 is what the package's estimators give; 4.1 and 4.2 too."""
    import torch

    from elbo_book.surgery import minibatch_weights
    from elbo_book.total_correlation import minibatch_kl_terms

    ex = chapter_exercises("04_elbo_surgery")
    n, d = 500, 10
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(n, d, generator=g, dtype=torch.float64)
    scale = 0.3 + torch.rand(n, d, generator=g, dtype=torch.float64)
    z = loc + scale * torch.randn(n, d, generator=g, dtype=torch.float64)
    mws = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "mws"))
    exact = minibatch_kl_terms(z, loc, scale, minibatch_weights(n, n, "equal"))
    assert ex["mws_tc_offset"].check(float(mws.total_correlation - exact.total_correlation)).correct
    assert ex["information_ceiling"].check(8.987).correct  # log 8000 = 8.9872
    assert ex["forced_marginal_kl"].check(20.0 - 8.987).correct


def test_chapter6_numbers() -> None:
    ch6 = chapter_exercises("06_importance_weighting")
    # the rule of thumb at K = 100 for a shift of 1.5 posterior sds: (e^2.25 - 1) / 200
    assert ch6["chi2_rule"].check(math.expm1(2.25) / 200).correct
    assert not ch6["chi2_rule"].check(2.25 / 2 / 100).correct  # KL / K
    # the median noise floor at R = 200 is about 0.674 / sqrt(200), above the normal value
    floor = ch6["median_floor"].solution
    assert isinstance(floor, float) and 0.674 / math.sqrt(200) < floor < 0.68 / math.sqrt(200)
    # the exact K = 2 gap lies between the K = 1 gap (the KL) and half of it
    gap_2 = ch6["finite_gap_k2"].solution
    half_kl = ch6["finite_gap_k2"].wrong
    assert isinstance(gap_2, float) and isinstance(half_kl, float)
    assert half_kl < gap_2 < 2 * half_kl


def test_chapter5_exercises() -> None:
    import sympy

    from elbo_book.derive.semantics import Gaussian

    ch5 = chapter_exercises("05_beta_vae")
    assert list(ch5) == ["beta_gap", "prior_kl", "decoder_scale"]
    # a β-VAE with β = 4 and σ = 0.1 is a plain VAE with variance βσ² = 0.04: sd 0.2, not βσ
    assert ch5["decoder_scale"].check(0.2).correct and not ch5["decoder_scale"].check(0.4).correct
    # with the prior N(0, 1) the solution is chapter 3's closed form ½(μ² + σ² − 1 − log σ²)
    fixed = Gaussian(fix={"mu_p": 0, "sigma_p": 1})
    general = fixed.tr(ch5["prior_kl"].solution)  # type: ignore[arg-type]
    standard = fixed.tr(chapter_exercises("03_kingma_welling_split")["gaussian_kl"].solution)  # type: ignore[arg-type]
    assert sympy.simplify(sympy.expand_log(general - standard, force=True)) == 0
    # the β-objective is the ELBO minus δ KL: the wrong sign is rejected with a residual
    verdict = ch5["beta_gap"].check(ch5["beta_gap"].wrong)
    assert not verdict.correct and "residual" in verdict.detail
