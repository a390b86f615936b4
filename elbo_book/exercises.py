"""Exercises whose answers the book's engine checks.

An :class:`Exercise` has a prompt, a checker, a solution and a typical wrong answer. The reader's
answer is one of two kinds.

* A *derivation step* in the engine's language (:mod:`elbo_book.derive`): the exercise fixes the
  left side ``start`` and the relation, the reader supplies the right side, and
  :class:`StepChecker` appends it to a one-step ``Derivation`` and checks it exactly as a chapter's
  chain is checked. A false step is rejected with the engine's residual (the part of
  ``start − answer`` that does not cancel) and a numeric counterexample.
* A *number*: :class:`NumberChecker` accepts ``answer`` when ``abs(answer − value) ≤ tolerance``,
  where ``value`` is computed (never typed) and ``tolerance`` is stated with the exercise.

:meth:`Exercise.self_check` confirms that the solution is accepted and the typical wrong answer is
rejected; the chapters call it and ``tests/test_exercises.py`` calls it for every exercise of
:func:`chapter_exercises`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from elbo_book.derive.chain import Derivation
from elbo_book.derive.checks import Certificate
from elbo_book.derive.semantics import Finite, Semantics
from elbo_book.derive.terms import Term

__all__ = [
    "CHAPTERS",
    "RELATIONS",
    "Exercise",
    "ExerciseError",
    "NumberChecker",
    "StepChecker",
    "Verdict",
    "chapter_exercises",
]

#: The relations a step of an exercise may state.
RELATIONS = ("=", "≥", "≤")


class ExerciseError(AssertionError):
    """An exercise is broken: its solution is rejected or its typical wrong answer accepted."""


@dataclass(frozen=True)
class Verdict:
    """The checker's answer: ``correct``, and ``detail`` (badges when right; the residual and a
    counterexample, or the deviation from the computed value, when wrong)."""

    correct: bool
    detail: str

    def __repr__(self) -> str:
        mark = "✓ correct" if self.correct else "✗ not correct"
        return f"{mark}: {self.detail}"


@dataclass(frozen=True)
class StepChecker:
    """Checks the step ``start rel answer`` with the engine.

    Args:
        start: the left side of the step, fixed by the exercise.
        rel: ``"="``, ``"≥"`` or ``"≤"``.
        semantics: the model families in which the step must be proven.
        certificate: for an inequality, the certificate the engine checks (``Gap`` or ``Jensen``).

    Raises:
        TypeError: ``start`` is not a term, or ``certificate`` not a certificate.
        ValueError: an unknown relation, an inequality without a certificate, an identity with one,
            or no semantics.
    """

    start: Term
    rel: str = "="
    semantics: tuple[Semantics, ...] = (Finite(),)
    certificate: Certificate | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.start, Term):
            raise TypeError(f"start must be an engine term, got {type(self.start).__name__}")
        if self.rel not in RELATIONS:
            raise ValueError(f"rel must be one of {RELATIONS}, got {self.rel!r}")
        if not self.semantics:
            raise ValueError("a step exercise needs at least one semantics")
        if self.certificate is not None and not isinstance(self.certificate, Certificate):
            raise TypeError("certificate must be an engine certificate (Gap or Jensen)")
        if (self.rel == "=") != (self.certificate is None):
            raise ValueError("an inequality needs a certificate and an identity takes none")

    def __call__(self, answer: object) -> Verdict:
        """The verdict on ``start rel answer``.

        Args:
            answer: the right side, an engine term.

        Returns:
            A verdict: correct with the engine's badges, or not correct with its failure message.

        Raises:
            TypeError: ``answer`` is not an engine term.
        """
        if not isinstance(answer, Term):
            raise TypeError(
                f"the answer must be a term of elbo_book.derive, got {type(answer).__name__}"
            )
        step = Derivation("exercise", self.start, semantics=self.semantics).step(
            self.rel, answer, "the reader's answer", certificate=self.certificate
        )
        (result,) = step.check(raise_on_failure=False)
        claim = f"{self.start.text()} {self.rel} {answer.text()}"
        if result.proven:
            return Verdict(True, f"{claim} [{' | '.join(result.badges)}]")
        return Verdict(False, f"{claim} is false: {result.detail}")


@dataclass(frozen=True)
class NumberChecker:
    """Accepts a number within ``tolerance`` of the computed ``value``: abs(answer − value) ≤ tol.

    Args:
        value: the computed answer (finite).
        tolerance: the absolute tolerance (finite, > 0).

    Raises:
        TypeError: ``value`` or ``tolerance`` is not a real number.
        ValueError: either is not finite, or ``tolerance`` is not positive.
    """

    value: float
    tolerance: float

    def __post_init__(self) -> None:
        for name in ("value", "tolerance"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Real):
                raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v}")
        if self.tolerance <= 0:
            raise ValueError(f"tolerance must be positive, got {self.tolerance}")

    def __call__(self, answer: object) -> Verdict:
        """The verdict on the number ``answer``.

        Args:
            answer: a real number (int or float; not a bool).

        Returns:
            A verdict stating the deviation ``answer − value`` and the tolerance.

        Raises:
            TypeError: ``answer`` is not a real number.
        """
        if isinstance(answer, bool) or not isinstance(answer, Real):
            raise TypeError(f"the answer must be a number, got {type(answer).__name__}")
        a = float(answer)
        if not math.isfinite(a):
            return Verdict(False, f"{a} is not a finite number")
        deviation = a - float(self.value)
        within = abs(deviation) <= self.tolerance
        relation = "within" if within else "outside"
        return Verdict(
            within,
            f"{a:.6g} differs from the computed value by {deviation:+.3g}, {relation} the "
            f"tolerance ±{self.tolerance:.1g}",
        )


@dataclass(frozen=True)
class Exercise:
    """A prompt, a checker, a solution and a typical wrong answer.

    Args:
        name: an identifier, unique within a chapter.
        prompt: the question, in one or two plain sentences (the chapter states it in full).
        checker: a :class:`StepChecker` or a :class:`NumberChecker`.
        solution: the answer the checker must accept.
        wrong: a typical wrong answer the checker must reject.
        explanation: why the solution is right and what the wrong answer gets wrong.

    Raises:
        TypeError: ``checker`` is of neither kind.
        ValueError: ``name`` is not an identifier, or ``prompt`` or ``explanation`` is empty.
    """

    name: str
    prompt: str
    checker: StepChecker | NumberChecker
    solution: object
    wrong: object
    explanation: str

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"an exercise name must be an identifier, got {self.name!r}")
        if not self.prompt.strip() or not self.explanation.strip():
            raise ValueError(f"exercise {self.name!r} needs a prompt and an explanation")
        if not isinstance(self.checker, StepChecker | NumberChecker):
            raise TypeError("checker must be a StepChecker or a NumberChecker")

    def check(self, answer: object) -> Verdict:
        """The checker's verdict on ``answer`` (see the checker for the accepted types)."""
        return self.checker(answer)

    def self_check(self) -> tuple[Verdict, Verdict]:
        """Check the solution and the typical wrong answer.

        Returns:
            The verdicts on the solution and on the wrong answer.

        Raises:
            ExerciseError: the solution is rejected or the wrong answer accepted.
        """
        right, wrong = self.check(self.solution), self.check(self.wrong)
        if not right.correct:
            raise ExerciseError(f"exercise {self.name!r}: the solution is rejected: {right}")
        if wrong.correct:
            raise ExerciseError(f"exercise {self.name!r}: the wrong answer is accepted: {wrong}")
        return right, wrong


# ---- the chapters' exercises ------------------------------------------------------------------
# The numbers are computed from the chapters' own examples by the package's models; none is typed
# in.  Chapter 1's mixture: weights (0.5, 0.3, 0.2), means (-2, 0, 2.5), unit noise, x = 0.8.
_MIX_WEIGHTS, _MIX_MEANS, _MIX_X = (0.5, 0.3, 0.2), (-2.0, 0.0, 2.5), 0.8
# Chapter 2's bimodal model: z ~ N(0, 2^2), x | z ~ N(z^2, 1), x = 4, on the chapter's grid.
_BIMODAL_X, _BIMODAL_GRID = 4.0, (-8.0, 8.0, 32001)
# Chapter 3's running example: D = 5 observations, unit noise.
_RUNNING_X = (0.8, 1.9, 1.2, 0.4, 1.5)
_KL_LOC, _KL_SCALE = (1.0, -1.0), (0.5, 2.0)


def _mixture_posterior() -> tuple[list[float], list[float]]:
    """Chapter 1's mixture: the prior weights and the posterior p(z | x = 0.8), in float64."""
    import torch

    from elbo_book.toy_models import GaussianMixture

    weights = torch.tensor(_MIX_WEIGHTS, dtype=torch.float64)
    means = torch.tensor(_MIX_MEANS, dtype=torch.float64).unsqueeze(1)
    mix = GaussianMixture(weights, means, 1.0)
    log_joint = mix.log_joint(torch.tensor([_MIX_X], dtype=torch.float64)).double()
    post = (log_joint - torch.logsumexp(log_joint, 0)).exp()
    return weights.tolist(), post.tolist()


def _kl(a: list[float], b: list[float]) -> float:
    """KL(a ‖ b) = Σ_k a_k log(a_k / b_k) for strictly positive a, b."""
    return sum(ak * math.log(ak / bk) for ak, bk in zip(a, b, strict=True))


def _bimodal_mode_mass() -> float:
    """P(z > 0 | x = 4) in chapter 2's model z ~ N(0, 2²), x | z ~ N(z², 1), by quadrature."""
    import numpy as np

    grid = np.linspace(*_BIMODAL_GRID)
    joint = np.exp(-0.5 * (grid / 2.0) ** 2 - 0.5 * (_BIMODAL_X - grid**2) ** 2)
    positive = np.where(grid > 0, joint, np.where(grid == 0, joint / 2, 0.0))
    return float(np.trapezoid(positive, grid) / np.trapezoid(joint, grid))


def _ch01() -> tuple[Exercise, ...]:
    from elbo_book.derive.checks import Jensen
    from elbo_book.derive.terms import ELBO, KL, Integral, log, p, q, x, z

    q_, pxz, post = q(z | x), p(x, z), p(z | x)
    prior, posterior = _mixture_posterior()
    kept = posterior[0] + posterior[1]
    return (
        Exercise(
            "jensen_step",
            "Apply Jensen's inequality to log ∫ q(z|x) p(x,z)/q(z|x) dz: what is the lower bound?",
            StepChecker(log(Integral(q_ * (pxz / q_), "z")), "≥", certificate=Jensen()),
            solution=Integral(q_ * log(pxz / q_), "z"),
            wrong=Integral(q_ * log(pxz), "z"),
            explanation=(
                "Jensen moves the log inside the expectation under q and keeps the ratio Y = "
                "p(x, z)/q(z|x) whole. Dropping the 1/q leaves E_q[log p(x, z)], which is not "
                "log of the same Y, so the step has no Jensen certificate (it differs from the "
                "ELBO by the entropy of q)."
            ),
        ),
        Exercise(
            "elbo_gap_sign",
            "Write the ELBO in terms of log p(x) and KL(q(z|x) ‖ p(z|x)).",
            StepChecker(ELBO),
            solution=log(p(x)) - KL(q_, post),
            wrong=log(p(x)) + KL(q_, post),
            explanation=(
                "The gap log p(x) − ELBO is the KL divergence, which is non-negative, so the KL is "
                "subtracted. With a plus sign the ELBO would lie above log p(x)."
            ),
        ),
        Exercise(
            "gap_at_prior",
            "In the three-component mixture at x = 0.8, take q = the prior π. How many nats "
            "below log p(x) is the ELBO?",
            NumberChecker(_kl(prior, posterior), 1e-3),
            solution=_kl(prior, posterior),
            wrong=_kl(posterior, prior),
            explanation=(
                "The gap is KL(q ‖ p(z|x)) with q = π in the first slot. KL(p(z|x) ‖ π), the "
                "divergence with the arguments swapped, is a different number."
            ),
        ),
        Exercise(
            "restricted_gap",
            "In the same mixture, q is the posterior restricted to z ∈ {0, 1} (renormalised). "
            "What is log p(x) − ELBO?",
            NumberChecker(-math.log(kept), 1e-3),
            solution=-math.log(kept),
            wrong=0.0,
            explanation=(
                "On S = {0, 1} the restricted q matches the posterior's shape, but it misses the "
                "mass P(z = 2 | x); the gap is KL(q ‖ p(z|x)) = −log P(z ∈ S | x), not zero."
            ),
        ),
    )


def _ch02() -> tuple[Exercise, ...]:
    from elbo_book.book.ch02_kl_elbo_identity import FREE_ENERGY
    from elbo_book.derive.terms import KL, Expect, LogGap, log, p, q, x, z

    q_, pxz, post = q(z | x), p(x, z), p(z | x)
    mass = _bimodal_mode_mass()
    return (
        Exercise(
            "bayes_sign",
            "Expand log p(x, z) by Bayes' rule inside E_q[log p(x, z) − log q(z|x)].",
            StepChecker(Expect(q_, log(pxz) - log(q_))),
            solution=Expect(q_, log(post) + log(p(x)) - log(q_)),
            wrong=Expect(q_, log(post) - log(p(x)) - log(q_)),
            explanation=(
                "log p(x, z) = log p(z|x) + log p(x). The minus sign (as in one source's "
                "equation (9)) leaves a residual of 2 log p(x)."
            ),
        ),
        Exercise(
            "free_energy_sign",
            "Write the variational free energy F in terms of KL(q(z|x) ‖ p(z|x)) and log p(x).",
            StepChecker(FREE_ENERGY),
            solution=KL(q_, post) - log(p(x)),
            wrong=KL(q_, post) + log(p(x)),
            explanation="F = −ELBO = −(log p(x) − KL) = KL − log p(x), an upper bound on −log p(x)",
        ),
        Exercise(
            "kl_integrand",
            "Write KL(q(z|x) ‖ p(z|x)) as an expectation under q of LogGap(t) = t − 1 − log t.",
            StepChecker(KL(q_, post)),
            solution=Expect(q_, LogGap(post / q_)),
            wrong=Expect(q_, LogGap(q_ / post)),
            explanation=(
                "With t = p(z|x)/q(z|x), E_q[t − 1] = 0 because the posterior is normalised, and "
                "E_q[−log t] is the KL. The ratio turned upside down gives E_q[q/p] − 1 + KL, "
                "which is larger."
            ),
        ),
        Exercise(
            "ignored_mode",
            "In the bimodal example (x = 4), q is the posterior restricted to z > 0. What is "
            "log p(x) − ELBO?",
            NumberChecker(-math.log(mass), 1e-3),
            solution=-math.log(mass),
            wrong=0.0,
            explanation=(
                "KL(q ‖ p) does charge for ignoring a mode: the restricted posterior leaves a gap "
                "of −log P(z > 0 | x), which is log 2 here because the posterior is symmetric."
            ),
        ),
    )


def _ch03() -> tuple[Exercise, ...]:
    import torch
    from torch.distributions import Normal, kl_divergence

    from elbo_book.book.shared import HALF, STANDARD_NORMAL_KL_CLOSED_FORM
    from elbo_book.derive.semantics import Gaussian, mu_q, sigma_q
    from elbo_book.derive.terms import KL, Expect, log, p, q, x, z
    from elbo_book.toy_models import ConjugateGaussian

    q_ = q(z | x)
    running = ConjugateGaussian(data_dim=len(_RUNNING_X), noise_scale=1.0)
    posterior = running.exact_posterior(torch.tensor([_RUNNING_X], dtype=torch.float64))
    excess = float(kl_divergence(posterior.base_dist, Normal(0.0, 1.0)).sum())
    loc, scale = torch.tensor(_KL_LOC), torch.tensor(_KL_SCALE)
    kl_diag = float(kl_divergence(Normal(loc, scale), Normal(0.0, 1.0)).sum())
    split = Expect(q_, log(p(x | z))) - Expect(q_, log(q_) - log(p(z)))
    return (
        Exercise(
            "kl_direction",
            "Name the second term of E_q[log p(x|z)] − E_q[log q(z|x) − log p(z)] as a KL.",
            StepChecker(split),
            solution=Expect(q_, log(p(x | z))) - KL(q_, p(z)),
            wrong=Expect(q_, log(p(x | z))) - KL(p(z), q_),
            explanation=(
                "The expectation is under q and the log-ratio is log q − log p(z), so the term is "
                "KL(q(z|x) ‖ p(z)), with q in the first slot; KL(p(z) ‖ q(z|x)) averages under "
                "the prior instead."
            ),
        ),
        Exercise(
            "gaussian_kl",
            "For q(z|x) = N(μ, σ²) and p(z) = N(0, 1), give KL(q ‖ p) in closed form.",
            StepChecker(KL(q_, p(z)), semantics=(Gaussian(fix={"mu_p": 0, "sigma_p": 1}),)),
            solution=STANDARD_NORMAL_KL_CLOSED_FORM,
            wrong=HALF * (mu_q**2 + sigma_q**2 - log(sigma_q**2)),
            explanation=(
                "E_q[log q] = −½ log(2πσ²) − ½ and E_q[log p] = −½ log 2π − ½(μ² + σ²); their "
                "difference is ½(μ² + σ² − 1 − log σ²). Without the −1 the KL of q = p would be "
                "½, not 0."
            ),
        ),
        Exercise(
            "diagonal_kl",
            "Compute KL(N(μ, diag σ²) ‖ N(0, I)) for μ = (1, −1), σ = (0.5, 2).",
            NumberChecker(kl_diag, 1e-3),
            solution=kl_diag,
            wrong=2 * kl_diag,
            explanation=(
                "Sum ½(μ_j² + σ_j² − 1 − log σ_j²) over the two coordinates. Forgetting the ½ "
                "doubles the answer."
            ),
        ),
        Exercise(
            "reconstruction_excess",
            "In the running example (five observations x = (0.8, 1.9, 1.2, 0.4, 1.5)), with q the "
            "exact posterior, by how much does E_q[log p(x|z)] exceed log p(x)?",
            NumberChecker(excess, 1e-3),
            solution=excess,
            wrong=0.0,
            explanation=(
                "At q = p(z|x) the ELBO equals log p(x), so E_q[log p(x|z)] = log p(x) + "
                "KL(p(z|x) ‖ p(z)): the reconstruction term overshoots by the rate."
            ),
        ),
    )


def _ch04() -> tuple[Exercise, ...]:
    n_train, n_mnist, average_kl = 8000, 60_000, 20.0
    d_mws, n_mws = 10, 500
    return (
        Exercise(
            "information_ceiling",
            f"What is the largest possible I(n; z), in nats, for a data set of N = {n_train} "
            "points?",
            NumberChecker(math.log(n_train), 1e-3),
            solution=math.log(n_train),
            wrong=math.log2(n_train),
            explanation=(
                "I(n; z) = H[n] − E H[q(n|z)] ≤ H[n] = log N for a uniform index; log N is in "
                "nats. log₂ N is the same ceiling in bits."
            ),
        ),
        Exercise(
            "forced_marginal_kl",
            f"A VAE trained on N = {n_train} images has an average KL of {average_kl:g} nats. "
            "What is the smallest marginal KL(q(z) ‖ p(z)) it can have?",
            NumberChecker(average_kl - math.log(n_train), 1e-3),
            solution=average_kl - math.log(n_train),
            wrong=average_kl - math.log(n_mnist),
            explanation=(
                "Average KL = I(n; z) + KL(q(z) ‖ p(z)) and I(n; z) ≤ log N, so the marginal KL is "
                "at least the average KL − log N. N is the size of the data set that defines q(z), "
                f"here {n_train}, not the {n_mnist} images of the full MNIST training set."
            ),
        ),
        Exercise(
            "mws_tc_offset",
            f"With d = {d_mws} latents, N = {n_mws} data points and a minibatch that is the whole "
            "data set, by how many nats does the MWS estimate of the total correlation exceed the "
            "exact one?",
            NumberChecker((d_mws - 1) * math.log(n_mws), 1e-3),
            solution=(d_mws - 1) * math.log(n_mws),
            wrong=d_mws * math.log(n_mws),
            explanation=(
                "With B = N the MWS estimates are q(z)/N for the joint and q(z_j)/N for each of "
                "the d marginals, so log q̂(z) − Σ_j log q̂(z_j) = TC − log N + d log N = TC + "
                "(d − 1) log N. The joint term's log N cancels one of the d."
            ),
        ),
    )


def _ch05() -> tuple[Exercise, ...]:

    from elbo_book.book.shared import GAUSSIAN_KL_CLOSED_FORM, HALF
    from elbo_book.derive.semantics import Gaussian, mu_p, mu_q, sigma_p, sigma_q
    from elbo_book.derive.terms import ELBO, KL, Expect, Scalar, log, p, q, x, z

    q_ = q(z | x)
    delta = Scalar("delta", r"\delta")
    beta, decoder_sd = 4.0, 0.1
    plain_sd = math.sqrt(beta) * decoder_sd  # decoder variance βσ² (``beta_gaussian_decoder``)
    return (
        Exercise(
            "beta_gap",
            "With β = 1 + δ, write E_q[log p(x|z)] − β KL(q(z|x) ‖ p(z)) in terms of the ELBO and "
            "KL(q(z|x) ‖ p(z)).",
            StepChecker(Expect(q_, log(p(x | z))) - (1 + delta) * KL(q_, p(z))),
            solution=ELBO - delta * KL(q_, p(z)),
            wrong=ELBO + delta * KL(q_, p(z)),
            explanation=(
                "The ELBO is E_q[log p(x|z)] − KL(q ‖ p(z)), so the β-objective is the ELBO minus "
                "the extra δ KL(q ‖ p(z)) ≥ 0: below the ELBO for β ≥ 1, above it for β < 1."
            ),
        ),
        Exercise(
            "prior_kl",
            "For q(z|x) = N(μ, σ²) and p(z) = N(μ₀, σ₀²), give KL(q ‖ p) in closed form.",
            StepChecker(KL(q_, p(z)), semantics=(Gaussian(),)),
            solution=GAUSSIAN_KL_CLOSED_FORM,
            wrong=log(sigma_q / sigma_p)
            + (sigma_q**2 + (mu_q - mu_p) ** 2) / (2 * sigma_p**2)
            - HALF,
            explanation=(
                "E_q[log q] = −log σ − ½ log 2π − ½ and E_q[log p] = −log σ₀ − ½ log 2π − "
                "(σ² + (μ − μ₀)²)/(2σ₀²). The log-determinant term is log(σ₀/σ): a q narrower than "
                "the prior pays for it. With the ratio upside down the KL of a narrow q could be "
                "negative."
            ),
        ),
        Exercise(
            "decoder_scale",
            "A β-VAE with β = 4 has a Gaussian decoder with standard deviation σ = 0.1. Up to a "
            "factor and a constant it is a plain VAE: with what decoder standard deviation?",
            NumberChecker(plain_sd, 1e-3),
            solution=plain_sd,
            wrong=beta * decoder_sd,
            explanation=(
                "β times −‖x − f(z)‖²/(2βσ²) is −‖x − f(z)‖²/(2σ²): the plain VAE has decoder "
                "variance βσ², so standard deviation √β σ = 0.2. Multiplying the standard "
                "deviation by β (0.4) scales the variance by β² instead."
            ),
        ),
    )


# Chapter 6's three-point example: prior, likelihood of the observed x, encoder.
_FINITE_PRIOR, _FINITE_LIKELIHOOD = (0.5, 0.3, 0.2), (0.1, 0.6, 0.3)
_FINITE_ENCODER = (0.2, 0.2, 0.6)
# Chapter 6's conjugate model: the encoder has the posterior's width, its mean shifted by 1.5
# posterior standard deviations; the SNR noise floor is for R = 200 gradient draws.
_CONJUGATE_SHIFT, _SNR_DRAWS = 1.5, 200


def _ch06() -> tuple[Exercise, ...]:
    import numpy as np

    from elbo_book.gradient_snr import snr_noise_floor
    from elbo_book.importance import exact_iwae_bound

    prior, likelihood = np.array(_FINITE_PRIOR), np.array(_FINITE_LIKELIHOOD)
    encoder = np.array(_FINITE_ENCODER)
    weights = prior * likelihood / encoder
    log_evidence = math.log(float(np.sum(prior * likelihood)))
    gap_2 = log_evidence - exact_iwae_bound(weights, encoder, 2)
    gap_1 = log_evidence - exact_iwae_bound(weights, encoder, 1)
    chi2 = math.expm1(_CONJUGATE_SHIFT**2)  # χ²(N(m + δs, s²) ‖ N(m, s²)) = e^{δ²} − 1
    rule_100 = chi2 / (2 * 100)
    return (
        Exercise(
            "finite_gap_k2",
            "In the three-point example (prior (0.5, 0.3, 0.2), likelihood (0.1, 0.6, 0.3), "
            "encoder (0.2, 0.2, 0.6)), compute the gap log p(x) − L_2 exactly.",
            NumberChecker(gap_2, 1e-4),
            solution=gap_2,
            wrong=gap_1 / 2,
            explanation=(
                "Enumerate the nine ordered pairs of draws (s, t), each with probability q_s q_t, "
                "and average log((w_s + w_t)/2); subtract that from log p(x). Halving the K = 1 "
                "gap assumes the 1/K law, which describes large K only: at K = 2 the gap has "
                "fallen by less than half."
            ),
        ),
        Exercise(
            "chi2_rule",
            "For the conjugate model's mean-shifted encoder (posterior width, mean shifted by 1.5 "
            "posterior standard deviations), what gap does the rule of thumb predict at K = 100?",
            NumberChecker(rule_100, 1e-4),
            solution=rule_100,
            wrong=_CONJUGATE_SHIFT**2 / 2 / 100,
            explanation=(
                "For two Gaussians of equal variance whose means differ by δ standard deviations, "
                "χ² = exp(δ²) − 1, so the gap is about (e^{2.25} − 1)/200. Dividing KL = δ²/2 by K "
                "uses the K = 1 gap instead of the χ² divergence, and underestimates the gap."
            ),
        ),
        Exercise(
            "median_floor",
            "With R = 200 gradient draws per coordinate and every true SNR zero, what is the "
            "median over coordinates of the estimated SNR?",
            NumberChecker(snr_noise_floor(_SNR_DRAWS), 1e-3),
            solution=snr_noise_floor(_SNR_DRAWS),
            wrong=snr_noise_floor(_SNR_DRAWS, "mean"),
            explanation=(
                "The estimate is abs(T)/√R with T Student-t on R − 1 degrees of freedom; its "
                "median is t⁻¹(3/4)/√R ≈ 0.674/√R. The familiar √(2/π)/√R is the floor of a mean "
                "over coordinates, which is larger."
            ),
        ),
    )


_CATALOGUE = {
    "01_jensen_bound": _ch01,
    "02_kl_elbo_identity": _ch02,
    "03_kingma_welling_split": _ch03,
    "04_elbo_surgery": _ch04,
    "05_beta_vae": _ch05,
    "06_importance_weighting": _ch06,
}
#: The chapters (notebook stems) that have exercises.
CHAPTERS = tuple(_CATALOGUE)
"""The chapters that have exercises (file stems)."""


def chapter_exercises(chapter: str) -> dict[str, Exercise]:
    """The exercises of one chapter, by name, in the order the chapter poses them.

    Args:
        chapter: a chapter's file stem, one of :data:`CHAPTERS`.

    Returns:
        A dict from exercise name to exercise.

    Raises:
        TypeError: ``chapter`` is not a string.
        ValueError: the chapter has no exercises.
    """
    if not isinstance(chapter, str):
        raise TypeError(f"chapter must be a file stem (str), got {type(chapter).__name__}")
    if chapter not in _CATALOGUE:
        raise ValueError(f"no exercises for chapter {chapter!r}; chapters: {', '.join(CHAPTERS)}")
    return {ex.name: ex for ex in _CATALOGUE[chapter]()}
