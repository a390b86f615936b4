"""Fixtures for the built-book browser test (issue 9).

The test needs a built book (``_build/html``) and Debian's Chromium, so the default ``pytest`` run
does not collect it: pass ``--browser`` (``make browser`` does).  Without Chromium or Playwright the
test is skipped with the reason, except under CI (``CI=true``): there a missing browser fails.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Offline like a reader without internet: every host but this machine fails to resolve.
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
# Folders of the HTML output that hold assets, not pages.
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", "mathjax"}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("browser", "built-book browser test (tests/browser)")
    group.addoption(
        "--browser", action="store_true", help="run the headless-Chromium test of _build/html"
    )
    group.addoption("--book-html", default="_build/html", help="the built HTML book to test")
    group.addoption(
        "--screenshots",
        default="test-output/screenshots",
        help="where the page screenshots are written",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave the browser test out of a plain ``pytest`` run: it needs a built book."""
    if collection_path.suffix == ".py" and not config.getoption("--browser", default=False):
        return True
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    """Fail under CI (the browser test is part of the test command there), skip elsewhere."""
    if _in_ci():
        pytest.fail(f"browser test cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser test skipped: {reason}")


def book_pages(html_dir: Path) -> list[str]:
    """Every HTML page of the built book, as a path relative to its root (``chapters/x.html``)."""
    pages = [
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if p.relative_to(html_dir).parts[0] not in ASSET_DIRS
    ]
    return sorted(pages)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "page_path" in metafunc.fixturenames:
        html_dir = Path(metafunc.config.getoption("--book-html"))
        pages = book_pages(html_dir) if (html_dir / "index.html").is_file() else []
        # An empty book still yields one test, which fails in the html_dir fixture.
        metafunc.parametrize("page_path", pages or ["index.html"])


@pytest.fixture(scope="session")
def html_dir(pytestconfig: pytest.Config) -> Path:
    path = Path(pytestconfig.getoption("--book-html")).resolve()
    if not (path / "index.html").is_file():
        pytest.fail(f"no built book at {path}: run `make book` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig: pytest.Config) -> Path:
    path = Path(pytestconfig.getoption("--screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the book's folder; ``overrides`` maps a URL path to a page served instead (the
    negative controls serve deliberately broken copies of real pages this way)."""

    overrides: dict[str, bytes]

    def do_GET(self) -> None:
        body = self.overrides.get(self.path.split("?")[0])
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        # Let Chromium keep the theme's and MathJax's assets between pages instead of asking again.
        if not self.path.split("?")[0].endswith((".html", "/")):
            self.send_header("Cache-Control", "max-age=3600")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class BookServer:
    """``http.server`` on 127.0.0.1 (a free port) in a thread, serving the built book."""

    def __init__(self, root: Path) -> None:
        self.overrides: dict[str, bytes] = {}
        handler = type("Handler", (_BookHandler,), {"overrides": self.overrides})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def server(html_dir: Path) -> Iterator[BookServer]:
    srv = BookServer(html_dir)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(
            f"no Chromium at {CHROMIUM} (install Debian's package: `apt-get install chromium`)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is missing (pip install -r requirements.txt)")
    with sync_playwright() as pw:
        # Playwright cannot download its own browser here: drive Debian's Chromium.  Playwright
        # starts it on a fresh, empty profile folder of its own.
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE_ARGS, headless=True
        )
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        # Each page is seen as on a first visit: no stored theme mode or other local state.
        context.add_init_script(
            "try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}"
        )
        try:
            yield context
        finally:
            context.close()
            chromium.close()
