"""Installation script for hessianfree.

``pip install .`` installs the library; extras: ``.[test]`` (pytest,
hypothesis, matplotlib), ``.[demos]`` (matplotlib), ``.[gpu]`` (CuPy for
CUDA 13) and ``.[docs]`` (Sphinx).
"""

import pathlib
import re

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).resolve().parent


def read_version():
    """Return ``__version__`` from ``hessianfree/__init__.py`` without importing it."""
    text = (ROOT / "hessianfree" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    if match is None:
        raise RuntimeError("__version__ not found in hessianfree/__init__.py")
    return match.group(1)


setup(
    name="hessianfree",
    version=read_version(),
    description=("Hessian-free optimization for feed-forward and recurrent "
                 "neural networks"),
    long_description=(ROOT / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    author="hessianfree developers",
    license="BSD-3-Clause",
    packages=find_packages(include=["hessianfree", "hessianfree.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=2.0", "scipy>=1.10"],
    extras_require={
        "test": ["pytest", "hypothesis", "matplotlib"],
        "demos": ["matplotlib"],
        "gpu": ["cupy-cuda13x>=13.6"],
        "docs": ["sphinx"],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Science/Research",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
