"""Run the original ``hessianfree`` 0.4.0's own tests against this package.

The original's sdist ships ``hessianfree/tests/`` (``test_ffnet.py``,
``test_rnnet.py``, ``test_optimizers.py``, ``test_demos.py`` and the
GPU-only ``test_gpu.py``).  This script copies them out of the sdist into a
temporary directory, changes one line in each, ``from hessianfree.tests
import use_GPU`` (the original's test package, which this package does not
ship), to ``use_GPU = [False]``, and runs them with pytest against the
package in this checkout.  Nothing else is changed.  It prints pytest's
summary and a ``RESULT`` line with the counts.

Get the sdist with ``pip download --no-deps --no-binary :all:
hessianfree==0.4.0``.  Usage::

    python bench/run_original_tests.py [--sdist /work/orig-sdist/hessianfree-0.4.0.zip]
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
IMPORT_LINE = "from hessianfree.tests import use_GPU"


def find_sdist(path):
    """The sdist file: ``path`` itself, or the one archive in directory ``path``."""
    if os.path.isdir(path):
        found = sorted(glob.glob(os.path.join(path, "hessianfree-0.4.0.*")))
        if not found:
            sys.exit(f"no hessianfree-0.4.0 sdist in {path}")
        path = found[0]
    return path


def extract_tests(sdist, target):
    """Copy ``hessianfree/tests/test_*.py`` of the sdist into ``target``,
    with the ``use_GPU`` import replaced; return the file names."""
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as z:
            members = {n: z.read(n) for n in z.namelist()}
    else:
        with tarfile.open(sdist) as t:
            members = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    names = []
    for name, data in members.items():
        if re.search(r"/hessianfree/tests/test_\w+\.py$", name):
            text = data.decode()
            text = text.replace(IMPORT_LINE, "use_GPU = [False]")
            names.append(os.path.basename(name))
            with open(os.path.join(target, names[-1]), "w") as f:
                f.write(text)
    return sorted(names)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--sdist", default="/work/orig-sdist",
                        help="the hessianfree-0.4.0 sdist, or a directory holding it")
    args = parser.parse_args(argv)
    sdist = find_sdist(args.sdist)
    with tempfile.TemporaryDirectory() as tmp:
        names = extract_tests(sdist, tmp)
        print(f"load average {os.getloadavg()[0]:.2f}; running {', '.join(names)} from "
              f"{os.path.basename(sdist)} against {REPO}", flush=True)
        env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND="Agg")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-rs", tmp], cwd=tmp, env=env, capture_output=True, text=True)
    print(proc.stdout[-4000:], proc.stderr[-2000:], sep="")
    counts = {key: int(n) for n, key in
              re.findall(r"(\d+) (passed|failed|skipped|error)", proc.stdout)}
    print("RESULT " + " ".join(f"{k}={counts.get(k, 0)}"
                               for k in ("passed", "failed", "skipped", "error")))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
