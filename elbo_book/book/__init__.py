"""The book's content: the derivations its chapters display, one module per chapter notebook.

``ch01_jensen_bound`` … ``ch06_importance_weighting`` are named after their notebooks in
``chapters/``; ``shared`` holds the terms and lemmas more than one chapter uses (each defined once);
the package ``errata`` holds the Errata page's records, one module per source document.
``python -m elbo_book.verify`` checks every derivation registered here (this package is its
default source); the engine, ``elbo_book.derive``, knows nothing of it.
"""

__all__: list[str] = []
