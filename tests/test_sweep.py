"""Batched training of S models is the computation of S separate ``fit`` runs.

Tolerance: histories agree to rel/abs 1e-5 (nats) and weights to 1e-5, on runs of three
epochs.  On the development machine (MKL's AVX-512 kernels) they agree bitwise: each stacked
model runs the same kernels on the same numbers as its ``fit`` run, with the same random draws
from its own generators, and every other operation is elementwise or per row.  Other BLAS
kernels block a batched product differently from a single one (with
``MKL_ENABLE_INSTRUCTIONS=AVX2`` the KL differs by 1e-9 after one epoch, the ELBO by 5e-6 nats
and the weights by 6e-8 after three), so the comparison allows float32 rounding accumulated over
a few dozen steps, three orders of magnitude below the differences that another seed or β makes
in these runs (0.03 nats for β = 1 vs 4, 0.7 nats between two seeds; the test checks them).
"""

import math
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from elbo_book.data import load_digits
from elbo_book.experiment_cache import ExperimentCache
from elbo_book.models import VAE, VAEConfig
from elbo_book.stopping import Convergence
from elbo_book.sweep import Member, fit_batched, grid, init_models, train_sweep
from elbo_book.training import History, NonFiniteLossError, adam, fit

CONFIG = VAEConfig(64, 3, (24, 16))
SETTINGS = {"epochs": 3, "batch_size": 50, "lr": 2e-3, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    split = load_digits(binarize=True)
    return split.x_train[:230], split.x_test[:70]  # 230 = 4 full minibatches + one of 30


def _separate(member: Member, config: VAEConfig, data: tuple, **settings: object) -> tuple:
    torch.manual_seed(member.seed)
    model = VAE.from_config(config)
    history = fit(
        model,
        data[0],
        data[1],
        seed=member.seed,
        beta=member.beta,
        kl_warmup_epochs=member.kl_warmup_epochs,
        **{**SETTINGS, **settings},  # type: ignore[arg-type]
    )
    return model, history


# A run of 12 epochs amplifies those roundings: with AMD EPYC's native (and AVX2) kernels the
# weights of one model of the convergence test differ by 1.6e-4 and its history by 7.0e-6 nats
# (Intel AVX-512 and the portable kernels: 9e-8 and 7.0e-6), against 1.15 between two seeds'
# weights. That test allows ten times the measured spreads.
LONG_RUN = {"weights": 2e-3, "history": 1e-4}


def _same_model(a: VAE, b: VAE, tol: float = 1e-5) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.allclose(sa[k], sb[k], rtol=tol, atol=tol) for k in sa
    )


def _same_history(a: History, b: History, tol: float = 1e-5) -> bool:
    da, db = asdict(a), asdict(b)
    for key, value in da.items():
        other = db[key]
        if isinstance(value, list):
            if len(value) != len(other):
                return False
            pairs = zip(value, other, strict=True)
            if not all(math.isclose(x, y, rel_tol=tol, abs_tol=tol) for x, y in pairs):
                return False
        elif key != "stop_note" and value != other:
            return False
    return True


@pytest.mark.parametrize(
    ("config", "n_samples"),
    [
        (CONFIG, 1),
        (VAEConfig(64, 2, (16,), likelihood="gaussian", decoder_scale="learned"), 2),
        (VAEConfig(64, 2, (16,), likelihood="gaussian", decoder_scale=0.3, activation="tanh"), 1),
    ],
)
def test_batched_equals_separate_runs(
    digits: tuple[torch.Tensor, torch.Tensor], config: VAEConfig, n_samples: int
) -> None:
    members = grid(seeds=[0, 3], betas=[1.0, 4.0], kl_warmup_epochs=[0, 2])
    models = init_models(config, members)
    histories = fit_batched(
        models, digits[0], digits[1], members=members, n_samples=n_samples, **SETTINGS
    )
    for member, model, history in zip(members, models, histories, strict=True):
        reference, expected = _separate(member, config, digits, n_samples=n_samples)
        assert _same_history(history, expected), member
        assert _same_model(model, reference), member
        assert history.stop_reason == "epochs" and len(history.test_elbo) == 3
    assert abs(histories[0].elbo[-1] - histories[2].elbo[-1]) > 0.01  # the per-model β matters
    assert abs(histories[0].elbo[-1] - histories[4].elbo[-1]) > 0.1  # and the seed
    assert histories[0].kl_weight == [1.0] * 3 and histories[1].kl_weight[0] < 1.0  # warm-up


def test_member_trains_the_same_in_any_batch(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    members = grid(seeds=[0, 1, 2], betas=[2.0])
    models = init_models(CONFIG, members)
    histories = fit_batched(models, digits[0], members=members, **SETTINGS)
    alone = init_models(CONFIG, members[1:2])
    # Bitwise, which the experiment cache relies on: a member trained with the grid's misses only
    # equals the one a fresh clone trains with the whole grid (checked with MKL's AVX-512, AVX2
    # and SSE4.2 kernels; only batched against unbatched products may round differently).
    assert fit_batched(alone, digits[0], members=members[1:2], **SETTINGS) == histories[1:2]
    for key, value in alone[0].state_dict().items():
        assert torch.equal(value, models[1].state_dict()[key])


def test_convergence_stops_each_model_on_its_own(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    stopping = Convergence(window=1, threshold=0.7)  # two models stop after epoch 2
    members = grid(seeds=[0, 1], betas=[0.5, 8.0])
    models = init_models(CONFIG, members)
    settings = {**SETTINGS, "epochs": 12}
    histories = fit_batched(
        models, digits[0], digits[1], members=members, stopping=stopping, **settings
    )
    assert [h.stop_reason for h in histories].count("converged") >= 2
    assert any(h.stop_reason == "epochs" for h in histories)
    for member, model, history in zip(members, models, histories, strict=True):
        reference, expected = _separate(member, CONFIG, digits, stopping=stopping, epochs=12)
        assert _same_history(history, expected, LONG_RUN["history"])
        assert _same_model(model, reference, LONG_RUN["weights"])
        if history.stop_reason == "converged":
            assert history.converged_epoch == history.epochs
            watched = history.test_objective(member.beta)  # the β-objective, not the ELBO
            assert stopping.converged(watched)
            assert not stopping.converged(watched[:-1])
            assert "< 0.7 over the last 1 epochs" in history.stop_note


def test_non_finite_model_stops_others_continue(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    members = grid(seeds=[0, 1, 2])
    models = init_models(CONFIG, members)
    with torch.no_grad():
        models[1].decoder[0].weight[0, 0] = math.inf  # this model's first loss is not finite
    before = {k: v.clone() for k, v in models[1].state_dict().items()}
    histories = fit_batched(models, digits[0], members=members, **SETTINGS)
    broken = histories[1]
    assert broken.stop_reason == "non-finite" and broken.epochs == 0
    assert "non-finite loss at step 0" in broken.stop_note
    assert all(torch.equal(before[k], v) for k, v in models[1].state_dict().items())
    same = VAE.from_config(CONFIG)
    same.load_state_dict(before)
    with pytest.raises(NonFiniteLossError, match="step 0") as info:  # fit raises instead
        fit(same, digits[0], **{**SETTINGS, "seed": 1})  # type: ignore[arg-type]
    assert str(info.value).split(":")[0] == broken.stop_note.split(":")[0]  # same step
    for i in (0, 2):
        reference, expected = _separate(members[i], CONFIG, (digits[0], None))
        assert _same_history(histories[i], expected) and _same_model(models[i], reference)


@pytest.mark.parametrize(
    ("models", "members", "match"),
    [
        ([], [], "empty sweep"),
        ([VAE(64, 3, (24, 16)), VAE(64, 3, (24,))], grid(seeds=[0, 1]), "one architecture"),
        ([VAE(64, 3, (24, 16))], grid(seeds=[0, 1]), "one member per model"),
    ],
)
def test_bad_sweeps(
    digits: tuple[torch.Tensor, torch.Tensor], models: list, members: list, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        fit_batched(models, digits[0], members=members, **SETTINGS)


def test_grid_and_member_validation() -> None:
    members = grid(seeds=[0, 1], betas=[0.5, 1.0, 2.0])
    assert len(members) == 6 and members[0] == Member(0, 0.5) and members[-1] == Member(1, 2.0)
    for bad in ({"seeds": []}, {"seeds": [0], "betas": []}, {"seeds": [0, 0]}):
        with pytest.raises(ValueError, match=r"empty grid|repeats"):
            grid(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="beta"):
        Member(0, beta=-1.0)
    with pytest.raises(ValueError, match="stopping needs a held-out set"):
        fit_batched(
            init_models(CONFIG, members[:1]),
            torch.zeros(4, 64),
            members=members[:1],
            stopping=Convergence(),
        )


def test_train_sweep_caches_runs(digits: tuple[torch.Tensor, torch.Tensor], tmp_path: Path) -> None:
    cache = ExperimentCache(tmp_path / "cache")
    members = grid(seeds=[0, 1])
    first = train_sweep(CONFIG, members, digits[0], digits[1], cache=cache, **SETTINGS)
    assert [run.cached for run in first] == [False, False] and cache.writes == 2
    grown = [*members, Member(2)]
    second = train_sweep(CONFIG, grown, digits[0], digits[1], cache=cache, **SETTINGS)
    assert [run.cached for run in second] == [True, True, False] and cache.hits == 2
    for a, b in zip(first, second[:2], strict=True):
        assert a.history == b.history and _same_model(a.model, b.model)  # loaded: exact
    fresh = train_sweep(CONFIG, grown, digits[0], digits[1], **SETTINGS)  # no cache at all
    for a, b in zip(second, fresh, strict=True):
        assert _same_history(a.history, b.history) and _same_model(a.model, b.model)
    other = {**SETTINGS, "lr": 1e-3}
    changed = train_sweep(CONFIG, members[:1], digits[0], digits[1], cache=cache, **other)  # type: ignore[arg-type]
    assert not changed[0].cached  # another setting is another key


def test_unwritable_cache_trains_and_warns(
    digits: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ExperimentCache(blocker / "cache")
    with pytest.warns(RuntimeWarning, match="without caching"):
        runs = train_sweep(CONFIG, grid(seeds=[0, 1]), digits[0], cache=cache, **SETTINGS)
    assert len(runs) == 2 and all(isinstance(run.history, History) for run in runs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not once per run
        train_sweep(CONFIG, grid(seeds=[3]), digits[0], cache=cache, **SETTINGS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batched_equals_separate_runs_on_cuda(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    members = grid(seeds=[0, 1], betas=[1.0, 4.0])
    models = init_models(CONFIG, members)
    settings = {**SETTINGS, "device": "cuda"}
    histories = fit_batched(models, digits[0], digits[1], members=members, **settings)  # type: ignore[arg-type]
    for member, model, history in zip(members, models, histories, strict=True):
        reference, expected = _separate(member, CONFIG, digits, device="cuda")
        assert _same_history(history, expected)
        assert _same_model(model.cpu(), reference.cpu())


def test_stacked_adam_is_each_models_own_adam_exactly() -> None:
    """The optimiser alone, no BLAS involved: every element of every model must be updated
    exactly as ``fit``'s own Adam updates it (a purely elementwise computation, so bit for bit).
    The 12-element stack is the case a single fused call over the stack gets wrong: there the
    elements that are a per-model tensor's scalar tail in ``fit`` take the vectorised path, and
    gradients spread over ten orders of magnitude make a few of them round differently."""
    from elbo_book.sweep import _BatchedAdam

    generator = torch.Generator().manual_seed(0)
    shapes = [(8, 12), (8, 64), (8, 3, 5)]
    start = [torch.randn(shape, generator=generator) for shape in shapes]
    grads = [
        [
            torch.randn(shape, generator=generator)
            * 10.0 ** torch.randint(-8, 3, shape, generator=generator).float()
            for shape in shapes
        ]
        for _ in range(200)
    ]
    stacked = [s.clone().requires_grad_(True) for s in start]
    optimizer = _BatchedAdam(stacked, 1e-3)
    for step in grads:
        for p, g in zip(stacked, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for model in range(8):
        own = [s[model].clone().requires_grad_(True) for s in start]
        reference = adam(own, 1e-3)
        for step in grads:
            for p, g in zip(own, step, strict=True):
                p.grad = g[model].clone()
            reference.step()
        for p, s in zip(own, stacked, strict=True):
            assert torch.equal(p.detach(), s.detach()[model])


def test_dropping_models_keeps_the_others_moments() -> None:
    from elbo_book.sweep import _BatchedAdam

    generator = torch.Generator().manual_seed(1)
    start = torch.randn(4, 12, generator=generator)
    grads = [torch.randn(4, 12, generator=generator) for _ in range(6)]
    stacked = start.clone().requires_grad_(True)
    optimizer = _BatchedAdam([stacked], 1e-2)
    for i, g in enumerate(grads):
        if i == 3:  # models 0 and 2 stop; 1 and 3 go on in a smaller stack
            stacked = stacked.detach()[[1, 3]].requires_grad_(True)
            optimizer.keep([1, 3], [stacked])
        stacked.grad = g.clone() if i < 3 else g[[1, 3]]
        optimizer.step()
    for row, model in enumerate((1, 3)):
        own = start[model].clone().requires_grad_(True)
        reference = adam([own], 1e-2)
        for g in grads:
            own.grad = g[model].clone()
            reference.step()
        assert torch.equal(own.detach(), stacked.detach()[row])
