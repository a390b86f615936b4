import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from elbo_book.reproducibility import CUBLAS_WORKSPACE, seed_everything


def test_same_seed_same_draws() -> None:
    seed_everything(3)
    a = torch.randn(5), np.random.rand(3)  # noqa: NPY002 -- the global RNG is what is seeded
    seed_everything(3)
    b = torch.randn(5), np.random.rand(3)  # noqa: NPY002
    assert torch.equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])


def test_generator_is_seeded() -> None:
    g1 = seed_everything(7)
    g2 = seed_everything(7)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_integer_seeds_of_numpy_and_torch_are_accepted() -> None:
    reference = torch.rand(3, generator=seed_everything(5))
    for seed in (np.int64(5), np.uint32(5), torch.tensor(5)):
        assert torch.equal(torch.rand(3, generator=seed_everything(seed)), reference)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.5, "1", True, None, torch.tensor(1.0)])
def test_non_integer_seed_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="seed"):
        seed_everything(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 2**32, 2**64])
def test_out_of_range_seed_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match=r"seed must lie in \[0, 2\*\*32\)"):
        seed_everything(bad)


def test_threads_pinned_by_default_left_alone_with_none() -> None:
    before = torch.get_num_threads()
    try:
        seed_everything(0)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        seed_everything(0, threads=None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        seed_everything(0, threads=0)
    with pytest.raises(TypeError, match="threads"):
        seed_everything(0, threads=1.0)  # type: ignore[arg-type]


def test_cublas_workspace_is_set_before_determinism_and_user_value_kept() -> None:
    code = (
        "import os, torch\n"
        "from elbo_book.reproducibility import seed_everything\n"
        "seed_everything(0)\n"
        "print(os.environ['CUBLAS_WORKSPACE_CONFIG'],\n"
        "      torch.are_deterministic_algorithms_enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [CUBLAS_WORKSPACE, "True"], out.stderr
    env["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == [":16:8", "True"], out.stderr


def test_seeding_does_not_claim_to_change_hash_seed() -> None:
    before = os.environ.get("PYTHONHASHSEED")
    seed_everything(11)
    assert os.environ.get("PYTHONHASHSEED") == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
def test_seeded_fit_on_cuda_is_repeatable() -> None:
    """The issue's failure: seed_everything then fit on CUDA raised at the first cuBLAS call."""
    from elbo_book.models import VAE
    from elbo_book.training import fit

    x = (torch.rand(64, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    results = []
    for _ in range(2):
        seed_everything(0)
        model = VAE(16, 2, (8,))
        history = fit(model, x, x, epochs=2, progress=False, device="cuda")
        results.append(history.elbo)
    assert results[0] == results[1]
