"""The tutorials (docs/tutorials/*.md) run without the docs tools.

The site runs every ```python exec="on"``` block when it is built (markdown-exec); this test
runs the same blocks with the plain test suite, so a tutorial that an API change broke fails
here too, where mkdocs is not installed. Each page runs in a fresh interpreter, its blocks in
order; blocks with the same ``session="NAME"`` share their globals, a block without one runs in
a namespace of its own, as markdown-exec does.

    python tests/test_tutorials.py [PAGE.md ...]    # run the pages and print what they print
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = sorted(p for p in TUTORIALS.glob("*.md") if p.name != "index.md")
BLOCK = re.compile(r'^```python exec="on"([^\n]*)\n(.*?)^```', re.M | re.S)
SESSION = re.compile(r'session="([^"]+)"')

# runs in the fresh interpreter: each block in its session's globals, its printed output kept
DRIVER = r"""
import contextlib, io, json, sys
blocks = json.loads(sys.stdin.read())
sessions = {}
for i, (session, code) in enumerate(blocks):
    scope = sessions.setdefault(session, {"__name__": "__main__"}) if session else {"__name__": "__main__"}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<block {i + 1} (session {session})>", "exec"), scope)
    finally:
        sys.stderr.write(f"--- block {i + 1} (session {session}) printed:\n{out.getvalue()}")
"""


def blocks(page: Path) -> list:
    """(session or None, code) of every executed python block of the page, in order."""
    out = []
    for options, code in BLOCK.findall(page.read_text(encoding="utf-8")):
        m = SESSION.search(options)
        out.append((m.group(1) if m else None, code))
    return out


def run_page(page: Path, timeout: float = 120):
    env = {**os.environ, "NPGAN_BACKEND": "numpy", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(blocks(page)), capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout)


def test_there_are_tutorials_and_an_index_that_links_each():
    index = (TUTORIALS / "index.md").read_text(encoding="utf-8")
    assert len(PAGES) >= 7
    for page in PAGES:
        assert f"({page.name})" in index, page.name
        text = page.read_text(encoding="utf-8")
        assert blocks(page), f"{page.name}: no executed python block"
        assert "## Exercises" in text, f"{page.name}: no Exercises section"
        assert "../reference/" in text, f"{page.name}: links no reference page"


def test_the_tutorials_are_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in [TUTORIALS / "index.md", *PAGES]:
        assert f"tutorials/{page.name}" in nav, page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_tutorial_runs(page):
    r = run_page(page)
    assert r.returncode == 0, r.stderr[-4000:]


if __name__ == "__main__":
    for page in [Path(a).resolve() for a in sys.argv[1:]] or PAGES:
        start = time.perf_counter()
        r = run_page(page)
        print(r.stderr)
        print(f"=== {page.name}: exit {r.returncode}, {time.perf_counter() - start:.1f} s\n")
