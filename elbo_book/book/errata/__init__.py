"""The Errata page's content: every mistake found in the two source documents, with its checks.

One module per source document, named after its entry in the book's bibliography:
``working_notes`` (``shi_elbo_notes``) and ``blog_post`` (``elbo_bibliography_post``), each holding
that source's records next to their checks.  ``records`` defines the record types, ``notation`` the
typography rules, ``claims`` the numeric counterexamples (torch, imported only when a claim is
shown) and ``catalogue`` assembles the page's catalogue and registers its derivations (imported
here, so that collecting this package registers them without importing torch).
"""

from elbo_book.book.errata import catalogue

__all__ = ["catalogue"]
