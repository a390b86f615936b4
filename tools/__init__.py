"""Tools for building and testing the book (not part of the elbo_book package)."""
