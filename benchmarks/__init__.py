"""Benchmarks of the elbo_book package; run them all with ``python -m benchmarks``."""
