import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from elbo_book import derive
from elbo_book.book import ch06_importance_weighting as ch06
from elbo_book.derive.terms import RandomVariable
from elbo_book.gradient_snr import (
    GradientSNR,
    gradient_draws,
    iwae_gradient_snr,
    signal_to_noise,
)
from elbo_book.importance import iwae_bound, iwae_loss
from elbo_book.reproducibility import seed_everything
from elbo_book.toy_models import LinearGaussianTestBed


def _toy(
    dim: int = 3, *, exact: bool = False, seed: int = 0
) -> tuple[LinearGaussianTestBed, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(dim, generator=g, dtype=torch.float64)
    x = theta + math.sqrt(2.0) * torch.randn(dim, generator=g, dtype=torch.float64)
    if exact:  # q(z|x) = N((θ + x)/2, I/2), the exact posterior
        weight, bias, variance = 0.5 * torch.eye(dim, dtype=torch.float64), theta / 2, 0.5
    else:
        weight = 0.5 * torch.eye(dim, dtype=torch.float64) + 0.1 * torch.randn(
            dim, dim, generator=g, dtype=torch.float64
        )
        bias, variance = theta / 2 + 0.1 * torch.randn(dim, generator=g, dtype=torch.float64), 2 / 3
    return LinearGaussianTestBed(theta, weight, bias, q_variance=variance), x[None]


def test_signal_to_noise_known_values() -> None:
    draws = torch.tensor([[1.0, 5.0, -2.0], [3.0, 5.0, -4.0]])
    snr = signal_to_noise(draws)
    assert snr[0].item() == pytest.approx(2.0 / math.sqrt(2.0))
    assert math.isnan(snr[1].item())  # constant draws: sd = 0, SNR undefined
    assert snr[2].item() == pytest.approx(3.0 / math.sqrt(2.0))
    assert signal_to_noise(draws, "mean").item() == pytest.approx(2.5 / math.sqrt(2.0))
    assert signal_to_noise(draws, "median").item() == pytest.approx(math.sqrt(2.0))


def test_signal_to_noise_all_undefined_is_nan() -> None:
    assert math.isnan(signal_to_noise(torch.ones(4, 2), "mean").item())


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=3),
        min_size=2,
        max_size=6,
    ),
    scale=st.floats(0.01, 100.0) | st.floats(-100.0, -0.01),
)
def test_signal_to_noise_is_scale_invariant(rows: list[list[float]], scale: float) -> None:
    draws = torch.tensor(rows, dtype=torch.float64)
    a, b = signal_to_noise(draws), signal_to_noise(scale * draws)
    defined = draws.std(dim=0) > 1e-6
    assert torch.allclose(a[defined], b[defined], rtol=1e-6, atol=1e-9)
    assert bool((a[defined] >= 0).all())


@pytest.mark.parametrize(
    ("draws", "reduction", "message"),
    [
        (torch.zeros(1, 3), "none", "at least 2 rows"),
        (torch.zeros(3), "none", "2 dimension"),
        (torch.zeros(3, 3), "max", "reduction"),
        ([[1.0, 2.0]], "none", "torch.Tensor"),
    ],
)
def test_signal_to_noise_rejects_bad_input(draws: object, reduction: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signal_to_noise(draws, reduction)  # type: ignore[arg-type]


def test_gradient_draws_stacks_flat_gradients() -> None:
    seed_everything(0)
    used = torch.nn.Parameter(torch.ones(2, 2))
    unused = torch.nn.Parameter(torch.ones(3))
    noise = torch.randn(5, 2, 2)
    it = iter(noise)

    def loss() -> torch.Tensor:
        return (used * next(it)).sum()

    draws = gradient_draws(loss, [used, unused], n_draws=5)
    assert draws.shape == (5, 7)
    assert torch.equal(draws[:, :4], noise.reshape(5, 4))
    assert torch.equal(draws[:, 4:], torch.zeros(5, 3))


def test_gradient_draws_rejects_bad_input() -> None:
    p = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="scalar"):
        gradient_draws(lambda: p * 2, [p], n_draws=2)
    with pytest.raises(ValueError, match="at least one parameter"):
        gradient_draws(lambda: p.sum(), [], n_draws=2)
    with pytest.raises(ValueError, match="n_draws"):
        gradient_draws(lambda: p.sum(), [p], n_draws=1)


def test_linear_gaussian_exact_posterior_makes_every_bound_tight() -> None:
    seed_everything(0)
    model, x = _toy(exact=True)
    with torch.no_grad():
        for k in (1, 7):
            bound = iwae_bound(model, x, n_samples=k, reduction="none")
            assert torch.allclose(bound, model.log_evidence(x), atol=1e-10)


def test_dreg_changes_only_the_encoder_gradient() -> None:
    """Same z's: the decoder gradients of both estimators agree, the encoder ones do not."""
    model, x = _toy()
    params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    draws = {}
    for estimator in ("standard", "dreg"):
        seed_everything(1)
        draws[estimator] = gradient_draws(
            lambda e=estimator: iwae_loss(model, x, n_samples=5, estimator=e), params, n_draws=3
        )
    n_encoder = sum(p.numel() for p in model.encoder.parameters())
    assert torch.allclose(draws["standard"][:, n_encoder:], draws["dreg"][:, n_encoder:])
    assert not torch.allclose(draws["standard"][:, :n_encoder], draws["dreg"][:, :n_encoder])


def test_iwae_gradient_snr_shapes_and_decoder_trend() -> None:
    """Rainforth et al. (2018): the decoder's SNR grows with K (here K = 1 vs 100, seeded)."""
    model, x = _toy(dim=3)
    seed_everything(0)
    one = iwae_gradient_snr(model, x, n_samples=1, n_draws=100)
    seed_everything(0)
    many = iwae_gradient_snr(model, x, n_samples=100, n_draws=100)
    assert isinstance(one, GradientSNR)
    assert one.encoder.shape == (12,) and one.decoder.shape == (3,)
    assert many.summary("median")[1] > 3 * one.summary("median")[1]


def test_iwae_gradient_snr_rejects_bad_input() -> None:
    model, x = _toy()
    with pytest.raises(ValueError, match="model"):
        iwae_gradient_snr(object(), x, n_samples=2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="estimator"):
        iwae_gradient_snr(model, x, n_samples=2, estimator="reinforce")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reduction"):
        GradientSNR(torch.ones(2), torch.ones(2)).summary("max")  # type: ignore[arg-type]


# --- the chapter's derivations (elbo_book.book.ch06_importance_weighting) ---------------------


def test_chapter6_derivations_verify() -> None:
    for derivation in (
        ch06.iwae_unbiased,
        ch06.iwae_lower_bound,
        ch06.iwae_gap,
        ch06.iwae_one_sample_is_elbo,
        ch06.iwae_monotone,
    ):
        assert all(result.proven for result in derivation.check())


def test_iid_draws_semantics_knows_independence() -> None:
    z1, z2, x = RandomVariable("z_1"), RandomVariable("z_2"), derive.x
    product = derive.Derivation(
        "independent_draws",
        derive.E(derive.q(z1, z2 | x), ch06.weight(1) * ch06.weight(2)),
        semantics=(ch06.IIDDraws(),),
    )
    product.eq(derive.p(x) ** 2, "independent draws: E[w_1 w_2] = E[w_1] E[w_2]").verify()


@pytest.mark.parametrize("false_claim", ["square", "double"])
def test_iid_draws_semantics_rejects_false_steps(false_claim: str) -> None:
    z1, z2, z3, x = RandomVariable("z_1"), RandomVariable("z_2"), RandomVariable("z_3"), derive.x
    if false_claim == "square":  # E[w²] is p(x)² (1 + χ²), not p(x)²
        start = derive.E(derive.q(z1 | x), ch06.weight(1) ** 2)
        wrong = derive.p(x) ** 2
    else:
        start = derive.E(derive.q(z1, z2, z3 | x), ch06.average_weight((1, 2, 3)))
        wrong = 2 * derive.p(x)
    derivation = derive.Derivation(f"false_{false_claim}", start, semantics=(ch06.IIDDraws(),))
    with pytest.raises(derive.StepError, match="residual"):
        derivation.eq(wrong, "a false step").verify()


@pytest.mark.parametrize("n_draws", [5, 50, 200])
def test_snr_noise_floor_matches_simulated_zero_signal(n_draws: int) -> None:
    from elbo_book.gradient_snr import snr_noise_floor

    g = torch.Generator().manual_seed(n_draws)
    draws = torch.randn(n_draws, 40_000, generator=g, dtype=torch.float64)  # true SNR 0
    snr = signal_to_noise(draws)
    assert float(snr.median()) == pytest.approx(snr_noise_floor(n_draws), rel=0.03)
    assert float(snr.mean()) == pytest.approx(snr_noise_floor(n_draws, "mean"), rel=0.03)


def test_snr_noise_floor_limits_and_bad_input() -> None:
    from scipy.stats import norm

    from elbo_book.gradient_snr import snr_noise_floor

    big = 10**6
    assert snr_noise_floor(big) * math.sqrt(big) == pytest.approx(norm.ppf(0.75), rel=1e-5)
    assert snr_noise_floor(big, "mean") * math.sqrt(big) == pytest.approx(
        math.sqrt(2 / math.pi), rel=1e-5
    )
    assert snr_noise_floor(200) > math.sqrt(2 / math.pi) / math.sqrt(200) * 0.8
    with pytest.raises(ValueError, match="n_draws"):
        snr_noise_floor(2, "mean")  # t_1 has no mean
    with pytest.raises(ValueError, match="n_draws"):
        snr_noise_floor(1)
    with pytest.raises(ValueError, match="reduction"):
        snr_noise_floor(10, "max")  # type: ignore[arg-type]


def test_log_log_slope() -> None:
    from elbo_book.gradient_snr import log_log_slope

    ks = [1, 4, 16, 64]
    assert log_log_slope(ks, [3 * k**0.5 for k in ks]) == pytest.approx(0.5)
    assert log_log_slope(ks, [2 / k**0.5 for k in ks]) == pytest.approx(-0.5)
    for ks_bad, values in (
        ([1], [1.0]),
        ([1, 2], [1.0]),
        ([1, 2], [1.0, 0.0]),
        ([2, 2], [1.0, 2.0]),
    ):
        with pytest.raises(ValueError):
            log_log_slope(ks_bad, values)


def test_proposal_gradient_draws_estimators() -> None:
    """Standard and DReG agree in mean (unbiased); DReG is noisier for a too-narrow q at K = 2."""
    from elbo_book.gradient_snr import proposal_gradient_draws
    from elbo_book.toy_models import ConjugateGaussian

    seed_everything(0)
    model = ConjugateGaussian(1, 1.0)
    x = torch.tensor([1.2], dtype=torch.float64)
    loc = torch.tensor([0.6], dtype=torch.float64)
    narrow = torch.tensor([0.35], dtype=torch.float64)  # the posterior's sd is 0.707
    stats = {}
    for estimator in ("standard", "dreg"):
        g_loc, g_log_scale = proposal_gradient_draws(
            model, x, loc, narrow, n_samples=2, n_draws=50_000, estimator=estimator
        )
        assert g_loc.shape == g_log_scale.shape == (50_000, 1)
        stats[estimator] = (g_loc[:, 0], g_log_scale[:, 0])
    for index in (0, 1):
        a, b = stats["standard"][index], stats["dreg"][index]
        se = math.hypot(float(a.std()), float(b.std())) / math.sqrt(len(a))
        assert abs(float(a.mean()) - float(b.mean())) < 4 * se
        assert float(b.std()) > 1.5 * float(a.std())
    with pytest.raises(ValueError, match="shape"):
        proposal_gradient_draws(model, x, loc, narrow.repeat(2), n_samples=2, n_draws=4)
    with pytest.raises(ValueError, match="estimator"):
        proposal_gradient_draws(model, x, loc, narrow, n_samples=2, n_draws=4, estimator="x")  # type: ignore[arg-type]
