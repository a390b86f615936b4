import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Categorical, Normal, kl_divergence

from elbo_book.models import VAE, diagonal_gaussian
from elbo_book.objectives import beta_elbo, distortion, elbo, elbo_terms, rate
from elbo_book.reproducibility import seed_everything
from elbo_book.toy_models import ConjugateGaussian, GaussianMixture


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


def _binary(n: int, d: int) -> torch.Tensor:
    return torch.randint(0, 2, (n, d)).float()


@settings(max_examples=25, deadline=None)
@given(
    logits=st.lists(st.floats(-4, 4), min_size=3, max_size=3),
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 4),
)
def test_exact_elbo_below_evidence_with_equality_at_posterior(
    logits: list[float], seed: int, batch: int
) -> None:
    """Discrete latent, exact enumeration: ELBO(q) ≤ log p(x) for every q, = at the posterior."""
    model = GaussianMixture(torch.tensor([0.2, 0.5, 0.3]), torch.tensor([[0.0], [2.0], [-2.0]]))
    x = 3 * torch.randn(batch, 1, generator=torch.Generator().manual_seed(seed))
    q = Categorical(logits=torch.tensor(logits).expand(batch, 3))
    log_px = model.log_evidence(x)
    value = elbo(model, x, q, n_samples=None, reduction="none")
    assert bool((value <= log_px + 1e-5).all())
    gap = log_px - value
    torch.testing.assert_close(gap, kl_divergence(q, model.exact_posterior(x)))
    at_posterior = elbo(model, x, model.exact_posterior(x), n_samples=None, reduction="none")
    torch.testing.assert_close(at_posterior, log_px)


@settings(max_examples=15, deadline=None)
@given(
    loc=st.floats(-2, 2),
    log_scale=st.floats(-1.5, 1.0),
    data_dim=st.integers(1, 4),
    noise=st.floats(0.3, 2.0),
)
def test_gaussian_elbo_is_evidence_minus_kl(
    loc: float, log_scale: float, data_dim: int, noise: float
) -> None:
    """Conjugate model: the Monte Carlo ELBO matches log p(x) − KL(q ‖ p(z|x)) ≤ log p(x)."""
    model = ConjugateGaussian(data_dim, noise)
    x = torch.linspace(-1, 1, data_dim, dtype=torch.float64).unsqueeze(0)
    q = diagonal_gaussian(
        torch.full((1, 1), loc, dtype=torch.float64),
        torch.full((1, 1), math.exp(log_scale), dtype=torch.float64),
    )
    exact = model.log_evidence(x) - kl_divergence(q, model.exact_posterior(x))
    assert bool((exact <= model.log_evidence(x)).all())
    n = 20_000
    draws = elbo(model, x.expand(n, -1), q.expand((n,)), analytic_kl=False, reduction="none")
    standard_error = float(draws.std()) / math.sqrt(n)
    assert abs(float(draws.mean() - exact)) < 5 * standard_error + 1e-9


def test_elbo_equals_evidence_at_posterior_for_every_draw() -> None:
    model = ConjugateGaussian(3, 0.5)
    _, x = model.sample(6)
    values = elbo(
        model, x, model.exact_posterior(x), n_samples=1, analytic_kl=False, reduction="none"
    )
    torch.testing.assert_close(values, model.log_evidence(x), atol=1e-4, rtol=1e-5)


def test_monte_carlo_kl_tends_to_analytic_kl() -> None:
    model = VAE(8, 3, (16,))
    x = _binary(4, 8)
    analytic = rate(model, x, reduction="none")
    errors = []
    for n in (10, 10_000):
        monte_carlo = rate(model, x, n_samples=n, analytic_kl=False, reduction="none")
        errors.append(float((monte_carlo - analytic).detach().abs().max()))
    assert errors[1] < 0.05 and errors[1] < errors[0]


def test_terms_are_summed_per_example_and_reduced_alike() -> None:
    """Trap: KL summed over latent dims but reconstruction averaged over pixels (or the
    reverse) puts the two terms on different scales.  Both are per-example sums here."""
    model = VAE(10, 3, (16,))
    x = _binary(5, 10)
    seed_everything(1)
    terms = elbo_terms(model, x, reduction="none")
    seed_everything(1)
    q = model.encode(x)
    base = q.base_dist
    z = q.rsample()
    by_hand_recon = Bernoulli(logits=model.decoder(z)).log_prob(x).sum(-1)
    by_hand_kl = kl_divergence(Normal(base.loc, base.scale), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(terms.reconstruction, by_hand_recon)
    torch.testing.assert_close(terms.kl, by_hand_kl)
    torch.testing.assert_close(terms.elbo, by_hand_recon - by_hand_kl)
    for reduction, op in (("mean", torch.mean), ("sum", torch.sum)):
        seed_everything(1)
        reduced = elbo_terms(model, x, reduction=reduction)
        for full, red in zip(terms, reduced, strict=True):
            torch.testing.assert_close(op(full), red)


def test_check_false_skips_only_the_data_checks() -> None:
    """check=False (a training loop's, after checking its data once) gives the same numbers,
    skips the checks of x against q, and still checks every other argument."""
    model = VAE(6, 2, (8,))
    x = _binary(5, 6)
    q = model.encode(x)
    seed_everything(3)
    checked = elbo_terms(model, x, q, n_samples=2, reduction="none")
    seed_everything(3)
    unchecked = elbo_terms(model, x, q, n_samples=2, reduction="none", check=False)
    for a, b in zip(checked, unchecked, strict=True):
        assert torch.equal(a, b)
    nan_x = x.clone()
    nan_x[0, 0] = math.nan
    with pytest.raises(ValueError, match="finite"):
        elbo_terms(model, nan_x, q)
    assert not bool(torch.isfinite(elbo_terms(model, nan_x, q, check=False).elbo))
    with pytest.raises(ValueError, match="n_samples"):
        elbo_terms(model, x, q, n_samples=0, check=False)
    with pytest.raises(ValueError, match="check"):
        elbo_terms(model, x, q, check="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):  # without q, the encoder still checks x
        elbo_terms(model, nan_x, check=False)


def test_beta_rate_distortion_relations() -> None:
    model = VAE(6, 2, (8,), likelihood="gaussian", decoder_scale=0.5)
    x = torch.rand(7, 6)
    kw = {"n_samples": 3, "reduction": "none"}
    seed_everything(2)
    terms = elbo_terms(model, x, **kw)
    for beta in (0.0, 1.0, 4.0):
        seed_everything(2)
        value = beta_elbo(model, x, beta=beta, **kw)
        torch.testing.assert_close(value, terms.reconstruction - beta * terms.kl)
    seed_everything(2)
    torch.testing.assert_close(elbo(model, x, **kw), terms.elbo)
    seed_everything(2)
    d = distortion(model, x, **kw)
    r = rate(model, x, reduction="none")
    torch.testing.assert_close(-(d + r), terms.elbo)


def test_same_seed_same_numbers() -> None:
    model = VAE(6, 2, (8,))
    x = _binary(4, 6)
    seed_everything(5)
    a = elbo(model, x, n_samples=4, analytic_kl=False)
    seed_everything(5)
    b = elbo(model, x, n_samples=4, analytic_kl=False)
    assert torch.equal(a, b)


def test_gradients_are_finite() -> None:
    model = VAE(6, 2, (8,))
    x = _binary(4, 6)
    (-elbo(model, x, n_samples=2)).backward()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x: elbo(m, x, n_samples=0), "n_samples"),
        (lambda m, x: elbo(m, x, reduction="avg"), "reduction"),
        (lambda m, x: beta_elbo(m, x, beta=-1.0), "beta"),
        (lambda m, x: elbo(m, x, n_samples=None), "finite support"),
        (lambda m, x: elbo(m, x[:, :3]), "last dimension"),
        (lambda m, x: elbo(m, x.long()), "floating-point"),
        (lambda m, x: elbo(m, x, diagonal_gaussian(torch.zeros(2, 2), torch.ones(2, 2))), "batch"),
        (lambda m, x: elbo(object(), x), "LatentVariableModel"),  # type: ignore[arg-type]
        (lambda m, x: elbo(ConjugateGaussian(6), x), "pass the variational distribution"),
    ],
)
def test_bad_inputs(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call(VAE(6, 2, (8,)), _binary(4, 6))


@settings(max_examples=20, deadline=None)
@given(
    n_samples=st.integers(-5, 0),
    beta=st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False),
    bad_value=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_bad_inputs_property(n_samples: int, beta: float, bad_value: float) -> None:
    """Any K < 1, any β < 0 and any non-finite entry is refused with a ValueError."""
    model = ConjugateGaussian(2)
    x = torch.zeros(3, 2)
    q = diagonal_gaussian(torch.zeros(3, 1), torch.ones(3, 1))
    with pytest.raises(ValueError, match="n_samples"):
        elbo(model, x, q, n_samples=n_samples)
    with pytest.raises(ValueError, match="beta"):
        beta_elbo(model, x, q, beta=beta)
    x_bad = x.clone()
    x_bad[1, 0] = bad_value
    with pytest.raises(ValueError, match="NaN or inf"):
        elbo(model, x_bad, q)
