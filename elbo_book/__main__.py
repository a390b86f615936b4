"""``python -m elbo_book``: the command line of :mod:`elbo_book.cli` (``train``, ``evaluate``)."""

from elbo_book.cli import main

raise SystemExit(main(prog="python -m elbo_book"))
