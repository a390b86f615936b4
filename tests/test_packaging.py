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
