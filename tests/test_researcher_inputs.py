"""Each silent wrong answer, lost datum and bad error of issue 16, as a regression test.

The property-based suite (test_bad_inputs.py) covers whole classes of bad input; these tests pin
the individual cases a new user met, with the right answer where there is one.
"""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal

from elbo_book.data import load_mnist_npz
from elbo_book.importance import iwae_bound, log_mean_exp
from elbo_book.models import (
    DEFAULT_GAUSSIAN_DECODER_SCALE,
    VAE,
    diagonal_gaussian,
    diagonal_gaussian_from_logvar,
)
from elbo_book.objectives import elbo, elbo_terms
from elbo_book.surgery import kl_decomposition, log_aggregate_posterior, surgery_terms
from elbo_book.toy_models import ConjugateGaussian, LinearGaussianTestBed
from elbo_book.training import History, evaluate, fit, resolve_device, train_step
from elbo_book.validation import MIN_SCALE


def _data(n: int = 12, d: int = 5) -> torch.Tensor:
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(0)) > 0.5).float()


def _model(d: int = 5) -> VAE:
    torch.manual_seed(0)
    return VAE(d, 2, (8,))


# --- silent wrong answers and lost data ------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 6, 5), (5,)])
def test_evaluate_and_fit_refuse_data_that_is_not_one_example_per_row(
    shape: tuple[int, ...],
) -> None:
    x = _data(12, 5).reshape(shape) if len(shape) == 3 else _data(1, 5)[0]
    with pytest.raises(ValueError, match=r"shape \(N, data_dim\)"):
        evaluate(_model(), x)
    with pytest.raises(ValueError, match=r"shape \(N, data_dim\)"):
        fit(_model(), x, epochs=1, progress=False, device="cpu")


def test_evaluate_is_per_example_whatever_the_batch_size() -> None:
    model, x = _model(), _data(12)
    torch.manual_seed(1)
    one = float(evaluate(model, x, batch_size=5, n_samples=4000).elbo)
    torch.manual_seed(1)
    per_example = float(elbo(model, x, n_samples=4000, reduction="mean").detach())
    assert one == pytest.approx(per_example, abs=0.05)


def test_empty_data_raises_instead_of_nan_histories() -> None:
    empty = torch.zeros(0, 5)
    with pytest.raises(ValueError, match="at least one example"):
        fit(_model(), empty, epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="at least one example"):
        fit(_model(), _data(), empty, epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="at least one example"):
        evaluate(_model(), empty)
    with pytest.raises(ValueError, match="at least one example"):
        elbo(_model(), empty)


def test_aggregate_posterior_in_float32_with_small_scales_is_right() -> None:
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(100, 2, generator=g)
    scale = torch.full((100, 2), 1e-4)
    z = loc[:5] + 1e-4 * torch.randn(5, 2, generator=g)
    got = log_aggregate_posterior(z, loc, scale)
    assert got.dtype == torch.float32
    brute = torch.logsumexp(
        Normal(loc.double(), scale.double()).log_prob(z.double().unsqueeze(1)).sum(-1), 1
    ) - math.log(100)
    torch.testing.assert_close(got.double(), brute, rtol=0, atol=1e-5)
    assert float(got.min()) > 11.0  # it was 0.0


@pytest.mark.parametrize("tiny", [1e-9, 1e-11])
def test_mutual_information_stays_below_log_n_for_tiny_scales(tiny: float) -> None:
    loc = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    parts = kl_decomposition(
        loc, torch.full_like(loc, tiny), generator=torch.Generator().manual_seed(1)
    )
    assert parts.mutual_information <= math.log(50) + 1e-6  # it was 62 nats
    assert parts.mutual_information == pytest.approx(math.log(50), abs=1e-6)


def test_scales_below_the_floor_raise_and_tiny_decoder_scales_are_refused() -> None:
    loc = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="MIN_SCALE"):
        diagonal_gaussian(loc, torch.full((3, 2), MIN_SCALE / 10))
    q = diagonal_gaussian(loc, torch.full((3, 2), MIN_SCALE))
    assert bool(torch.isfinite(q.log_prob(torch.zeros(3, 2))).all())
    with pytest.raises(ValueError, match="decoder_scale must be >="):
        VAE(5, 2, (8,), likelihood="gaussian", decoder_scale=1e-30)


def test_surgery_with_one_data_point_has_no_information_and_exact_marginal_kl() -> None:
    terms = surgery_terms(_model(), _data(1), generator=torch.Generator().manual_seed(0))
    assert terms.mutual_information == 0.0
    assert terms.marginal_kl == terms.average_kl >= 0.0


def test_history_kl_weight_is_the_epoch_mean_during_warmup() -> None:
    x = _data(12)  # batch 4: three steps per epoch, warm-up over 2 epochs = 6 steps
    history = fit(
        _model(),
        x,
        epochs=3,
        batch_size=4,
        beta=3.0,
        kl_warmup_epochs=2,
        progress=False,
        device="cpu",
    )
    expected = [3.0 * sum(s / 6 for s in steps) / 3 for steps in ((0, 1, 2), (3, 4, 5))] + [3.0]
    assert history.kl_weight == pytest.approx(expected)


# --- bad errors and rejected valid input ---------------------------------------------------


def test_float64_data_trains_a_float32_model_and_encode_names_the_dtypes() -> None:
    x = _data().double()
    history = fit(_model(), x, x, epochs=1, progress=False, device="cpu")
    assert math.isfinite(history.test_elbo[0])
    assert math.isfinite(float(evaluate(_model(), x).elbo))
    with pytest.raises(ValueError, match=r"dtype torch\.float64 but the model"):
        _model().encode(x)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="CUDA, which is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA"):
        fit(_model(), _data(), epochs=1, progress=False, device="cuda")


def test_log_mean_exp_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match=r"torch.Tensor"):
        log_mean_exp([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim must be <= 0"):
        log_mean_exp(torch.zeros(3), dim=1)
    zero_weights = torch.tensor([-math.inf, -math.inf])
    assert float(log_mean_exp(zero_weights)) == -math.inf  # log of 0: the right answer


def test_mismatched_loc_and_scale_name_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 2\)"):
        diagonal_gaussian(torch.zeros(3, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="logvar"):
        diagonal_gaussian_from_logvar(torch.zeros(3, 2), torch.zeros(3, 1))


def test_hidden_as_an_int_explains_the_tuple() -> None:
    with pytest.raises(ValueError, match=r"write \(8,\)"):
        VAE(5, 2, hidden=8)  # type: ignore[arg-type]


def test_seeds_generators_and_numbers() -> None:
    with pytest.raises(ValueError, match="seed must be <="):
        fit(_model(), _data(), epochs=1, progress=False, device="cpu", seed=2**64)
    with pytest.raises(ValueError, match=r"manual_seed\(s\)"):
        _model().sample(3, generator=0)  # type: ignore[arg-type]
    # NumPy integers and 0-d tensors are integers.
    model = VAE(np.int64(5), torch.tensor(2), (np.int32(8),))  # type: ignore[arg-type]
    assert model.config.data_dim == 5 and type(model.config.latent_dim) is int
    history = fit(
        model, _data(), epochs=np.int64(1), progress=False, device="cpu", seed=torch.tensor(3)
    )  # type: ignore[arg-type]
    assert history.epochs == 1


def test_fit_and_evaluate_name_the_model_class() -> None:
    other = LinearGaussianTestBed(torch.zeros(5), torch.eye(5), torch.zeros(5))
    with pytest.raises(ValueError, match=r"elbo_book\.models\.VAE, got LinearGaussianTestBed"):
        fit(other, _data(), epochs=1, progress=False, device="cpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got LinearGaussianTestBed"):
        evaluate(other, _data())  # type: ignore[arg-type]


def test_iwae_bound_chunks_by_default() -> None:
    model, x = _model(), _data(4)
    sizes: list[int] = []
    decode = model.likelihood

    def spy(z: torch.Tensor) -> Independent:
        sizes.append(z.shape[0])
        return decode(z)

    model.likelihood = spy  # type: ignore[method-assign]
    with torch.no_grad():
        value = iwae_bound(model, x, n_samples=40_000)
    assert math.isfinite(float(value))
    assert max(sizes) == 2**16 // 4 and sum(sizes) == 40_000


def test_negative_kl_weight_and_truthy_strings_are_refused() -> None:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="kl_weight must be >= 0"):
        train_step(model, optimizer, _data(), kl_weight=-1.0)
    with pytest.raises(ValueError, match="analytic_kl must be True or False"):
        elbo_terms(model, _data(), analytic_kl="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="progress must be True or False"):
        fit(model, _data(), epochs=1, progress="no", device="cpu")  # type: ignore[arg-type]


def test_mnist_with_more_labels_than_images_is_refused(tmp_path: object) -> None:
    path = f"{tmp_path}/m.npz"
    images = np.zeros((3, 28, 28), np.uint8)
    np.savez(path, x_train=images, y_train=np.zeros(5, np.int64), x_test=images, y_test=np.zeros(3))
    with pytest.raises(ValueError, match="one label per image: 3 images"):
        load_mnist_npz(path)


def test_tensors_on_another_device_than_the_model() -> None:
    x = _data().to("meta")
    with pytest.raises(ValueError, match="is on meta but the model is on cpu"):
        _model().encode(x)
    with pytest.raises(ValueError, match="meta tensor"):
        evaluate(_model(), x)


# --- friction --------------------------------------------------------------------------------


def test_gaussian_decoder_default_scale_is_the_cli_default() -> None:
    assert VAE(5, 2, likelihood="gaussian").config.decoder_scale == DEFAULT_GAUSSIAN_DECODER_SCALE
    assert VAE(5, 2).config.decoder_scale == 1.0  # Bernoulli: unused
    assert "data_dim" in (VAE.__init__.__doc__ or "")


def test_logvar_clamp_lets_the_gradient_through() -> None:
    logvar = torch.full((1, 2), 100.0, requires_grad=True)
    q = diagonal_gaussian_from_logvar(torch.zeros(1, 2), logvar)
    assert float(q.base_dist.scale.max().detach()) == pytest.approx(math.exp(15.0))  # clamped value
    q.entropy().sum().backward()
    assert logvar.grad is not None and bool((logvar.grad != 0).all())


def test_history_round_trips_through_a_dict() -> None:
    history = History(elbo=[1.0, 2.0], kl=[0.5, 0.25])
    assert History.from_dict(history.to_dict()) == history
    with pytest.raises(ValueError, match="keys"):
        History.from_dict({"elbo": [1.0]})


def test_toy_model_objectives_refuse_an_empty_batch() -> None:
    model = ConjugateGaussian(3)
    q = diagonal_gaussian(torch.zeros(0, 1), torch.ones(0, 1))
    with pytest.raises(ValueError, match="at least one example"):
        elbo(model, torch.zeros(0, 3), q)


def test_slow_calls_can_show_progress(capsys: pytest.CaptureFixture[str]) -> None:
    from elbo_book.importance import log_evidence_estimate

    model, x = _model(), _data(6)
    surgery_terms(model, x, generator=torch.Generator().manual_seed(0), progress=True)
    assert "log q(z)" in capsys.readouterr().err
    log_evidence_estimate(model, x, n_samples=20, chunk_size=5, progress=True)
    assert "log p(x)" in capsys.readouterr().err
    surgery_terms(model, x, generator=torch.Generator().manual_seed(0))
    assert capsys.readouterr().err == ""  # off by default
