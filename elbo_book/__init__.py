"""elbo_book: machine-verified ELBO derivations and the PyTorch estimators the ELBO Book runs.

Import submodules explicitly, e.g. ``from elbo_book.reproducibility import seed_everything``.
"""

#: The package's version.
__version__ = "0.1.0"

__all__ = ["__version__"]
