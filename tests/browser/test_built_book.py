"""Open every page of the built book in headless Chromium and check what a reader sees (issue 9).

Per page: MathJax (served by the book itself, no CDN) has typeset every formula and left no raw
TeX and no TeX error; the console shows no JavaScript error; every image loaded; no request failed
or left 127.0.0.1; every internal link (and its ``#anchor``) resolves; theorem/proof boxes and
derivation badges are visible; the download button (every page) and the Binder launch
button (notebook pages) exist, and no Colab button (Colab does not install ``elbo_book``).
A full-page screenshot of each page goes to ``test-output/screenshots/``.

Run with ``pytest tests/browser --browser`` after building the book (``make browser``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest

# Console errors that come from the book's toolchain, not from the book, each with the reason it is
# tolerated.  Keep this list short; anything else in the console fails the test.
KNOWN_TOOLCHAIN_ERRORS = {
    "Identifier 'THEBE_JS_URL' has already been declared": (
        "sphinx-thebe 0.3.1 under Sphinx 7.4 writes its inline config <script> twice on every "
        "page; the first copy defines everything, so nothing on the page breaks"
    ),
}
# Requests that may fail, with the reason.
KNOWN_MISSING = {
    "/favicon.ico": "the book sets no favicon and Chromium asks for one on every page",
}

# Text a reader must never see outside code: TeX that MathJax did not typeset.
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\\end\{|\$[^$\n]{0,200}\\[A-Za-z]+[^$\n]{0,200}\$"
)

MATHJAX_WAIT_MS = 20_000
VIEWPORT = {"width": 1280, "height": 900}
# Screenshots cover the whole page up to this height; a longer page (the Errata, the API
# reference) is cut there, because a full-page capture of a 40,000-pixel page alone takes over ten
# seconds.  Generated pages (highlighted module source, indexes) get their first screen only.
MAX_SHOT_HEIGHT = 12_000
FIRST_SCREEN_ONLY = (
    "_modules/",
    "genindex.html",
    "py-modindex.html",
    "search.html",
    "prf-prf.html",
)

# One round trip collects everything the page shows; run after the `load` event.
INSPECT_JS = r"""
async (waitMs) => {
  const timeout = (ms) => new Promise((resolve) => setTimeout(() => resolve('timeout'), ms));
  const out = {};
  out.mathjax = typeof window.MathJax === 'object' && !!(window.MathJax.startup
      && window.MathJax.startup.promise);
  if (out.mathjax) {
    out.mathjaxDone = await Promise.race([
      window.MathJax.startup.promise.then(() => 'ok', (e) => 'error: ' + e), timeout(waitMs)]);
  }
  await Promise.race([document.fonts.ready, timeout(5000)]);
  const imgs = [...document.images];
  await Promise.race([Promise.all(imgs.map((im) => im.complete ? null : new Promise((r) => {
    im.addEventListener('load', r); im.addEventListener('error', r); }))), timeout(10000)]);
  out.images = imgs.map((im) => ({src: im.currentSrc || im.src,
                                  ok: im.complete && im.naturalWidth > 0}));

  // Shown, with a size, and not cut off by a clipping or scrolling ancestor (an output area that
  // is too narrow hides a table's last column): a reader sees it without scrolling sideways.
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
        || r.width <= 0 || r.height <= 0) return false;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === 'visible') continue;
      const c = a.getBoundingClientRect();
      if (Math.min(r.right, c.right) - Math.max(r.left, c.left) < Math.min(r.width, 40) - 1)
        return false;
    }
    return true;
  };
  const skip = 'pre, code, script, style, textarea, noscript, mjx-container, .highlight';
  // Visible prose text, code and typeset math excluded.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !el.checkVisibility()) continue;
    texts.push(n.textContent);
  }
  out.text = texts.join('\n');
  const mathNodes = [...document.querySelectorAll('.math')];
  out.mathNodes = mathNodes.length;
  out.untypeset = mathNodes.filter((m) => !m.querySelector('mjx-container'))
      .map((m) => m.textContent.trim().slice(0, 120));
  out.mjx = document.querySelectorAll('mjx-container').length;
  // TeX errors: a parse error gives <merror>; an undefined macro is shown as red text.
  out.mathErrors = [...document.querySelectorAll('mjx-merror, mjx-container [data-mjx-error]')]
      .map((e) => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  out.undefinedMacros = [...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
      .map((e) => e.textContent);

  const box = (el) => ({visible: visible(el), cls: el.className,
      border: getComputedStyle(el).borderLeftStyle, title: (el.querySelector('.admonition-title')
      || el).textContent.trim().slice(0, 60)});
  out.proofs = [...document.querySelectorAll('div.proof')].map(box);
  // Strength badges: elements marked .elbo-badge, else the elements whose own text carries a
  // verdict mark (the engine writes "✓ symbolic ..." / "✗ fails as expected").
  const ownText = (e) => [...e.childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent).join('');
  out.derivations = [...document.querySelectorAll('.elbo-derivation')].map((d) => {
    let badges = [...d.querySelectorAll('.elbo-badge')];
    if (!badges.length) {
      badges = [...d.querySelectorAll('*')].filter((e) => !e.closest('mjx-container')
          && /[✓✗]/.test(ownText(e)));
    }
    return {visible: visible(d), typeset: d.querySelectorAll('mjx-container').length,
            badges: badges.map((b) => ({visible: visible(b), text: b.textContent.trim()}))};
  });
  // A formula with a "$" glued to it: dollar math that MyST parsed wrongly ("$$ x $$ text").
  out.strayDollars = [...document.querySelectorAll('mjx-container')].filter((m) => {
    const host = m.parentElement && m.parentElement.classList.contains('math')
        ? m.parentElement : m;
    const prev = host.previousSibling, next = host.nextSibling;
    return (prev && prev.nodeType === 3 && /\$\s*$/.test(prev.textContent))
        || (next && next.nodeType === 3 && /^\s*\$/.test(next.textContent));
  }).map((m) => (m.parentElement.textContent || '').replace(/\u2061/g, '').trim().slice(0, 80));
  const q = (sel) => document.querySelector(sel);
  const hrefs = (sel) => [...document.querySelectorAll(sel + ' a[href]')].map((a) => a.href);
  const shown = (sel) => !!q(sel) && visible(q(sel));
  out.download = {present: !!q('.dropdown-download-buttons'),
      visible: shown('.dropdown-download-buttons > button'),
      links: hrefs('.dropdown-download-buttons'),
      print: !!q('.dropdown-download-buttons .btn-download-pdf-button')};
  out.launch = {present: !!q('.dropdown-launch-buttons'),
      visible: shown('.dropdown-launch-buttons > button'),
      links: hrefs('.dropdown-launch-buttons')};
  out.links = [...document.querySelectorAll('a[href]')].map((a) => a.href);
  // Sphinx declares DOCUMENTATION_OPTIONS with `const`: a global binding, not a window property.
  out.height = document.documentElement.scrollHeight;
  out.pagename = typeof DOCUMENTATION_OPTIONS === 'object' ? DOCUMENTATION_OPTIONS.pagename : null;
  return out;
}
"""


class _Anchors(HTMLParser):
    """Collects the ids and names an HTML file defines (targets of ``#fragment`` links)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.anchors.add(value)


@dataclass
class LinkChecker:
    """Resolves same-origin links against the files of the built book (cached across pages)."""

    html_dir: Path
    base: str
    _anchors: dict[Path, set[str]] = field(default_factory=dict)

    def anchors(self, path: Path) -> set[str]:
        if path not in self._anchors:
            parser = _Anchors()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            self._anchors[path] = parser.anchors
        return self._anchors[path]

    def problem(self, href: str) -> str | None:
        """Why ``href`` does not resolve, or None when it does (other hosts are not checked)."""
        if not href.startswith(self.base):
            return None
        url, fragment = urldefrag(href)
        rel = unquote(urlsplit(url).path).lstrip("/")
        target = (self.html_dir / rel).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(self.html_dir) or not target.is_file():
            return f"broken link {href}: no file {rel or '/'}"
        if fragment and target.suffix == ".html" and unquote(fragment) not in self.anchors(target):
            return f"broken link {href}: no #{fragment} in {rel}"
        return None


@dataclass
class PageReport:
    """What one visit to one page found."""

    url: str
    data: dict[str, Any]
    console_errors: list[str]
    failed_requests: list[str]
    outside_requests: list[str]

    def problems(self, links: LinkChecker, source: Path | None) -> list[str]:
        d = self.data
        out: list[str] = []
        out += [f"JavaScript error in the console: {e}" for e in self.console_errors]
        out += [f"request failed: {r}" for r in self.failed_requests]
        out += [
            f"request left the machine (the book must read offline): {r}"
            for r in self.outside_requests
        ]
        # Math.
        if d["mathNodes"] and not d["mathjax"]:
            out.append(f"{d['mathNodes']} formulas but MathJax did not load")
        if d.get("mathjaxDone", "ok") != "ok":
            out.append(f"MathJax did not finish typesetting: {d['mathjaxDone']}")
        out += [f"formula left untypeset: {t!r}" for t in d["untypeset"]]
        out += [f"MathJax error in a formula: {t!r}" for t in d["mathErrors"]]
        out += [f"undefined TeX macro in a formula: {t!r}" for t in d["undefinedMacros"]]
        out += [
            f"a stray '$' next to a formula (math parsed wrongly): {t!r}" for t in d["strayDollars"]
        ]
        for m in RAW_TEX.finditer(d["text"]):
            context = d["text"][max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
            out.append(f"raw TeX on the page: {m.group(0)!r} in ...{context}...")
        # Images and links.
        out += [f"image did not load: {im['src']}" for im in d["images"] if not im["ok"]]
        out += sorted({p for p in map(links.problem, d["links"]) if p})
        # Theorem/proof boxes and derivations.
        for box in d["proofs"]:
            if not box["visible"] or box["border"] == "none":
                out.append(f"theorem/proof box not shown as a box: {box['title']!r} ({box['cls']})")
        for i, der in enumerate(d["derivations"], 1):
            if not der["visible"]:
                out.append(f"derivation {i} is not visible")
            if not der["typeset"]:
                out.append(f"derivation {i} has no typeset math")
            if not der["badges"]:
                out.append(f"derivation {i} shows no strength badges")
            for b in der["badges"]:
                if not b["visible"] or not re.search(r"[✓✗]", b["text"]):
                    out.append(
                        f"derivation {i}: badge not visible (hidden or cut off) or without a "
                        f"verdict: {b['text'][:80]!r}"
                    )
        # What the page's source promises must be on the page.
        src = source.read_text(encoding="utf-8") if source and source.is_file() else ""
        if "{prf:" in src and not d["proofs"]:
            out.append(
                "the source has sphinx-proof directives but the page shows no theorem/proof box"
            )
        if "elbo-derivation" in src and not d["derivations"]:
            out.append("the notebook has derivation outputs but the page shows none")
        if source is not None:
            dl = d["download"]
            if not (dl["present"] and dl["visible"] and dl["print"]):
                out.append(f"download button missing or hidden: {dl}")
            elif not any("/_sources/" in h for h in dl["links"]):
                out.append(f"download button has no link to the page source: {dl['links']}")
        if source is not None and source.suffix == ".ipynb":
            la = d["launch"]
            if not (la["present"] and la["visible"]):
                out.append(f"launch button missing or hidden on a notebook page: {la}")
            if not any("mybinder.org" in h for h in la["links"]):
                out.append(f"launch button has no mybinder.org link: {la['links']}")
            if any("colab.research.google.com" in h for h in la["links"]):
                out.append(f"Colab launch link present, but Colab cannot import elbo_book: {la}")
        return out


def visit(context: Any, url: str, screenshot: Path | None) -> PageReport:
    """Open ``url`` in a new tab, wait for MathJax, inspect the page, take a full screenshot."""
    page = context.new_page()
    page.set_default_timeout(30_000)
    console: list[str] = []
    failed: list[str] = []
    outside: list[str] = []
    origin = "/".join(url.split("/", 3)[:3]) + "/"

    def on_request(r: Any) -> None:
        if not r.url.startswith((origin, "data:", "blob:")):
            outside.append(r.url)

    page.on("request", on_request)
    page.on("pageerror", lambda e: console.append(str(e)))

    def on_console(m: Any) -> None:
        if m.type != "error":
            return
        if m.text.startswith("Failed to load resource"):  # an HTTP error: report it with its URL
            failed.append(f"{m.location.get('url', '?')} ({m.text})")
        else:
            console.append(m.text)

    page.on("console", on_console)
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on(
        "response",
        lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None,
    )
    try:
        redirect = re.search(r"http-equiv=.?refresh", page.request.get(url).text(), re.I)
        page.goto(url, wait_until="load")
        if redirect:
            # A redirect page (index.html): check the page it sends the reader to.
            page.wait_for_url(lambda u: u != url)
            page.wait_for_load_state("load")
        data = page.evaluate(INSPECT_JS, MATHJAX_WAIT_MS)
        if screenshot is not None:
            first_screen = url.removeprefix(origin).startswith(FIRST_SCREEN_ONLY)
            if data["height"] > MAX_SHOT_HEIGHT and not first_screen:
                page.set_viewport_size({"width": VIEWPORT["width"], "height": MAX_SHOT_HEIGHT})
            full = not first_screen and data["height"] <= MAX_SHOT_HEIGHT
            page.screenshot(path=str(screenshot), full_page=full)
    finally:
        page.close()
    console = [c for c in console if c not in KNOWN_TOOLCHAIN_ERRORS]
    # An HTTP error shows up twice (response and console); requests that left the machine are
    # reported as such; known missing files are tolerated.
    failed = sorted(
        {f.split(" (")[0]: f for f in failed}.values() if failed else [],
    )
    failed = [
        f
        for f in failed
        if not f.startswith(tuple(outside)) and urlsplit(f.split(" ")[0]).path not in KNOWN_MISSING
    ]
    return PageReport(url, data, console, failed, outside)


def _source_of(html_dir: Path, pagename: str | None) -> Path | None:
    """The page's source as the book ships it under ``_sources/`` (None for generated pages)."""
    if not pagename:
        return None
    for ext in (".ipynb", ".md", ".rst"):
        path = html_dir / "_sources" / f"{pagename}{ext}"
        if path.is_file():
            return path
    return None


def test_page(
    page_path: str, html_dir: Path, server: Any, browser: Any, screenshot_dir: Path
) -> None:
    shot = screenshot_dir / (page_path.removesuffix(".html").replace("/", "__") + ".png")
    report = visit(browser, server.base + page_path, shot)
    links = LinkChecker(html_dir, server.base)
    problems = report.problems(links, _source_of(html_dir, report.data["pagename"]))
    assert not problems, f"{page_path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)


# Negative controls: the checks above must catch a broken page.  Each serves a deliberately broken
# copy of a real page of the book (same folder, so its assets load) and expects the check to fail.


def _page_with_math(html_dir: Path) -> str:
    for page in sorted(html_dir.rglob("*.html")):
        if 'class="math' in page.read_text(encoding="utf-8") and "mathjax" in page.read_text(
            encoding="utf-8"
        ):
            return page.relative_to(html_dir).as_posix()
    pytest.fail("no page of the book has a formula: the math checks cannot be exercised")


def _broken_visit(
    html_dir: Path, server: Any, browser: Any, page: str, html: str, source: Path | None = None
) -> list[str]:
    broken = "/" + page.removesuffix(".html") + "__broken.html"
    server.overrides[broken] = html.encode()
    try:
        report = visit(browser, server.base.rstrip("/") + broken, None)
    finally:
        del server.overrides[broken]
    problems = report.problems(LinkChecker(html_dir, server.base), source)
    return [p for p in problems if "__broken.html" not in p]  # its links to itself are not on disk


def test_control_formula_left_untypeset(html_dir: Path, server: Any, browser: Any) -> None:
    """A page whose MathJax does not load (what a CDN gives offline) shows raw TeX: caught."""
    page = _page_with_math(html_dir)
    html = re.sub(
        r"<script[^>]*tex-mml-chtml\.js[^>]*></script>", "", (html_dir / page).read_text()
    )
    problems = _broken_visit(html_dir, server, browser, page, html)
    assert any(p.startswith("formula left untypeset") for p in problems), problems
    assert any(p.startswith("raw TeX on the page") for p in problems), problems


def test_control_bad_formula(html_dir: Path, server: Any, browser: Any) -> None:
    """TeX between single dollars (not a math delimiter in HTML), a TeX error, an unknown macro and
    a formula wrapped in stray dollars ("$$ x $$ text" misparsed): all caught."""
    page = _page_with_math(html_dir)
    extra = (
        r"<p>Stray $\log p(x) \ge \mathcal{L}$ text.</p>"
        r'<span class="math notranslate nohighlight">\(x^1^2\)</span>'
        r'<span class="math notranslate nohighlight">\(\notamacro{x}\)</span>'
        r'<p>$<span class="math notranslate nohighlight">\(y\)</span>$ More.</p>'
    )
    html = (html_dir / page).read_text().replace("</main>", extra + "</main>", 1)
    problems = _broken_visit(html_dir, server, browser, page, html)
    assert any(p.startswith("raw TeX on the page: '$\\\\log") for p in problems), problems
    assert any(p.startswith("MathJax error in a formula") for p in problems), problems
    assert any(p.startswith("undefined TeX macro") for p in problems), problems
    assert any(p.startswith("a stray '$' next to a formula") for p in problems), problems


def test_control_hidden_box_broken_link_missing_buttons(
    html_dir: Path, server: Any, browser: Any
) -> None:
    """A hidden theorem box, a derivation without badges, a dead link, a missing image and a page
    without its download/launch buttons: all caught."""
    page = _page_with_math(html_dir)
    html = (html_dir / page).read_text()
    html = re.sub(r'class="[^"]*dropdown-(download|launch)-buttons[^"]*"', 'class="gone"', html)
    extra = (
        '<div class="proof theorem admonition" style="display:none">'
        '<p class="admonition-title">Theorem 9</p><p>Hidden.</p></div>'
        "<div class='elbo-derivation mathjax_process'><table><tr><td>\\(a\\)</td></tr>"
        "<tr><td>\\(=b\\)</td><td style='display:none'>✓ symbolic</td></tr></table></div>"
        '<a href="no_such_page.html">dead</a>'
        '<a href="/genindex.html#no-such-anchor">dead anchor</a>'
        '<img src="no_such_image.png" alt="missing">'
    )
    html = html.replace("</main>", extra + "</main>", 1)
    notebook = html_dir / "_sources" / "control.ipynb"  # a notebook page must have launch buttons
    problems = _broken_visit(html_dir, server, browser, page, html, source=notebook)
    expected = [
        "theorem/proof box not shown as a box: 'Theorem 9'",
        f"broken link {urljoin(server.base + page, 'no_such_page.html')}: no file",
        f"broken link {server.base}genindex.html#no-such-anchor: no #no-such-anchor",
        "image did not load",
        "download button missing",
        "launch button missing",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    # The injected derivation is numbered after those the page already shows.
    hidden_badge = re.compile(r"derivation \d+: badge not visible \(hidden or cut off\)")
    assert any(hidden_badge.match(p) for p in problems), problems
