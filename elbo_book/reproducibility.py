"""Reproducibility: one call that makes every random draw and every float sum repeatable.

What "repeatable" means here: the same seed gives bit-identical results run after run *on the same
machine* (same CPU capability, same PyTorch build). It does not make results bitwise equal across
machines: torch selects vectorised kernels by CPU capability (and MKL its BLAS path), so trained
numbers typically differ in the third or fourth significant digit from one CPU to another. The
book's notebook tests therefore compare such numbers with a measured tolerance.
"""

import os
import random
from numbers import Integral

import numpy as np
import torch

__all__ = [
    "CUBLAS_WORKSPACE",
    "SEED_LIMIT",
    "seed_everything",
]

#: The cuBLAS workspace setting that makes cuBLAS deterministic (PyTorch raises on the first
#: cuBLAS call once deterministic algorithms are on and no workspace is configured).
CUBLAS_WORKSPACE = ":4096:8"

#: One more than the largest seed accepted, because NumPy's legacy global generator takes
#: seeds below 2**32 only.
SEED_LIMIT = 2**32


def seed_everything(seed: int, *, threads: int | None = 1) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, turn on deterministic algorithms, and pin the thread count.

    In order:

    1. ``random.seed``, ``numpy.random.seed`` and ``torch.manual_seed`` (which seeds every CUDA
       device too) with ``seed``.
    2. ``CUBLAS_WORKSPACE_CONFIG`` is set to ``":4096:8"`` unless already set, *before*
       ``torch.use_deterministic_algorithms(True)``, so that cuBLAS calls on a GPU are
       deterministic instead of raising. cuBLAS reads the variable when its handle is created:
       call this function before the first CUDA computation of the process.
    3. Float32 reductions depend on how work is split between threads, so the number of intra-op
       threads is fixed (one by default). This is a process-wide side effect that slows large
       models on many cores; pass ``threads=None`` to leave the thread count alone.

    String hashing (``PYTHONHASHSEED``) cannot be changed for a running interpreter; set that
    variable before Python starts if your code depends on the iteration order of sets of strings.

    Args:
        seed: a non-negative integer below 2**32 (Python int, NumPy or 0-d torch integer).
        threads: the number of torch intra-op threads, or ``None`` to keep the current setting.

    Returns:
        A :class:`torch.Generator` seeded with ``seed``, for code that prefers an explicit one.

    Raises:
        TypeError: if ``seed`` is not an integer or ``threads`` is neither an int nor None.
        ValueError: if ``seed`` is outside [0, 2**32) or ``threads`` is below 1.
    """
    if isinstance(seed, torch.Tensor) and seed.ndim == 0 and not seed.is_floating_point():
        seed = int(seed.item())
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int):
            raise TypeError(f"threads must be an int or None, got {threads!r}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the legacy global RNG is what np.random.* calls draw from
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)
