"""Cheap checks of the documentation sources (the full build is ``make docs``, run by CI)."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def _api_modules():
    text = (DOCS / "api" / "index.rst").read_text()
    blocks = re.findall(r"\.\. autosummary::\n((?:   .*\n|\n)+)", text)
    names = []
    for block in blocks:
        names += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith(":")]
    return names


def test_api_reference_lists_modules_that_import():
    names = _api_modules()
    assert {"pnp.api", "pnp.operators.blur", "pnp.datasteps.fft", "priors.registry", "solvers.hqs"} <= set(names)
    for name in names:
        importlib.import_module(name)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_gallery_examples_have_a_title_and_parse(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    doc = ast.get_docstring(tree, clean=False)
    assert doc, f"{path.name} needs a module docstring (sphinx-gallery header)"
    lines = [line for line in doc.strip("\n").splitlines()]
    assert len(lines) >= 2 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), \
        f"{path.name}: the docstring must start with a title underlined by '='"
    source = path.read_text()
    for network in ("urllib", "requests", "urlopen", "weights=\"official\""):
        assert network not in source, f"{path.name} must build offline ({network})"


def test_gallery_config_and_pages_exist():
    conf = (DOCS / "conf.py").read_text()
    for text in ('"examples_dirs": "../examples"', '"gallery_dirs": "auto_examples"', '"filename_pattern": "/plot_"'):
        assert text in conf
    assert "sphinx.ext.intersphinx" not in conf  # the build must work offline
    assert (ROOT / "examples" / "README.rst").is_file()
    index = (DOCS / "index.rst").read_text()
    for page in ("getting_started", "mathematics", "priors", "cli", "auto_examples/index", "api/index", "benchmarks"):
        assert page in index
        if "/" not in page:
            assert (DOCS / f"{page}.rst").is_file() or (DOCS / f"{page}.md").is_file(), page


def test_cli_help_renders_for_the_docs():
    from pnp.cli import build_parser

    text = build_parser().format_help()
    assert "deblur" in text and "priors" in text
