import math
from pathlib import Path

import pytest
import torch

from elbo_book.data import load_digits
from elbo_book.experiment_cache import ExperimentCache
from elbo_book.models import VAE
from elbo_book.objectives import elbo_terms
from elbo_book.reproducibility import seed_everything
from elbo_book.stopping import Convergence
from elbo_book.training import (
    History,
    NonFiniteLossError,
    adam,
    cached_fit,
    evaluate,
    fit,
    objective_key,
    train_step,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    seed_everything(0)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    split = load_digits(binarize=True)
    return split.x_train[:400], split.x_test[:100]


def _train(data: tuple[torch.Tensor, torch.Tensor], seed: int = 0, **kw: object) -> History:
    torch.manual_seed(seed)
    model = VAE(64, 2, (32,))
    return fit(model, data[0], data[1], epochs=3, progress=False, seed=seed, device="cpu", **kw)  # type: ignore[arg-type]


def test_fit_records_history_and_improves(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    history = _train(digits)
    assert history.epochs == 3
    for values in (history.test_elbo, history.test_reconstruction, history.test_kl, history.kl):
        assert len(values) == 3 and all(math.isfinite(v) for v in values)
    assert history.elbo[-1] > history.elbo[0]
    for train, recon, kl in zip(history.elbo, history.reconstruction, history.kl, strict=True):
        assert math.isclose(train, recon - kl, rel_tol=1e-6, abs_tol=1e-6)


def test_same_seed_same_history(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    assert _train(digits, seed=3) == _train(digits, seed=3)
    assert _train(digits, seed=3).elbo != _train(digits, seed=4).elbo


def test_kl_warmup_and_beta(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    history = _train(digits, beta=4.0, kl_warmup_epochs=2)
    weights = history.kl_weight
    assert weights[0] < weights[1] < weights[2] == 4.0
    assert _train(digits, beta=0.0).kl_weight == [0.0, 0.0, 0.0]


def test_nan_guard_names_step_and_terms(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = VAE(64, 2, (32,))
    with torch.no_grad():
        model.decoder[0].weight.fill_(math.nan)
    with pytest.raises(NonFiniteLossError, match=r"step 0.*reconstruction=nan") as info:
        fit(model, digits[0], epochs=1, progress=False, device="cpu")
    assert info.value.step == 0 and math.isnan(info.value.terms["reconstruction"])


def test_train_step_and_evaluate(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = VAE(64, 2, (32,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    terms = train_step(model, optimizer, digits[0][:32])
    assert not terms.elbo.requires_grad
    result = evaluate(model, digits[1], batch_size=30)
    assert math.isclose(float(result.elbo), float(result.reconstruction - result.kl), rel_tol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"beta": -0.1}, "beta"),
        ({"kl_warmup_epochs": -1}, "kl_warmup_epochs"),
    ],
)
def test_fit_bad_arguments(
    digits: tuple[torch.Tensor, torch.Tensor], kwargs: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fit(VAE(64, 2, (8,)), digits[0], progress=False, **kwargs)


def test_fit_rejects_non_binary_data_for_bernoulli() -> None:
    with pytest.raises(ValueError, match="x_train must be binary"):
        fit(VAE(64, 2, (8,)), load_digits().x_train, progress=False)


def test_unchecked_step_is_the_same_step(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    """``check_data=False`` (what fit uses after checking once) changes no number."""
    results = []
    for check in (True, False):
        seed_everything(7)
        model = VAE(64, 2, (16,))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        terms = [train_step(model, optimizer, digits[0][:50], check_data=check) for _ in range(3)]
        results.append(torch.stack([torch.stack(tuple(t)) for t in terms]))
    assert torch.equal(results[0], results[1])
    with pytest.raises(ValueError, match="binary"):
        train_step(VAE(64, 2, (8,)), optimizer, torch.full((4, 64), 0.5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
def test_fit_evaluate_and_iwae_on_cuda(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    from elbo_book.importance import log_evidence_estimate

    model = VAE(64, 2, (32,))
    history = fit(model, digits[0], digits[1], epochs=2, progress=False, device="cuda")
    assert all(math.isfinite(v) for v in history.elbo + history.test_elbo)
    assert next(model.parameters()).device.type == "cuda"
    assert model.prior().mean.device.type == "cuda"
    x = digits[1][:8].cuda()
    assert torch.isfinite(log_evidence_estimate(model, x, n_samples=64)).all()
    assert model.sample(4).device.type == "cuda"


def test_adam_is_fused_where_torch_has_a_fused_kernel() -> None:
    model = VAE(64, 2, hidden=(8,))
    optimizer = adam(model.parameters(), 1e-3)
    assert optimizer.defaults["fused"] is True and optimizer.defaults["lr"] == 1e-3
    with pytest.raises(ValueError, match="lr"):
        adam(model.parameters(), 0.0)
    with pytest.raises(ValueError, match="at least one parameter"):
        adam([], 1e-3)


def test_fit_trains_with_adam(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    """``fit`` without an optimiser is ``fit`` with ``adam(model.parameters(), lr)``."""
    seed_everything(0)
    a = VAE(64, 2, hidden=(16,))
    b = VAE(64, 2, hidden=(16,))
    b.load_state_dict(a.state_dict())
    ha = fit(a, digits[0][:200], epochs=2, batch_size=50, lr=3e-3, seed=1, progress=False)
    hb = fit(
        b,
        digits[0][:200],
        epochs=2,
        batch_size=50,
        seed=1,
        progress=False,
        optimizer=adam(b.parameters(), 3e-3),
    )
    assert ha.elbo == hb.elbo
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_stopping_watches_the_trained_objective() -> None:
    """For β ≠ 1 the rule watches the held-out β-objective, not the ELBO: a history whose ELBO
    keeps falling while reconstruction − β·KL rises has not converged."""
    history = History(
        test_elbo=[-10.0, -10.5, -11.0, -11.5],
        test_reconstruction=[-5.0, -4.0, -3.0, -2.0],
        test_kl=[5.0, 6.5, 8.0, 9.5],
    )
    assert history.test_objective(1.0) == history.test_elbo
    assert history.test_objective(0.5) == [-7.5, -7.25, -7.0, -6.75]
    rule = Convergence(window=2, threshold=0.1)
    assert rule.converged(history.test_elbo)  # the ELBO stopped improving ...
    assert not rule.converged(history.test_objective(0.5))  # ... the β = 0.5 objective did not
    with pytest.raises(ValueError, match="beta"):
        history.test_objective(-1.0)


def test_fit_stops_on_the_beta_objective(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    seed_everything(0)
    model = VAE(64, 2, hidden=(16,))
    rule = Convergence(window=2, threshold=5.0)  # converges at the first chance, epoch 3
    history = fit(
        model, digits[0][:200], digits[1][:100], epochs=6, beta=4.0, stopping=rule, progress=False
    )
    assert history.stop_reason == "converged" and history.converged_epoch == 3
    assert history.stop_note == rule.describe(history.test_objective(4.0))


class _BetaObjective:
    """The β-objective computed exactly as ``train_step`` computes it (a test double)."""

    def __init__(self, beta: float = 1.0, n_samples: int = 1) -> None:
        self.beta, self.n_samples = beta, n_samples

    def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
        q = model.encode(x, check=False)
        terms = elbo_terms(model, x, q, n_samples=self.n_samples, reduction="none", check=False)
        reconstruction, kl = terms.reconstruction, terms.kl
        if self.beta == 1.0:
            return (kl - reconstruction).mean()
        return (self.beta * kl - reconstruction).mean()

    def held_out(self, model: VAE, x: torch.Tensor) -> float:
        assert not model.training and not torch.is_grad_enabled()
        terms = evaluate(model, x, n_samples=self.n_samples)
        return float(terms.reconstruction) - self.beta * float(terms.kl)

    def config(self) -> dict[str, float]:
        return {"beta": self.beta, "n_samples": self.n_samples}


@pytest.mark.parametrize("beta", [1.0, 4.0])
def test_objective_equal_to_the_beta_objective_reproduces_fit(
    digits: tuple[torch.Tensor, torch.Tensor], beta: float
) -> None:
    """Same seeding, order, optimiser and draws: the weights agree bit for bit, the recorded
    train objective is the ELBO's β-version and the held-out values are test_objective(β)."""
    seed_everything(0)
    a = VAE(64, 2, hidden=(16,))
    b = VAE(64, 2, hidden=(16,))
    b.load_state_dict(a.state_dict())
    rule = Convergence(window=2, threshold=1e-9)  # never fires in 4 epochs of a fresh model
    kwargs: dict = {"epochs": 4, "batch_size": 50, "seed": 5, "progress": False, "stopping": rule}
    ha = fit(a, digits[0][:200], digits[1], beta=beta, **kwargs)
    hb = fit(b, digits[0][:200], digits[1], objective=_BetaObjective(beta), **kwargs)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert hb.held_out == pytest.approx(ha.test_objective(beta), rel=1e-6)  # float32 sums
    train_beta = [r - beta * k for r, k in zip(ha.reconstruction, ha.kl, strict=True)]
    assert hb.train_objective == pytest.approx(train_beta, rel=1e-5)
    assert hb.elbo == [] and hb.test_elbo == [] and ha.train_objective == ha.held_out == []
    assert hb.epochs == ha.epochs == 4
    assert (hb.stop_reason, hb.stop_note) == (ha.stop_reason, rule.describe(hb.held_out))
    assert History.from_dict(hb.to_dict()) == hb


def test_objective_stopping_watches_held_out(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The rule watches ``held_out``: an objective whose held-out value keeps rising by 1 never
    converges, one whose value is constant converges at epoch window + 1."""

    class Scripted(_BetaObjective):
        def __init__(self, values: list[float]) -> None:
            super().__init__()
            self.values = iter(values)

        def held_out(self, model: VAE, x: torch.Tensor) -> float:
            return next(self.values)

    rule = Convergence(window=2, threshold=0.5)
    kwargs: dict = {"epochs": 5, "progress": False, "stopping": rule}
    rising = fit(
        VAE(64, 2, (8,)), digits[0], digits[1], objective=Scripted([0, 1, 2, 3, 4]), **kwargs
    )
    assert rising.stop_reason == "epochs" and rising.held_out == [0, 1, 2, 3, 4]
    flat = fit(VAE(64, 2, (8,)), digits[0], digits[1], objective=Scripted([0.0] * 5), **kwargs)
    assert flat.stop_reason == "converged" and flat.converged_epoch == 3 == flat.epochs
    assert flat.stop_note == rule.describe([0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"objective": object()}, "objective must be None or an Objective"),
        ({"objective": _BetaObjective(), "beta": 2.0}, "beta must keep the default"),
        ({"objective": _BetaObjective(), "kl_warmup_epochs": 1}, "kl_warmup_epochs"),
        ({"objective": _BetaObjective(), "n_samples": 5}, "n_samples"),
        ({"objective": _BetaObjective(), "history": History(elbo=[1.0])}, "without an objective"),
        ({"history": History(train_objective=[1.0])}, "with an objective"),
    ],
)
def test_fit_with_objective_bad_arguments(
    digits: tuple[torch.Tensor, torch.Tensor], kwargs: dict, match: str
) -> None:
    model = VAE(64, 2, (8,))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=match):
        fit(model, digits[0], progress=False, **kwargs)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_objective_loss_must_be_a_finite_scalar(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    class PerRow(_BetaObjective):
        def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
            return super().loss(model, x).expand(len(x))

    class Broken(_BetaObjective):
        def loss(self, model: VAE, x: torch.Tensor) -> torch.Tensor:
            return super().loss(model, x) * math.nan

    with pytest.raises(ValueError, match=r"one-element tensor.*shape \(128,\)"):
        fit(VAE(64, 2, (8,)), digits[0], objective=PerRow(), progress=False)
    model = VAE(64, 2, (8,))
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(NonFiniteLossError, match="step 0") as info:
        fit(model, digits[0], objective=Broken(), progress=False)
    assert math.isnan(info.value.terms["loss"])
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_cached_fit_with_an_objective(
    digits: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    """A second identical run is a hit with the same weights and history; the objective's class
    and config() are in the key; an objective without config() cannot be cached."""
    cache = ExperimentCache(tmp_path)

    def run(objective: object, seed: int = 0) -> tuple[History, bool, VAE]:
        torch.manual_seed(seed)
        model = VAE(64, 2, (8,))
        history, hit = cached_fit(
            model, digits[0], digits[1], cache=cache, objective=objective, epochs=2, progress=False
        )
        return history, hit, model

    first, hit1, m1 = run(_BetaObjective(2.0))
    again, hit2, m2 = run(_BetaObjective(2.0))
    assert (hit1, hit2) == (False, True) and again == first and len(first.held_out) == 2
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    assert not run(_BetaObjective(3.0))[1]  # another config
    assert not run(_BetaObjective(2.0), seed=1)[1]  # other initial weights

    class Renamed(_BetaObjective):
        pass

    assert not run(Renamed(2.0))[1]  # another class
    assert objective_key(Renamed(2.0)) == {
        "class": f"{__name__}.test_cached_fit_with_an_objective.<locals>.Renamed",
        "config": {"beta": 2.0, "n_samples": 1},
    }

    class NoConfig:
        loss = _BetaObjective.loss
        held_out = _BetaObjective.held_out

    with pytest.raises(ValueError, match="no config"):
        run(NoConfig())
    with pytest.raises(ValueError, match="uncacheable"):
        cached_fit(VAE(64, 2, (8,)), digits[0], cache=cache, history=History())
