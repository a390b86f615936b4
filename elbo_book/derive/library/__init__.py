"""The book's derivations, one module per chapter (``ch01_jensen``, ``ch02_identity``, …) plus
``foundations`` (lemmas every chapter rests on) and ``errata``.  Every module here is imported by
:func:`elbo_book.derive.registry.collect`; add a module to add derivations, nothing else to edit."""
