"""Tests for the β-TCVAE objective (elbo_book.tc_objectives)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal

from elbo_book.models import VAE
from elbo_book.stopping import Convergence
from elbo_book.surgery import minibatch_weights
from elbo_book.tc_objectives import BetaTCVAE
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
