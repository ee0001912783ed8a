"""The documentation's Python examples run as written.

Every ``.. code-block:: python`` block of README.rst and docs/*.rst runs, in
order, in one namespace per file, in a temporary directory (files the
examples write land there), with matplotlib drawing off screen.  A block
whose directive follows the rst comment line ``.. no-test`` (needs torch,
MPI, a GPU or minutes of work) is skipped.
"""

import pathlib
import re
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.rst"] + sorted((ROOT / "docs").glob("*.rst"))
DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*python\s*$")
NO_TEST = ".. no-test"


def python_blocks(text):
    """``(line number, code, skipped)`` of each Python code block in rst
    ``text``; ``skipped`` when the previous non-blank line is ``.. no-test``."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        previous = next((p.strip() for p in reversed(lines[:i]) if p.strip()), "")
        indent = len(match["indent"])
        j = i + 1
        while j < len(lines) and lines[j].strip().startswith(":") and \
                len(lines[j]) - len(lines[j].lstrip()) > indent:
            j += 1  # directive options such as :caption:
        body = []
        while j < len(lines) and (not lines[j].strip()
                                  or len(lines[j]) - len(lines[j].lstrip()) > indent):
            body.append(lines[j])
            j += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        blocks.append((i + 1, code, previous == NO_TEST))
    return blocks


def test_block_parser():
    text = textwrap.dedent("""\
        Intro.

        .. code-block:: python
           :caption: first

           x = 1

           y = x + 1

        .. no-test
        .. code-block:: python

           import torch

        .. code-block:: console

           $ ls
        """)
    blocks = python_blocks(text)
    assert [(n, skip) for n, _, skip in blocks] == [(3, False), (11, True)]
    assert blocks[0][1] == "x = 1\n\ny = x + 1"


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_examples_run(path, tmp_path, monkeypatch):
    blocks = [(n, code) for n, code, skipped in python_blocks(path.read_text())
              if not skipped]
    if not blocks:
        pytest.skip(f"{path.name} has no Python blocks to run")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{path.name}, block at line {line}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{path.relative_to(ROOT)}: the code block at line "
                                 f"{line} fails: {type(e).__name__}: {e}") from e
        finally:
            _close_figures()


def _close_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
