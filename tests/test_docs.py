"""The documentation site: built in strict mode, then read in a real browser (headless Chromium).

The site is built once (``mkdocs build --strict``: a warning, a broken link or a failing code
block on a page fails it) and served by a plain static server; Chromium opens the home page and
the ConvTranspose2D page, and every page of the site is checked for what a reader would see:
math typeset (no raw TeX left in the visible text, no KaTeX error), every image loaded, no
script error, every internal link answered. Screenshots go to the test's folder, or to
``$NPGAN_DOCS_SCREENSHOTS`` where set. Skipped, with the reason, where the docs extra, KaTeX
(``npm ci --prefix docs``) or a Chromium is missing.
"""

import functools
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KATEX = ROOT / "docs" / "node_modules" / "katex" / "dist" / "katex.min.js"
MISSING = ([m for m in ("mkdocs", "material", "mkdocstrings", "markdown_exec", "playwright")
            if importlib.util.find_spec(m) is None])
REASON = (f"the docs extra is not installed (missing {', '.join(MISSING)}): pip install -e '.[docs]'" if MISSING
          else "KaTeX is not installed: npm ci --prefix docs" if not KATEX.exists()
          else "no Chromium (Debian: apt-get install chromium)" if CHROMIUM is None else None)
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

# every public class and function of these modules has a reference page with its own anchor
DOCUMENTED = ["npgan.nn", "npgan.losses", "npgan.optim", "npgan.gan", "npgan.gan.losses", "npgan.gan.penalties",
              "npgan.gradcheck", "npgan.evaluation.metrics"]
RAW_TEX = ("$$", "\\frac", "\\begin{", "\\(", "\\[", "\\bar{", "\\sum_")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NPGAN_BACKEND": "numpy", "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("NPGAN_DOCS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_page(browser, url, shot=None):
    """What a reader sees on ``url``: errors, visible text, math and images, and the links."""
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url, wait_until="load")
    page.wait_for_function("document.querySelectorAll('.arithmatex').length === 0 || "
                           "document.querySelectorAll('.arithmatex .katex').length > 0", timeout=10_000)
    seen = page.evaluate("""() => ({
        text: document.querySelector('article').innerText,
        math: document.querySelectorAll('.arithmatex').length,
        typeset: document.querySelectorAll('.arithmatex .katex').length,
        katexErrors: document.querySelectorAll('.katex-error').length,
        brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    })""")
    if shot is not None:
        page.screenshot(path=str(shot))
    page.close()
    return seen, errors


def assert_reads_well(seen, errors, url):
    assert errors == [], (url, errors)
    assert seen["typeset"] >= seen["math"] and seen["katexErrors"] == 0, url
    raw = [t for t in RAW_TEX if t in seen["text"]]
    assert not raw, f"{url}: raw TeX in the visible text: {raw}"
    assert seen["brokenImages"] == [], (url, seen["brokenImages"])


def test_the_home_page_and_the_conv_transpose_page_read_well_in_chromium(site, server, browser, tmp_path):
    shots = screenshots(tmp_path)
    seen, errors = read_page(browser, server + "index.html", shots / "home.png")
    assert_reads_well(seen, errors, "index.html")
    assert "gradient check of Conv2D" in seen["text"]  # the tour's code ran when the site was built
    page = "reference/npgan.nn/ConvTranspose2D.html"
    seen, errors = read_page(browser, server + page, shots / "ConvTranspose2D.png")
    assert_reads_well(seen, errors, page)
    assert seen["typeset"] > 20  # the derivation, typeset
    assert "gradient check of ConvTranspose2D" in seen["text"] and "max rel err" in seen["text"]
    for name in ("home.png", "ConvTranspose2D.png"):
        assert (shots / name).stat().st_size > 10_000


def test_every_page_has_typeset_math_loaded_images_no_script_error_and_links_that_resolve(site, server, browser):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) > 60
    checked_links = set()
    for page in pages:
        seen, errors = read_page(browser, server + page)
        assert_reads_well(seen, errors, page)
        for link in seen["links"]:
            target, _ = urldefrag(link)
            if target.startswith(server) and target not in checked_links:
                checked_links.add(target)
                with urllib.request.urlopen(target) as r:  # a missing page raises HTTPError 404
                    assert r.status == 200, target


def test_the_site_works_from_file_urls(site, browser):
    for page in ("index.html", "notation.html", "reference/npgan.nn/BatchNorm.html"):
        url = (site / page).as_uri()
        seen, errors = read_page(browser, url)
        assert_reads_well(seen, errors, url)
        for link in seen["links"]:
            target, _ = urldefrag(link)
            if target.startswith("file:"):
                assert Path(urllib.request.url2pathname(target[len("file://"):])).exists(), (page, target)


def test_every_public_class_and_function_has_a_page_with_its_anchor(site):
    for module_name in DOCUMENTED:
        module = importlib.import_module(module_name)
        for name in _public(module):
            page = site / "reference" / module_name / f"{name}.html"
            assert page.exists(), page
            assert f'id="{module_name}.{name}"' in page.read_text(encoding="utf-8"), page


def _public(module):
    import inspect
    names = getattr(module, "__all__", None) or [
        n for n, o in vars(module).items() if not n.startswith("_") and getattr(o, "__module__", None) == module.__name__]
    return [n for n in names if inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n))]


def test_the_reference_pages_are_made_from_the_docstrings_not_copied():
    """One source per derivation: no reference page is kept in docs/; each is an mkdocstrings
    directive written at build time."""
    assert not (ROOT / "docs" / "reference").exists()
    assert "::: {module_name}.{name}" in (ROOT / "docs" / "gen_reference.py").read_text()


def test_link_checking_has_teeth(server):
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(urljoin(server, "no-such-page.html"))
