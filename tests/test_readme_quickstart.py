"""The README's own-data quickstart runs as written (Python block and shell lines)."""

import re
import shlex
from pathlib import Path

import pytest

from elbo_book.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_quickstart_python_and_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (python,) = _blocks("python")
    exec(compile(python, "README quickstart", "exec"), {})
    assert "test ELBO:" in capsys.readouterr().out
    assert (tmp_path / "my_vae.pt").is_file()
    (shell,) = _blocks("bash")
    for line in shell.strip().splitlines():
        words = shlex.split(line, comments=True)
        assert words[0] == "elbo-book"
        argv = [*words[1:], "--quiet", "--threads", "1"]
        assert main(argv, prog="elbo-book") == 0, line
    assert "log p(x)" in capsys.readouterr().out
