import pytest
import torch

import elbo_book
from elbo_book.reproducibility import seed_everything


def test_version_is_a_string() -> None:
    assert isinstance(elbo_book.__version__, str)


def test_same_seed_same_draws() -> None:
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    b = torch.randn(5)
    assert torch.equal(a, b)


def test_generator_is_seeded() -> None:
    g1 = seed_everything(7)
    g2 = seed_everything(7)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "1", True])
def test_bad_seed_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)  # type: ignore[arg-type]
