import math

import pytest
import torch

from elbo_book.validation import (
    all_finite,
    check_choice,
    check_gaussian_q,
    check_int,
    check_nonnegative,
    check_positive,
    check_reduction,
    check_tensor,
    is_binary,
    reduce,
)


def test_check_tensor_accepts_finite_float() -> None:
    x = torch.zeros(2, 3)
    assert check_tensor(x, "x", ndim=2, last_dim=3) is x


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        ([1.0, 2.0], {}, "torch.Tensor"),
        (torch.zeros(2, dtype=torch.int64), {}, "floating-point"),
        (torch.zeros(2, 3), {"ndim": 1}, "1 dimension"),
        (torch.zeros(3), {"min_ndim": 2}, "at least 2"),
        (torch.zeros(2, 3), {"last_dim": 4}, "last dimension 4"),
        (torch.tensor([1.0, math.nan]), {}, "NaN or inf"),
        (torch.tensor([1.0, math.inf]), {}, "NaN or inf"),
    ],
)
def test_check_tensor_rejects(value: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_tensor(value, "x", **kwargs)


def test_scalar_checks() -> None:
    assert check_positive(2, "s") == 2.0
    assert check_nonnegative(0, "b") == 0.0
    assert check_int(3, "k") == 3
    for bad in (0, -1.0, math.nan, math.inf, True, "1"):
        with pytest.raises(ValueError, match="s must"):
            check_positive(bad, "s")
    for bad in (-0.5, math.nan, None):
        with pytest.raises(ValueError, match="b must"):
            check_nonnegative(bad, "b")
    for bad in (0, 1.0, True, None):
        with pytest.raises(ValueError, match="k must"):
            check_int(bad, "k")


def test_choices_and_reduction() -> None:
    assert check_choice("a", "c", ("a", "b")) == "a"
    with pytest.raises(ValueError, match="one of 'a', 'b'"):
        check_choice("z", "c", ("a", "b"))
    with pytest.raises(ValueError, match="reduction"):
        check_reduction("avg")
    values = torch.tensor([1.0, 2.0, 3.0])
    assert reduce(values, "none") is values
    assert reduce(values, "mean") == 2.0
    assert reduce(values, "sum") == 6.0


def test_all_finite_and_is_binary() -> None:
    assert all_finite(torch.zeros(3))
    big = torch.full((4,), 3e38)  # the sum overflows, the entries are finite
    assert all_finite(big)
    assert not all_finite(torch.tensor([1.0, math.nan]))
    assert not all_finite(torch.tensor([math.inf, -math.inf]))
    assert is_binary(torch.tensor([0.0, 1.0, 1.0]))
    assert is_binary(torch.zeros(0))
    for bad in ([0.0, 0.5], [0.0, 2.0], [-1.0, 1.0], [0.0, math.nan]):
        assert not is_binary(torch.tensor(bad))


def test_check_gaussian_q_rejects_mismatched_shapes() -> None:
    x, loc, scale = torch.zeros(4, 3), torch.zeros(4, 2), torch.ones(4, 2)
    check_gaussian_q(x, loc, scale)  # a matching triple passes
    with pytest.raises(ValueError, match="same shape"):
        check_gaussian_q(x, loc, torch.ones(4, 3))
    with pytest.raises(ValueError, match="batch shape"):
        check_gaussian_q(torch.zeros(5, 3), loc, scale)
    with pytest.raises(ValueError, match="MIN_SCALE"):
        check_gaussian_q(x, loc, torch.full((4, 2), 1e-20))
