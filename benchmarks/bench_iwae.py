"""The importance-weighted estimate of log p(x) with K = 5000 samples on a batch of digits.

``log_evidence_estimate`` draws the K samples in chunks and combines them with a running
log-sum-exp, so memory grows with the chunk size, not with K.  Each variant runs in a fresh
process (``multiprocessing`` spawn) whose peak resident memory (``ru_maxrss``) is read before
and after the estimate: the difference is the estimate's peak extra memory.  Wall-clock time is
the faster of two runs (one run for the unchunked variant), single-threaded.

Prints ``iwae_K5000: …`` for the default chunk size, with the unchunked (all K draws at once)
figures beside it.
"""

from __future__ import annotations

import multiprocessing
import resource
import time

from elbo_book.data import load_digits
from elbo_book.importance import log_evidence_estimate
from elbo_book.models import VAE
from elbo_book.reproducibility import seed_everything

K = 5000
BATCH = 64
CHUNK = 500
REPEATS = 2


def _run(chunk_size: int, repeats: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    seed_everything(0)
    x = load_digits(binarize=True).x_test[:BATCH]
    model = VAE(64, 8, hidden=(256, 256))
    log_evidence_estimate(model, x, n_samples=2, chunk_size=2)  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = log_evidence_estimate(model, x, n_samples=K, chunk_size=chunk_size)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put((min(times), (after - before) / 1024, float(value.mean())))


def measure(chunk_size: int, repeats: int = REPEATS) -> tuple[float, float, float]:
    """(fastest seconds, peak extra MiB, mean estimate) for one chunk size, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_run, args=(chunk_size, repeats, results))
    process.start()
    outcome = results.get()
    process.join()
    return outcome


def main() -> None:
    seconds, mib, value = measure(CHUNK)
    full_seconds, full_mib, _ = measure(K, repeats=1)
    print(
        f"iwae_K5000: {seconds:.2f} s, peak +{mib:.0f} MiB for a batch of {BATCH} digits "
        f"(chunks of {CHUNK}; all {K} draws at once: {full_seconds:.2f} s, +{full_mib:.0f} MiB); "
        f"untrained 64-256-256-8 VAE, mean estimate {value:.2f} nats"
    )


if __name__ == "__main__":
    main()
