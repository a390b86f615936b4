"""Every public function, class and method of the torch-side API documents its arguments,
its result and its errors (Google style, rendered by Napoleon in the API reference)."""

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Iterator

import pytest

MODULES = [
    "checkpoint",
    "cli",
    "data",
    "disentanglement",
    "gradient_snr",
    "gradients",
    "importance",
    "linear_vae",
    "models",
    "objectives",
    "standard_normal",
    "surgery",
    "toy_models",
    "total_correlation",
    "training",
    "validation",
]


def _public() -> Iterator[tuple[str, Callable[..., object], bool]]:
    """(qualified name, function, whether it is a class's constructor)."""
    for module_name in MODULES:
        module = importlib.import_module(f"elbo_book.{module_name}")
        for name in module.__all__:
            value = getattr(module, name)
            where = f"{module_name}.{name}"
            if inspect.isfunction(value):
                yield where, value, False
            elif inspect.isclass(value) and value.__module__ == module.__name__:
                yield where, value, True
                for attribute, member in vars(value).items():
                    if attribute.startswith("_") or not callable(member):
                        continue
                    function = getattr(member, "__func__", member)
                    if inspect.isfunction(function):
                        yield f"{where}.{attribute}", function, False


def _parameters(function: Callable[..., object]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    return [
        p
        for p in signature.parameters
        if p not in ("self", "cls", "_instance") and not p.startswith("_")
    ]


CASES = list(_public())


@pytest.mark.parametrize("name, function, is_class", CASES, ids=[c[0] for c in CASES])
def test_public_api_documents_args_returns_raises(
    name: str, function: Callable[..., object], is_class: bool
) -> None:
    doc = inspect.getdoc(function) or ""
    assert doc, f"{name} has no docstring"
    if is_class:
        cls = function
        init_doc = inspect.getdoc(cls.__init__) if "__init__" in vars(cls) else ""  # type: ignore[misc]
        full = doc + "\n" + (init_doc or "")
        if getattr(cls, "_is_protocol", False):
            return  # a protocol: its methods are documented one by one
        if issubclass(cls, tuple) and hasattr(cls, "_fields"):  # a named tuple
            for field in cls._fields:
                assert f"``{field}``" in doc, f"{name}: field {field} not described"
            return
        fields = dataclasses.is_dataclass(cls)
        if "__init__" in vars(cls) or fields:
            params = _parameters(cls) if not fields else ["fields"]
            if params:
                assert "Args:" in full or "Attributes:" in full, f"{name}: no Args/Attributes"
        return
    params = _parameters(function)
    if params:
        assert "Args:" in doc, f"{name}: no Args section"
        for parameter in params:
            assert f"{parameter}:" in doc or f"**{parameter}" in doc, f"{name}: {parameter}?"
        assert "Raises:" in doc, f"{name}: no Raises section"
    returns = inspect.signature(function).return_annotation
    if returns not in (None, "None", inspect.Signature.empty):
        assert "Returns:" in doc or "Yields:" in doc or "Yield " in doc, f"{name}: no Returns"
