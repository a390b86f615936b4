"""What a normal (non-editable) install gets: files the documentation points to are shipped."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_derive_guide_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"]["package-data"]["elbo_book"]
    assert "derive/README.md" in shipped and "py.typed" in shipped
    for name in shipped:
        assert (ROOT / "elbo_book" / name).is_file(), name


def test_the_package_version_is_the_projects() -> None:
    """``elbo_book.__version__`` (shown by ``elbo-book --version``) is the version an install
    records (``pyproject.toml``)."""
    import elbo_book

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert elbo_book.__version__ == config["project"]["version"]
