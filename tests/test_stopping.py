import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from elbo_book.data import load_digits
from elbo_book.models import VAE
from elbo_book.stopping import Convergence
from elbo_book.training import fit

finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.integers(1, 8), st.floats(1e-3, 10.0), st.lists(finite, min_size=1, max_size=30))
def test_improvement_is_best_recent_minus_best_before(
    window: int, threshold: float, values: list[float]
) -> None:
    rule = Convergence(window, threshold)
    delta = rule.improvement(values)
    if len(values) <= window:
        assert delta is None and not rule.converged(values)
    else:
        assert delta == max(values[-window:]) - max(values[:-window])  # all finite here
        assert rule.converged(values) == (delta < threshold)


@given(st.integers(1, 8), st.floats(1e-3, 10.0), finite, st.integers(1, 40))
def test_steady_rise_never_converges_and_plateau_converges_after_window(
    window: int, threshold: float, start: float, length: int
) -> None:
    rule = Convergence(window, threshold)
    rising = [start + 1.01 * threshold * t / window for t in range(length)]
    assert not rule.converged(rising)
    plateau = [start] * (window + 1)
    assert rule.converged(plateau) and not rule.converged(plateau[:-1])


def test_non_finite_values_do_not_count_as_converged() -> None:
    rule = Convergence(2, 0.1)
    assert not rule.converged([0.0, 0.0, math.nan])
    assert not rule.converged([math.nan, 0.0, 0.0])
    assert "not tested" in rule.describe([0.0])


@pytest.mark.parametrize(("window", "threshold"), [(0, 0.1), (2, 0.0), (2, math.inf)])
def test_bad_rules(window: int, threshold: float) -> None:
    with pytest.raises(ValueError, match=r"window|threshold"):
        Convergence(window, threshold)


def test_fit_stops_when_converged_and_records_it() -> None:
    split = load_digits(binarize=True)
    x_train, x_test = split.x_train[:200], split.x_test[:60]
    torch.manual_seed(0)
    model = VAE(64, 2, (16,))
    rule = Convergence(window=1, threshold=100.0)  # any epoch after the first converges
    history = fit(model, x_train, x_test, epochs=5, progress=False, device="cpu", stopping=rule)
    assert history.stop_reason == "converged" and history.converged_epoch == history.epochs == 2
    assert "over the last 1 epochs (epoch 2)" in history.stop_note
    plain = fit(VAE(64, 2, (16,)), x_train, epochs=2, progress=False, device="cpu")
    assert plain.stop_reason == "epochs" and plain.converged_epoch is None
    with pytest.raises(ValueError, match="held-out"):
        fit(VAE(64, 2, (16,)), x_train, epochs=2, progress=False, stopping=rule)
