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
# Names outside this documentation (no intersphinx: the build runs offline),
# words of type descriptions in Attributes sections ("(n,) array", "int64
# ndarray": lower case, unlike classes) and private base classes.
nitpick_ignore_regex = [
    ("py:(class|func|meth|data|mod)",
     r"(numpy|scipy|mpi4py|cupy|cupyx|matplotlib|os|pstats|cProfile|importlib)(\..*)?"),
    ("py:class", r"[a-z_0-9\-\>\"{}/ ]+[a-z_0-9\"{}]*|.*[(), ].*"),
    ("py:class", r"hessianfree\.[\w.]*\._\w+"),
]


def _lookup(name):
    """``(object, owner)`` that the dotted ``name`` names, or ``(None, None)``."""
    import importlib

    parts = name.split(".")
    if not all(parts):
        return None, None
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except (ImportError, ValueError, TypeError):
            continue
        owner = None
        try:
            for attr in parts[i:]:
                owner, obj = obj, getattr(obj, attr)
        except AttributeError:
            return None, None
        return obj, owner
    return None, None


def _canonical_name(obj, owner, attr):
    """``module.qualname`` where autodoc documents ``obj`` (for an inherited
    method or a property, the class that defines it)."""
    import types

    if isinstance(obj, types.ModuleType):
        return obj.__name__
    if isinstance(owner, type):
        for cls in owner.__mro__:
            if attr in vars(cls):
                return f"{cls.__module__}.{cls.__qualname__}.{attr}"
    qualname, module = getattr(obj, "__qualname__", None), getattr(obj, "__module__", None)
    return f"{module}.{qualname}" if qualname and module else None


def _resolve_alias(app, env, node, contnode):
    """Resolve references to public aliases (``hessianfree.FFNet``,
    ``FFNet.calc_G``, ``hessianfree.load``) through the place where autodoc
    documents the object."""
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target:
        return None
    module, cls = node.get("py:module") or "", node.get("py:class") or ""
    domain = env.get_domain("py")
    for name in (target, f"hessianfree.{target}", f"{module}.{target}",
                 f"{module}.{cls}.{target}"):
        obj, owner = _lookup(name)
        canonical = None if obj is None else _canonical_name(obj, owner,
                                                             name.rsplit(".", 1)[-1])
        if canonical is None or canonical == target:
            continue
        for role in ("class", "func", "meth", "attr", "mod", "data", "obj"):
            found = domain.resolve_xref(env, node["refdoc"], app.builder, role,
                                        canonical, node, contnode)
            if found is not None:
                return found
    return None


def setup(app):
    app.connect("missing-reference", _resolve_alias)

master_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
