"""Load a script of ``benchmarks/`` (not a package) as a module, for the tests of its functions."""

import importlib.util
from pathlib import Path


def load_benchmark(name):
    """The module ``benchmarks/<name>.py``."""
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
