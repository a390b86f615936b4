import math

import pytest
import torch

from elbo_book.experiment_cache import ExperimentCache
from elbo_book.importance import IWAEObjective, iwae_loss, log_evidence_estimate
from elbo_book.iwae_training import (
    active_units,
    fit_iwae,
    held_out_log_likelihood,
    log_likelihood_per_image,
)
from elbo_book.models import VAE
from elbo_book.reproducibility import seed_everything
from elbo_book.stopping import Convergence
from elbo_book.training import History, cached_fit


def _data(n: int = 240, dim: int = 12, seed: int = 0) -> torch.Tensor:
    """Binary data from two prototypes with 10 % of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(2, dim, generator=g) > 0.5).float()
    x = prototypes[torch.randint(0, 2, (n,), generator=g)]
    flip = torch.rand(n, dim, generator=g) < 0.1
    return torch.where(flip, 1 - x, x)


def _vae(seed: int = 0, latent: int = 3) -> VAE:
    seed_everything(seed)
    return VAE(12, latent, hidden=(16,), activation="tanh")


def test_fit_iwae_improves_the_held_out_bound_and_stops() -> None:
    x = _data()
    model = _vae()
    before = float(log_evidence_estimate(model, x[200:], n_samples=5, reduction="mean"))
    rule = Convergence(window=3, threshold=0.05)
    history = fit_iwae(model, x[:200], x[200:], n_samples=5, stopping=rule, max_epochs=300, lr=1e-2)
    assert history.stop_reason == "converged" and history.converged_epoch == history.epochs
    assert history.epochs < 300 and len(history.held_out) == history.epochs
    assert history.held_out[-1] > before + 1.0
    assert rule.converged(history.held_out) and not rule.converged(history.held_out[:-1])
    assert "improved by" in history.stop_note


def _loop_before_the_merge(
    model: VAE, x_train: torch.Tensor, x_test: torch.Tensor, n_samples: int, epochs: int
) -> tuple[list[float], list[float]]:
    """The training loop fit_iwae had before it became fit with an IWAEObjective (a reference)."""
    torch.manual_seed(0)
    order_generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_bound, test_bound = [], []
    for _ in range(epochs):
        model.train()
        order = torch.randperm(x_train.shape[0], generator=order_generator)
        total = 0.0
        for start in range(0, x_train.shape[0], 50):
            batch = x_train[order[start : start + 50]]
            loss = iwae_loss(model, batch, n_samples=n_samples)
            value = loss.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total -= value * batch.shape[0]
        train_bound.append(total / x_train.shape[0])
        model.eval()
        with torch.no_grad():
            estimate = log_evidence_estimate(model, x_test, n_samples=n_samples, reduction="sum")
        test_bound.append(float(estimate) / x_test.shape[0])
    return train_bound, test_bound


@pytest.mark.parametrize("n_samples", [1, 5])
def test_fit_iwae_reproduces_its_former_loop_bit_for_bit(n_samples: int) -> None:
    """The same seeds, draws, minibatches and unfused Adam: equal weights and bounds."""
    x = _data()
    reference, folded = _vae(), _vae()
    expected = _loop_before_the_merge(reference, x[:200], x[200:], n_samples, 3)
    rule = Convergence(window=50, threshold=0.01)
    history = fit_iwae(
        folded,
        x[:200],
        x[200:],
        n_samples=n_samples,
        stopping=rule,
        max_epochs=3,
        batch_size=50,
        lr=1e-2,
    )
    assert (history.train_objective, history.held_out) == expected
    for a, b in zip(reference.state_dict().values(), folded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_fit_iwae_budget_and_reproducibility() -> None:
    x = _data()
    rule = Convergence(window=50, threshold=0.01)
    runs = []
    for _ in range(2):
        model = _vae()
        runs.append(fit_iwae(model, x[:200], x[200:], n_samples=3, stopping=rule, max_epochs=2))
    assert runs[0].stop_reason == "epochs" and runs[0].epochs == 2
    assert runs[0].to_dict() == runs[1].to_dict()
    assert History.from_dict(runs[0].to_dict()) == runs[0]
    assert runs[0].elbo == [] and len(runs[0].train_objective) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 0}, "n_samples"),
        ({"stopping": None}, "Convergence"),
        ({"lr": -1.0}, "lr"),
        ({"estimator": "stl"}, "estimator"),
        ({"max_epochs": 0}, "max_epochs"),
    ],
)
def test_fit_iwae_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    x = _data()
    settings: dict[str, object] = {"n_samples": 2, "stopping": Convergence(window=2)}
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_iwae(_vae(), x[:200], x[200:], **settings)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="VAE"):
        fit_iwae(object(), x, x, n_samples=1, stopping=Convergence())  # type: ignore[arg-type]


def test_cached_fit_of_an_iwae_run_hits_and_equals_retraining(tmp_path: object) -> None:
    x = _data()
    cache = ExperimentCache(tmp_path)  # type: ignore[arg-type]
    rule = Convergence(window=2, threshold=1.0)

    def cached(model: VAE, *, fused: bool = False) -> tuple[History, bool]:
        return cached_fit(
            model,
            x[:200],
            x[200:],
            cache=cache,
            objective=IWAEObjective(2),
            epochs=3,
            batch_size=100,
            stopping=rule,
            optimizer=torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused),
            device="cpu",
            progress=False,
        )

    first, hit_first = cached(_vae())
    trained = _vae()
    second, hit_second = cached(trained)
    assert (hit_first, hit_second) == (False, True) and first == second
    retrained = _vae()
    fit_iwae(retrained, x[:200], x[200:], n_samples=2, stopping=rule, max_epochs=3)
    for a, b in zip(trained.state_dict().values(), retrained.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the cache returns what retraining gives
    assert not cached(_vae(seed=1))[1]  # other initial weights, another key
    assert not cached(_vae(), fused=True)[1]  # the optimizer's defaults are in the key
    model = _vae()
    used = torch.optim.Adam(model.parameters(), lr=1e-3)
    IWAEObjective(2).loss(model, x[:10]).backward()
    used.step()  # an optimizer with state: its moments would not be in the key
    with pytest.raises(ValueError, match="fresh optimizer"):
        cached_fit(model, x, x, cache=cache, objective=IWAEObjective(2), optimizer=used)


def test_held_out_log_likelihood_mean_and_standard_error() -> None:
    x = _data(60)
    model = _vae()
    seed_everything(1)
    mean, se = held_out_log_likelihood(model, x, n_samples=200, batch_size=7)
    seed_everything(1)
    values = torch.cat(
        [log_evidence_estimate(model, x[s : s + 7], n_samples=200) for s in range(0, 60, 7)]
    )
    assert mean == pytest.approx(float(values.mean()), rel=1e-6)
    assert se == pytest.approx(float(values.std()) / math.sqrt(60), rel=1e-5)
    assert mean < 0 < se
    with pytest.raises(ValueError, match="at least 2"):
        held_out_log_likelihood(model, x[:1])


def test_log_likelihood_per_image_is_the_per_image_estimate() -> None:
    x = _data(30)
    model = _vae()
    seed_everything(2)
    values = log_likelihood_per_image(model, x, n_samples=100, batch_size=8)
    seed_everything(2)
    expected = torch.cat(
        [log_evidence_estimate(model, x[s : s + 8], n_samples=100) for s in range(0, 30, 8)]
    )
    assert values.dtype == torch.float64 and values.shape == (30,)
    assert torch.allclose(values, expected.double(), rtol=1e-6)
    # more draws give a larger (less biased) estimate on average: L_K increases with K
    seed_everything(3)
    one = log_likelihood_per_image(model, x, n_samples=1)
    assert float(values.mean()) > float(one.mean())
    with pytest.raises(ValueError, match="n_samples"):
        log_likelihood_per_image(model, x, n_samples=0)


def test_active_units_counts_units_whose_mean_varies() -> None:
    model = _vae(latent=3)
    x = _data(100)
    last = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # the first 3 outputs are the means: unit 0 varies, 1 and 2 barely
        last.weight[0] *= 20.0
        last.weight[1] = 0.0
        last.weight[2] *= 1e-4
    count, activity = active_units(model, x)
    assert count == 1 and float(activity[1]) == 0.0 and float(activity[0]) > 1e-2
    count, activity = active_units(model, x)
    means = model.encode(x).mean.detach().double()
    assert torch.allclose(activity, means.var(dim=0))
    assert count == int((means.var(dim=0) > 1e-2).sum())
    assert active_units(model, x, threshold=float(activity.max()) * 2)[0] == 0
    assert active_units(model, x, threshold=float(activity[activity > 0].min()) / 2)[0] == 2
    with pytest.raises(ValueError, match="threshold"):
        active_units(model, x, threshold=0.0)
