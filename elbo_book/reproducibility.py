"""Reproducibility: one call that makes every random draw and every float sum repeatable.

Public API: :func:`seed_everything`.
"""

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, threads: int = 1) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and pin the thread count.

    Float32 reductions depend on how work is split between threads, so the number of threads
    is fixed too (one by default): the same seed then gives bit-identical results on any
    machine with the same PyTorch build. Returns a :class:`torch.Generator` seeded with ``seed``
    for code that prefers an explicit generator.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the legacy global RNG is what np.random.* calls draw from
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)
