"""Tests for the β-TCVAE objective (elbo_book.tc_objectives)."""

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal

from elbo_book.models import VAE
from elbo_book.stopping import Convergence
from elbo_book.surgery import minibatch_weights
from elbo_book.tc_objectives import BetaTCVAE, FactorVAE, permute_dimensions
from elbo_book.training import fit


def _model_and_data(seed: int, n: int = 12) -> tuple[VAE, torch.Tensor]:
    torch.manual_seed(seed)
    model = VAE(data_dim=5, latent_dim=3, hidden=(8,))
    x = (torch.rand(n, 5) < 0.5).float()
    return model, x


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(2, 12))
def test_tc_weight_one_is_the_one_sample_negative_elbo(seed: int, batch: int) -> None:
    model, x = _model_and_data(seed)
    x = x[:batch]
    torch.manual_seed(seed + 1)
    loss = BetaTCVAE(1.0, 12, weights="mss").loss(model, x)
    torch.manual_seed(seed + 1)
    q = model.encode(x)
    z = q.rsample()
    negative_elbo = -(
        model.decode(z).log_prob(x) + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z)
    ).mean()
    assert float(loss.detach()) == pytest.approx(float(negative_elbo.detach()), rel=1e-5, abs=1e-5)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), tc_weight=st.floats(0.0, 20.0))
def test_loss_adds_the_weighted_total_correlation(seed: int, tc_weight: float) -> None:
    model, x = _model_and_data(seed)
    objective = BetaTCVAE(tc_weight, 40)
    torch.manual_seed(seed)
    terms = objective.terms(model, x)
    torch.manual_seed(seed)
    loss = objective.loss(model, x)
    expected = (
        terms.distortion
        + terms.mutual_information
        + tc_weight * terms.total_correlation
        + terms.dimensionwise_kl
    )
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6, abs=1e-6)


def test_whole_data_set_terms_are_exact_with_equal_weights() -> None:
    # With B = N every equal weight is 1/N, so log q̂ is the aggregate posterior itself.
    model, x = _model_and_data(3, n=10)
    with torch.no_grad():  # spread the encoders apart so that the total correlation is not ~0
        for parameter in model.encoder.parameters():
            parameter.mul_(3.0)
    torch.manual_seed(4)
    terms = BetaTCVAE(5.0, 10).terms(model, x)
    torch.manual_seed(4)
    q = model.encode(x)
    z = q.rsample()
    loc, scale = q.base_dist.loc, q.base_dist.scale
    log_q = Normal(loc.unsqueeze(0), scale.unsqueeze(0)).log_prob(z.unsqueeze(1))  # [i, k, j]
    log_joint = torch.logsumexp(log_q.sum(-1), dim=1) - math.log(10)
    log_marginals = torch.logsumexp(log_q, dim=1) - math.log(10)
    exact_tc = (log_joint - log_marginals.sum(-1)).mean()
    assert float(terms.total_correlation.detach()) == pytest.approx(
        float(exact_tc.detach()), abs=1e-5
    )
    # Chen et al.'s stratified weights are not 1/N at B = N, and give another value.
    torch.manual_seed(4)
    stratified = BetaTCVAE(5.0, 10, weights="mss").terms(model, x)
    exact_mi = (q.log_prob(z) - log_joint).mean()
    assert float(terms.mutual_information.detach()) == pytest.approx(
        float(exact_mi.detach()), abs=1e-5
    )
    assert float(exact_mi.detach()) > 0.5  # the encoders are far apart
    assert abs(float(stratified.mutual_information.detach()) - float(exact_mi.detach())) > 1e-2
    assert not torch.allclose(minibatch_weights(10, 10, "mss"), minibatch_weights(10, 10, "equal"))


def test_held_out_is_minus_the_loss_and_the_loss_has_gradients() -> None:
    model, x = _model_and_data(5)
    objective = BetaTCVAE(6.0, 12)
    torch.manual_seed(6)
    value = objective.held_out(model, x)
    torch.manual_seed(6)
    loss = objective.loss(model, x)
    assert value == pytest.approx(-float(loss.detach()), rel=1e-6)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)


def test_held_out_in_batches_averages_the_batch_losses() -> None:
    model, x = _model_and_data(7, n=11)
    objective = BetaTCVAE(3.0, 11, held_out_batch_size=4)
    torch.manual_seed(8)
    value = objective.held_out(model, x)
    torch.manual_seed(8)
    # batches of 4, 4 and 3 rows
    losses = [float(objective.loss(model, b).detach()) * b.shape[0] for b in x.split(4)]
    assert value == pytest.approx(-sum(losses) / 11, rel=1e-6)
    # a last batch of one row joins the one before: 4 + 4 + 2 + 1 -> 4 + 4 + 3
    objective = BetaTCVAE(3.0, 11, held_out_batch_size=5)
    torch.manual_seed(8)
    value = objective.held_out(model, x)
    torch.manual_seed(8)
    losses = [float(objective.loss(model, b).detach()) * b.shape[0] for b in (x[:5], x[5:])]
    assert value == pytest.approx(-sum(losses) / 11, rel=1e-6)


def test_fit_trains_the_objective() -> None:
    torch.manual_seed(0)
    x = (torch.rand(64, 6) < torch.linspace(0.1, 0.9, 6)).float()
    model = VAE(data_dim=6, latent_dim=3, hidden=(16,))
    history = fit(
        model, x, x, objective=BetaTCVAE(4.0, 64), epochs=60, batch_size=16, seed=0, progress=False
    )
    assert len(history.held_out) == 60 and len(history.train_objective) == 60
    assert history.held_out[-1] > history.held_out[0] + 0.5


def test_fit_stops_on_the_held_out_objective() -> None:
    torch.manual_seed(0)
    model = VAE(data_dim=6, latent_dim=2, hidden=(8,))
    x = (torch.rand(32, 6) < 0.3).float()
    history = fit(
        model,
        x,
        x,
        objective=BetaTCVAE(4.0, 32),
        epochs=400,
        batch_size=16,
        seed=0,
        progress=False,
        stopping=Convergence(window=10, threshold=0.5),
    )
    assert history.stop_reason == "converged"
    assert history.converged_epoch is not None and history.converged_epoch < 400


def test_config_and_bad_inputs() -> None:
    objective = BetaTCVAE(2.5, 100, weights="mss")
    assert objective.config() == {
        "tc_weight": 2.5,
        "dataset_size": 100,
        "weights": "mss",
        "held_out_batch_size": None,
    }
    assert "tc_weight=2.5" in repr(objective)
    model, x = _model_and_data(0)
    with pytest.raises(ValueError, match="tc_weight"):
        BetaTCVAE(-1.0, 10)
    with pytest.raises(ValueError, match="dataset_size"):
        BetaTCVAE(1.0, 1)
    with pytest.raises(ValueError, match="weights"):
        BetaTCVAE(1.0, 10, weights="mws")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="held_out_batch_size"):
        BetaTCVAE(1.0, 10, held_out_batch_size=1)
    with pytest.raises(ValueError, match="2 <= B <= N"):
        BetaTCVAE(1.0, 10).loss(model, x)  # 12 rows > N = 10
    with pytest.raises(ValueError, match="2 <= B <= N"):
        BetaTCVAE(1.0, 12).loss(model, x[:1])
    with pytest.raises(ValueError, match="model must be"):
        BetaTCVAE(1.0, 12).loss(torch.nn.Linear(5, 3), x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="x"):
        BetaTCVAE(1.0, 12).loss(model, x[:, :4])


# ---- FactorVAE ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(2, 9), dims=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_permute_dimensions_keeps_every_marginal(rows: int, dims: int, seed: int) -> None:
    z = torch.randn(rows, dims, generator=torch.Generator().manual_seed(seed))
    permuted = permute_dimensions(z, torch.Generator().manual_seed(seed + 1))
    assert permuted.shape == z.shape and permuted.dtype == z.dtype
    assert torch.equal(permuted.sort(dim=0).values, z.sort(dim=0).values)  # each column's values


def test_permute_dimensions_breaks_the_dependence_between_coordinates() -> None:
    z = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0)).expand(4000, 2)
    permuted = permute_dimensions(z, torch.Generator().manual_seed(1))
    assert torch.equal(z[:, 0], z[:, 1])
    assert abs(float(torch.corrcoef(permuted.T)[0, 1])) < 0.06  # 1/sqrt(4000) = 0.016
    with pytest.raises(ValueError, match="two rows"):
        permute_dimensions(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="2 dimension"):
        permute_dimensions(torch.zeros(3))


@pytest.mark.parametrize(("rho", "tolerance"), [(0.9, 0.2), (0.0, 0.05)])
def test_the_discriminator_estimates_the_total_correlation(rho: float, tolerance: float) -> None:
    """The density-ratio trick: for z ~ N(0, [[1, ρ], [ρ, 1]]) the mean logit of a trained
    discriminator approaches TC = −½ log(1 − ρ²) (0.83 nats at ρ = 0.9; 0 for independence)."""
    torch.manual_seed(0)
    chol = torch.linalg.cholesky(torch.tensor([[1.0, rho], [rho, 1.0]]))
    objective = FactorVAE(1.0, 2, hidden=(32, 32), lr=3e-3)
    with pytest.raises(ValueError, match="untrained"):
        objective.total_correlation_estimate(torch.randn(8, 2))
    for _ in range(600):
        objective.discriminator_step(torch.randn(256, 2) @ chol.T)
    estimate = objective.total_correlation_estimate(torch.randn(20_000, 2) @ chol.T)
    assert objective.discriminator_steps == 600
    assert abs(estimate - (-0.5 * math.log(1 - rho**2))) < tolerance


def test_factor_vae_at_zero_weight_is_the_one_sample_negative_elbo() -> None:
    model, x = _model_and_data(3)
    torch.manual_seed(4)
    loss = FactorVAE(0.0, 3, hidden=(8,)).loss(model, x)
    torch.manual_seed(4)
    q = model.encode(x)
    z = q.rsample()
    negative_elbo = (
        torch.distributions.kl_divergence(q, model.prior()) - model.decode(z).log_prob(x)
    ).mean()
    assert torch.equal(loss, negative_elbo)
    assert loss.requires_grad


def test_factor_vae_adds_the_weighted_penalty_and_trains_only_the_model() -> None:
    model, x = _model_and_data(5)
    plain, penalised = (
        FactorVAE(0.0, 3, hidden=(8,), seed=1),
        FactorVAE(2.0, 3, hidden=(8,), seed=1),
    )
    torch.manual_seed(6)
    q = model.encode(x)
    z = q.rsample()
    with torch.no_grad():
        penalty = float(penalised.discriminator(z).mean())
    torch.manual_seed(6)
    base = plain.loss(model, x)
    torch.manual_seed(6)
    loss = penalised.loss(model, x)
    assert float((loss - base).detach()) == pytest.approx(2.0 * penalty, rel=1e-5, abs=1e-6)
    step_grads = [p.grad.clone() for p in penalised.discriminator.parameters()]  # its own step's
    loss.backward()
    for p, before in zip(penalised.discriminator.parameters(), step_grads, strict=True):
        assert torch.equal(p.grad, before)  # the model's loss does not reach the discriminator
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_fit_trains_factor_vae_reproducibly_and_one_objective_serves_one_model() -> None:
    torch.manual_seed(0)
    x = (torch.rand(64, 6) < torch.linspace(0.1, 0.9, 6)).float()
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        model = VAE(data_dim=6, latent_dim=3, hidden=(16,))
        objective = FactorVAE(5.0, 3, hidden=(16, 16), lr=1e-3)
        history = fit(
            model, x, x, objective=objective, epochs=4, batch_size=16, seed=0, progress=False
        )
        assert objective.discriminator_steps == 4 * 64 // 16
        assert len(history.held_out) == 4 and all(math.isfinite(v) for v in history.held_out)
        states.append([t.clone() for t in model.state_dict().values()])
    assert all(torch.equal(a, b) for a, b in zip(*states, strict=True))  # seeded, same numbers
    with pytest.raises(ValueError, match="one objective per model"):
        objective.loss(VAE(data_dim=6, latent_dim=3, hidden=(16,)), x)


def test_factor_vae_config_and_bad_inputs() -> None:
    objective = FactorVAE(6.4, 10, hidden=(64,), lr=2e-4, seed=3)
    assert objective.config() == {
        "tc_weight": 6.4,
        "latent_dim": 10,
        "hidden": [64],
        "lr": 2e-4,
        "betas": [0.5, 0.9],
        "seed": 3,
    }
    assert "tc_weight=6.4" in repr(objective)
    first, again = FactorVAE(1.0, 4, seed=7), FactorVAE(1.0, 4, seed=7)
    for a, b in zip(
        first.discriminator.parameters(), again.discriminator.parameters(), strict=True
    ):
        assert torch.equal(a, b)  # the seed fixes the discriminator's initial weights
    model, x = _model_and_data(0)
    for kwargs, match in (
        ({"tc_weight": -1.0, "latent_dim": 3}, "tc_weight"),
        ({"tc_weight": 1.0, "latent_dim": 0}, "latent_dim"),
        ({"tc_weight": 1.0, "latent_dim": 3, "hidden": ()}, "hidden"),
        ({"tc_weight": 1.0, "latent_dim": 3, "hidden": (8, 0)}, "hidden"),
        ({"tc_weight": 1.0, "latent_dim": 3, "lr": 0.0}, "lr"),
        ({"tc_weight": 1.0, "latent_dim": 3, "betas": (0.5, 1.0)}, "betas"),
        ({"tc_weight": 1.0, "latent_dim": 3, "seed": -1}, "seed"),
    ):
        with pytest.raises(ValueError, match=match):
            FactorVAE(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dimension 4"):
        FactorVAE(1.0, 4).loss(model, x)  # the model's codes have 3 coordinates
    with pytest.raises(ValueError, match="two rows"):
        FactorVAE(1.0, 3).loss(model, x[:1])
    with pytest.raises(ValueError, match="model must be"):
        FactorVAE(1.0, 3).loss(torch.nn.Linear(5, 3), x)  # type: ignore[arg-type]


def _trained_factor_vae(steps: int = 5) -> FactorVAE:
    objective = FactorVAE(1.0, 3, hidden=(8, 8), lr=1e-2, seed=2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        objective.discriminator_step(torch.randn(16, 3, generator=generator))
    return objective


def test_factor_vae_state_round_trip_restores_the_discriminator_and_its_optimiser() -> None:
    trained, fresh = _trained_factor_vae(), FactorVAE(1.0, 3, hidden=(8, 8), lr=1e-2, seed=2)
    z = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(trained.discriminator(z), fresh.discriminator(z))
    fresh.load_state_dict(trained.state_dict())
    assert fresh.discriminator_steps == trained.discriminator_steps == 5
    assert torch.equal(trained.discriminator(z), fresh.discriminator(z))
    # the optimiser's moments came along: one more step moves both discriminators alike
    torch.manual_seed(3)
    trained.discriminator_step(z)
    torch.manual_seed(3)
    fresh.discriminator_step(z)
    for a, b in zip(
        trained.discriminator.parameters(), fresh.discriminator.parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_factor_vae_load_state_dict_rejects_a_state_that_does_not_fit() -> None:
    state = _trained_factor_vae().state_dict()
    wider = FactorVAE(1.0, 3, hidden=(16, 8), lr=1e-2, seed=2)
    with pytest.raises(ValueError, match="does not fit"):
        wider.load_state_dict(state)
    target = FactorVAE(1.0, 3, hidden=(8, 8), lr=1e-2, seed=2)
    for bad in (
        {k: v for k, v in state.items() if k != "optimizer"},
        {**state, "discriminator_steps": -1},
        {**state, "discriminator_steps": True},
        [1, 2, 3],
    ):
        with pytest.raises(ValueError):
            target.load_state_dict(bad)  # type: ignore[arg-type]
    assert target.discriminator_steps == 0  # a rejected state leaves the objective as it was


def test_factor_vae_load_state_dict_is_all_or_nothing() -> None:
    """A state whose discriminator fits only in part (the first layer's shapes match, the
    second's do not), or whose discriminator fits but optimiser does not, changes nothing."""
    source, target = _trained_factor_vae(), _trained_factor_vae(steps=2)
    before = copy.deepcopy(target.state_dict())
    wider_second = FactorVAE(1.0, 3, hidden=(8, 16), lr=1e-2, seed=2).state_dict()
    assert torch.equal(  # the first layers have the same shape: torch would copy them
        torch.tensor(wider_second["discriminator"]["0.weight"].shape),
        torch.tensor(before["discriminator"]["0.weight"].shape),
    )
    wrong_optimizer = {**source.state_dict(), "optimizer": copy.deepcopy(wider_second["optimizer"])}
    wrong_optimizer["optimizer"]["param_groups"][0]["params"] = [0, 1]  # too few parameters
    for bad in (wider_second, wrong_optimizer):
        with pytest.raises(ValueError, match="does not fit"):
            target.load_state_dict(bad)
        after = target.state_dict()
        assert after["discriminator_steps"] == before["discriminator_steps"] == 2
        for name, tensor in before["discriminator"].items():
            assert torch.equal(after["discriminator"][name], tensor), name
        assert after["optimizer"]["state"].keys() == before["optimizer"]["state"].keys()
        for index, moments in before["optimizer"]["state"].items():
            for key, value in moments.items():
                assert torch.equal(after["optimizer"]["state"][index][key], value)


def test_cached_fit_stores_and_restores_the_discriminator(tmp_path: object) -> None:
    from elbo_book.experiment_cache import ExperimentCache
    from elbo_book.training import cached_fit

    torch.manual_seed(0)
    x = (torch.rand(48, 6) < torch.linspace(0.1, 0.9, 6)).float()
    cache = ExperimentCache(tmp_path)  # type: ignore[arg-type]

    def run() -> tuple[FactorVAE, VAE, bool]:
        torch.manual_seed(1)
        model = VAE(data_dim=6, latent_dim=3, hidden=(16,))
        objective = FactorVAE(5.0, 3, hidden=(16, 16), lr=1e-3)
        _, hit = cached_fit(
            model,
            x,
            x,
            cache=cache,
            objective=objective,
            epochs=3,
            batch_size=16,
            seed=0,
            progress=False,
        )
        return objective, model, hit

    trained, _, first_hit = run()
    loaded, model, second_hit = run()
    assert (first_hit, second_hit) == (False, True)
    assert loaded.discriminator_steps == trained.discriminator_steps == 3 * 48 // 16
    for a, b in zip(
        trained.discriminator.parameters(), loaded.discriminator.parameters(), strict=True
    ):
        assert torch.equal(a, b)
    z = model.encode(x).mean
    assert loaded.total_correlation_estimate(z) == trained.total_correlation_estimate(z)
    # an entry stored without the objective's state (as before this was stored) is trained again
    (key_path,) = [p for p in cache.root.glob("*.pt")]
    payload = cache.load(key_path.stem)
    assert payload is not None and "objective_state" in payload
    del payload["objective_state"]
    cache.save(key_path.stem, payload)
    _, _, third_hit = run()
    assert third_hit is False
