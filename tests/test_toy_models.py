import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Categorical

from elbo_book.reproducibility import seed_everything
from elbo_book.toy_models import ConjugateGaussian, GaussianMixture, LinearGaussianTestBed


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


@settings(max_examples=25, deadline=None)
@given(
    data_dim=st.integers(1, 5),
    noise=st.floats(0.1, 3.0),
    batch=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 1000),
)
def test_conjugate_bayes_identity(data_dim: int, noise: float, batch: list[int], seed: int) -> None:
    """log p(x) = log p(x, z) − log p(z|x) at every z: posterior and evidence agree."""
    g = torch.Generator().manual_seed(seed)
    model = ConjugateGaussian(data_dim, noise, dtype=torch.float64)
    x = 2 * torch.randn(*batch, data_dim, generator=g, dtype=torch.float64)
    posterior = model.exact_posterior(x)
    assert posterior.batch_shape == torch.Size(batch)
    for _ in range(2):
        z = 3 * torch.randn(*batch, 1, generator=g, dtype=torch.float64)
        joint = model.likelihood(z).log_prob(x) + model.prior().log_prob(z)
        torch.testing.assert_close(joint - posterior.log_prob(z), model.log_evidence(x))


def test_conjugate_sample_and_errors() -> None:
    model = ConjugateGaussian(3, 0.5)
    z, x = model.sample(7)
    assert z.shape == (7, 1) and x.shape == (7, 3)
    with pytest.raises(ValueError, match="noise_scale"):
        ConjugateGaussian(1, 0.0)
    with pytest.raises(ValueError, match="data_dim"):
        ConjugateGaussian(0)
    with pytest.raises(ValueError, match="last dimension 3"):
        model.log_evidence(torch.zeros(2, 2))


def test_conjugate_dtype_without_the_global_default() -> None:
    """A float64 model samples and scores in float64 and draws what the old global switch drew."""
    model = ConjugateGaussian(2, 0.5, dtype=torch.float64)
    z, x = model.sample(5, generator=torch.Generator().manual_seed(3))
    assert z.dtype == x.dtype == torch.float64 == model.prior().mean.dtype
    assert model.log_evidence(x).dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32  # nothing global was touched
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:  # what sampling did under chapter 6's former global switch: the same draws, bit for bit
        g = torch.Generator().manual_seed(3)
        z_old = torch.randn((5, 1), generator=g)
        x_old = z_old + 0.5 * torch.randn((5, 2), generator=g)
    finally:
        torch.set_default_dtype(previous)
    assert torch.equal(z, z_old) and torch.equal(x, x_old)
    assert ConjugateGaussian(2, 0.5).sample(1)[1].dtype == torch.float32
    for bad in (torch.int64, "float64", None):
        with pytest.raises(ValueError, match="dtype"):
            ConjugateGaussian(2, 0.5, dtype=bad)  # type: ignore[arg-type]


def _mixture() -> GaussianMixture:
    return GaussianMixture(
        torch.tensor([1.0, 2.0, 1.0]), torch.tensor([[0.0, 0.0], [2.0, -1.0], [-3.0, 1.0]]), 0.7
    )


def test_mixture_exact_answers_by_enumeration() -> None:
    model = _mixture()
    x = torch.randn(5, 2)
    posterior = model.exact_posterior(x)
    assert isinstance(posterior, Categorical)
    torch.testing.assert_close(posterior.probs.sum(-1), torch.ones(5))
    for k in range(3):
        z = torch.full((5,), k)
        joint = model.likelihood(z).log_prob(x) + model.prior().log_prob(z)
        torch.testing.assert_close(joint - posterior.log_prob(z), model.log_evidence(x))
    z, xs = model.sample(11)
    assert z.shape == (11,) and xs.shape == (11, 2)


def test_mixture_bad_inputs() -> None:
    with pytest.raises(ValueError, match="weights must be > 0"):
        GaussianMixture(torch.tensor([1.0, -1.0]), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="one row per component"):
        GaussianMixture(torch.tensor([1.0, 1.0]), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="integer tensor"):
        _mixture().likelihood(torch.zeros(2))
    with pytest.raises(ValueError, match=r"lie in 0\.\.2"):
        _mixture().likelihood(torch.tensor([3]))


def test_mixture_log_joint_is_prior_plus_likelihood() -> None:
    means = torch.tensor([[-2.0], [0.0], [2.5]])
    model = GaussianMixture(torch.tensor([0.5, 0.3, 0.2]), means, 1.0)
    x = torch.tensor([[0.8], [-1.0]])
    by_parts = torch.stack(
        [
            model.prior().log_prob(torch.tensor(k)) + model.likelihood(torch.tensor(k)).log_prob(x)
            for k in range(3)
        ],
        dim=-1,
    )
    torch.testing.assert_close(model.log_joint(x), by_parts)
    torch.testing.assert_close(model.log_joint(x).logsumexp(-1), model.log_evidence(x))


def test_linear_gaussian_test_bed_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        LinearGaussianTestBed(torch.zeros(2), torch.eye(3), torch.zeros(2))
    with pytest.raises(ValueError, match="q_variance"):
        LinearGaussianTestBed(torch.zeros(2), torch.eye(2), torch.zeros(2), q_variance=0.0)


def test_test_bed_near_optimum_is_the_optimum_without_noise() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.randn(64, 3, generator=g, dtype=torch.float64) + 1.0
    model = LinearGaussianTestBed.near_optimum(data, 0.0)
    theta = model.decoder["theta"].detach()
    assert torch.allclose(theta, data.mean(dim=0))
    assert torch.allclose(model.encoder["bias"].detach(), theta / 2)
    # at the optimum the log evidence sum_n log p(x_n) has zero gradient in θ
    model.log_evidence(data).sum().backward()
    assert model.decoder["theta"].grad is not None
    assert float(model.decoder["theta"].grad.abs().max()) < 1e-10
    perturbed = LinearGaussianTestBed.near_optimum(data, 0.01, generator=g)
    moved = (perturbed.encoder["weight"] - 0.5 * torch.eye(3, dtype=torch.float64)).detach()
    assert 0.002 < float(moved.std()) < 0.03
    with pytest.raises(ValueError, match="perturbation"):
        LinearGaussianTestBed.near_optimum(data, -1.0)
    with pytest.raises(ValueError, match="at least one row"):
        LinearGaussianTestBed.near_optimum(data[:0], 0.01)
