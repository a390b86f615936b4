"""Exact aggregate posterior log q(z) for N = 60,000 latent codes in d = 20, against a floor.

The estimator (:func:`elbo_book.surgery.log_aggregate_posterior`) evaluates all N × N pairs
(z_m, q(z|n)) in chunks of rows.  The *floor*, measured in the same run, does only the
unavoidable work with the same chunking: per chunk, one matrix product with the same number of
multiply-adds, ``(chunk, 2d) × (2d, N)``, and one ``torch.logsumexp`` over the chunk's
``chunk × N`` entries.  The ratio estimator/floor is the overhead of everything else (centring,
precisions, bias, validation); the goal is ≤ 2.

Peak memory is the growth of the process's peak resident set size (``resource.getrusage``,
``ru_maxrss``) while the estimator runs, after the inputs exist; tracemalloc does not see
torch's allocations.  For comparison the line before the result gives the analytic size of one
chunk's ``chunk × N`` float32 buffer and of a full N × N matrix.  Single-threaded
(``seed_everything``), float32.  Times are the process's CPU time (``time.process_time``), not
wall-clock time: with one thread they measure the same work, and they stay meaningful when other
jobs share the machine.
"""

from __future__ import annotations

import math
import resource
import time

import torch
from torch.distributions import Normal

from elbo_book.reproducibility import seed_everything
from elbo_book.surgery import log_aggregate_posterior

N = 60_000
D = 20
CHUNK = 256
CHECK_ROWS = 256


def _codes(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    loc = torch.randn(N, D, generator=generator)
    scale = 0.2 + 0.8 * torch.rand(N, D, generator=generator)
    z = loc + scale * torch.randn(N, D, generator=generator)
    return z, loc, scale


def _floor(queries: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    out = torch.empty(queries.shape[0])
    for start in range(0, queries.shape[0], CHUNK):
        out[start : start + CHUNK] = torch.logsumexp(queries[start : start + CHUNK] @ weights, 1)
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _max_error(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, got: torch.Tensor) -> float:
    """Largest |error| on the first rows against a direct float64 evaluation."""
    rows = z[:CHECK_ROWS].double()
    log_q = Normal(loc.double(), scale.double()).log_prob(rows.unsqueeze(1)).sum(-1)
    exact = torch.logsumexp(log_q, dim=1) - math.log(N)
    return float((got[:CHECK_ROWS].double() - exact).abs().max())


def main() -> None:
    generator = seed_everything(0)
    z, loc, scale = _codes(generator)
    queries = torch.randn(N, 2 * D, generator=generator)
    weights = torch.randn(2 * D, N, generator=generator)
    before = _peak_rss_mb()
    log_aggregate_posterior(z[:CHUNK], loc, scale, chunk_size=CHUNK)  # warm-up
    start = time.process_time()
    got = log_aggregate_posterior(z, loc, scale, chunk_size=CHUNK)
    seconds = time.process_time() - start
    peak_mb = _peak_rss_mb() - before

    _floor(queries[:CHUNK], weights)  # warm-up
    start = time.process_time()
    _floor(queries, weights)
    floor_seconds = time.process_time() - start

    chunk_mb = CHUNK * N * 4 / 2**20
    full_mb = N * N * 4 / 2**20
    print(
        f"# chunk buffer {chunk_mb:.0f} MB (N x N would be {full_mb:.0f} MB); "
        f"max |error| on {CHECK_ROWS} rows vs float64: {_max_error(z, loc, scale, got):.1e}"
    )
    print(
        f"aggregate_posterior_N{N}_d{D}: ratio={seconds / floor_seconds:.2f} "
        f"({seconds:.2f} s vs floor {floor_seconds:.2f} s, peak {peak_mb:.0f} MB)"
    )


if __name__ == "__main__":
    main()
