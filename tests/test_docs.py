"""The documentation's Python examples run as written, and print what they
say they print.

Every ``.. code-block:: python`` block of README.rst and docs/*.rst runs, in
order, in one namespace per file, in a temporary directory (files the
examples write land there), with matplotlib drawing off screen.  A block
whose directive follows the rst comment line ``.. no-test`` (needs torch,
MPI, a GPU or minutes of work) is skipped.

A comment after a one-line ``print(...)`` is its expected output
(``print(x.shape)  # (3, 2)``): the test compares it with what the call
printed, whitespace runs counting as one space.  Explanations go on a line
of their own.
"""

import builtins
import io
import pathlib
import re
import sys
import textwrap
import tokenize

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


def expected_outputs(code):
    """``{line: expected}`` for each one-line ``print(...)`` of ``code``
    that a comment follows (lines counted from 1 in ``code``)."""
    expected = {}
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    lines = code.splitlines()
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        row, col = token.start
        statement = lines[row - 1][:col].strip()
        if statement.startswith("print(") and statement.endswith(")"):
            expected[row] = token.string[1:].strip()
    return expected


def test_expected_output_parser():
    code = textwrap.dedent("""\
        x = 3  # not a print
        print(x)  # 3
        # a comment line of its own
        print(f"{x:.2f} #")   # 3.00 #
        print(x)
        """)
    assert expected_outputs(code) == {2: "3", 4: "3.00 #"}


def same_output(printed, expected):
    return " ".join(printed.split()) == " ".join(expected.split())


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_examples_run(path, tmp_path, monkeypatch):
    blocks = [(n, code) for n, code, skipped in python_blocks(path.read_text())
              if not skipped]
    if not blocks:
        pytest.skip(f"{path.name} has no Python blocks to run")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    printed = {}

    def recording_print(*args, **kwargs):
        """print, and keep what each line of a docs block printed."""
        caller = sys._getframe(1)
        if kwargs.get("file") is None:
            text = io.StringIO()
            builtins.print(*args, **{**kwargs, "file": text})
            printed.setdefault((caller.f_code.co_filename, caller.f_lineno), []).append(
                text.getvalue())
        builtins.print(*args, **kwargs)

    namespace = {"__name__": "__docs__", "print": recording_print}
    for line, code in blocks:
        name = f"{path.name}, block at line {line}"
        try:
            exec(compile(code, name, "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{path.relative_to(ROOT)}: the code block at line "
                                 f"{line} fails: {type(e).__name__}: {e}") from e
        finally:
            _close_figures()
        for row, expected in expected_outputs(code).items():
            outputs = printed.get((name, row), [])
            assert outputs and all(same_output(out, expected) for out in outputs), (
                f"{path.relative_to(ROOT)}: line {row} of the code block at line {line} "
                f"says it prints {expected!r}, but printed {outputs!r}")


def _close_figures():
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
