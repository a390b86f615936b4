import math
import statistics

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from elbo_book.summary import summarize, summarize_groups

values = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=30)


@given(values, st.floats(0.5, 0.999))
def test_mean_sem_and_interval(data: list[float], confidence: float) -> None:
    s = summarize(data, confidence=confidence)
    assert s.n == len(data)
    assert math.isclose(s.mean, statistics.fmean(data), rel_tol=1e-9, abs_tol=1e-9)
    expected_sem = statistics.stdev(data) / math.sqrt(len(data))
    assert math.isclose(s.sem, expected_sem, rel_tol=1e-6, abs_tol=1e-9)
    assert s.ci_low <= s.mean <= s.ci_high
    assert math.isclose(s.mean - s.ci_low, s.ci_high - s.mean, rel_tol=1e-9, abs_tol=1e-9)
    assert s.half_width >= s.sem * 0.67 - 1e-9  # t quantile ≥ z quantile ≥ 0.67 for c ≥ 0.5


@given(values, st.floats(-100, 100), st.floats(0.1, 10))
def test_affine_equivariance(data: list[float], shift: float, scale: float) -> None:
    s = summarize(data)
    t = summarize([scale * v + shift for v in data])
    assert math.isclose(t.mean, scale * s.mean + shift, rel_tol=1e-6, abs_tol=1e-6)
    assert math.isclose(t.sem, scale * s.sem, rel_tol=1e-6, abs_tol=1e-6)


@given(values)
def test_wider_interval_at_higher_confidence(data: list[float]) -> None:
    assume(statistics.stdev(data) > 1e-3)  # no underflow to a zero standard error
    assert summarize(data, confidence=0.99).half_width > summarize(data, confidence=0.9).half_width


def test_known_values_and_formatting() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s.mean == 3.0 and math.isclose(s.sem, math.sqrt(2.5 / 5))
    assert math.isclose(s.half_width, 2.7764451 * math.sqrt(0.5), rel_tol=1e-6)  # t_{4, .975}
    assert s.pm() == "3.00 ± 0.71" and s.pm(1) == "3.0 ± 0.7" and s.pm(spread="ci") == "3.0 ± 2.0"
    assert summarize([-93.4123, -93.95]).pm() == "-93.68 ± 0.27"
    assert summarize([2.0, 2.0]).pm() == "2.0000 ± 0.0000"
    items = s.glue_items("ch5_mig", 2)
    assert items["ch5_mig"] == "3.00 ± 0.71" and items["ch5_mig_n"] == 5
    assert set(items) == {f"ch5_mig{x}" for x in ("", "_mean", "_sem", "_ci_low", "_ci_high", "_n")}


def test_groups() -> None:
    pairs = [(0.5, 1.0), (1.0, 4.0), (0.5, 3.0), (1.0, 6.0)]
    groups = summarize_groups(pairs)
    assert list(groups) == [0.5, 1.0] and groups[0.5].mean == 2.0 and groups[1.0].mean == 5.0
    with pytest.raises(ValueError, match=r"group 2\.0: a standard error needs at least 2"):
        summarize_groups([*pairs, (2.0, 1.0)])


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        ([1.0], {}, "at least 2"),
        ([1.0, math.nan], {}, "finite"),
        ([1.0, 2.0], {"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_input(data: list[float], kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summarize(data, **kwargs)
    with pytest.raises(ValueError, match="spread"):
        summarize([1.0, 2.0]).pm(spread="sd")
