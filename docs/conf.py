"""Sphinx configuration of the pnp-deblur documentation (``make docs``).

The build needs no network: no intersphinx, the examples use images bundled
with scikit-image and kernels bundled with the package, and MathJax is only
loaded by the reader's browser.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PNP_DATA", str(ROOT.parent / "shared" / "data"))
os.environ.setdefault("MPLBACKEND", "Agg")

import pnp  # noqa: E402

project = "pnp-deblur"
author = "the pnp-deblur developers"
copyright = "2026, the pnp-deblur developers"
release = version = pnp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# benchmarks_*.md and results/ are raw material merged into benchmarks.md, not pages of their own
exclude_patterns = ["_build", "benchmarks_*.md", "results/**", "**/README.rst", "sg_execution_times.rst"]

# -- API reference -------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Markdown (benchmarks.md) --------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- Example gallery -----------------------------------------------------------
# sphinx-gallery reruns an example only when its own file changes. The figures also depend on
# the library and on the shipped weights, so a change there reruns every example: the digest of
# those files is kept in the gallery folder, written once a build has succeeded.
GALLERY_STAMP = DOCS / "auto_examples" / ".library_sha256"


def _library_digest():
    import hashlib

    h = hashlib.sha256()
    files = [p for d in ("pnp", "priors", "solvers") for p in sorted((ROOT / d).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    for f in files:
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


LIBRARY_DIGEST = _library_digest()
RERUN_EXAMPLES = not GALLERY_STAMP.is_file() or GALLERY_STAMP.read_text().strip() != LIBRARY_DIGEST
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "backreferences_dir": None,
    "doc_module": (),
    "reference_url": {},
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "run_stale_examples": RERUN_EXAMPLES,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"pnp-deblur {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False


# -- ``.. pnp-help::`` directive: the command line's --help text, always current --
def setup(app):
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class PnpHelp(Directive):
        """``.. pnp-help:: [COMMAND]``: insert ``pnp [COMMAND] --help`` as a literal block."""

        optional_arguments = 1

        def run(self):
            from pnp.cli import build_parser

            os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
            parser = build_parser()
            if self.arguments:
                sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
                parser = sub.choices[self.arguments[0]]
            text = parser.format_help()
            return [nodes.literal_block(text, text, language="text")]

    app.add_directive("pnp-help", PnpHelp)
    app.connect("builder-inited", lambda app: setattr(app, "_pnp_t0", time.perf_counter()))
    def stamp(app, exc):
        if exc is None and GALLERY_STAMP.parent.is_dir():
            GALLERY_STAMP.write_text(LIBRARY_DIGEST + "\n")

    app.connect("build-finished", stamp)
    app.connect("build-finished", lambda app, exc: print(
        f"pnp docs: build took {time.perf_counter() - getattr(app, '_pnp_t0', time.perf_counter()):.1f} s"))
    return {"parallel_read_safe": True}
