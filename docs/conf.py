"""Sphinx configuration for the hessianfree documentation.

Build with ``sphinx-build docs docs/_build/html`` from the repository root
(``pip install ".[docs]"`` installs Sphinx).
"""

import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)


def _version():
    with open(os.path.join(ROOT, "hessianfree", "__init__.py"),
              encoding="utf-8") as f:
        match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""",
                          f.read(), re.M)
    return match.group(1) if match else "unknown"


project = "hessianfree"
author = "hessianfree developers"
copyright = "2026, hessianfree developers"
release = _version()
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Parameter types are descriptions such as "(batch, n_in) array_like,
# optional", not cross-references: render them as text, so that
# ``sphinx-build -n`` only reports references written with a role.
napoleon_use_param = False
napoleon_use_keyword = False
# Names outside this documentation (no intersphinx: the build runs offline).
nitpick_ignore_regex = [
    ("py:class", r"(numpy|scipy|mpi4py|cupy|matplotlib|os|pstats)\..*"),
    ("py:mod", r"cProfile|pstats|numpy|scipy|mpi4py|cupy|matplotlib"),
]

master_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
