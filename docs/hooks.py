"""MkDocs hooks of the documentation site: the math renderer goes into the built site.

KaTeX comes from the npm package pinned in ``docs/package.json`` (``npm ci --prefix docs``)
and is copied into ``site/assets/katex``, so the site typesets its math with no network.
"""

import os
import shutil

from mkdocs.exceptions import PluginError

KATEX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_modules", "katex", "dist")


def on_config(config):
    if not os.path.isfile(os.path.join(KATEX, "katex.min.js")):
        raise PluginError(f"KaTeX is missing ({KATEX}): install it with npm ci --prefix docs")
    return config


def on_post_build(config):
    target = os.path.join(config["site_dir"], "assets", "katex")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(KATEX, target, ignore=shutil.ignore_patterns("*.mjs", "katex.js", "katex.css", "*.ttf", "*.woff"))
