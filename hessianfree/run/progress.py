"""Progress display for :func:`~hessianfree.run.training.run_epochs`.

On a terminal, one status line is redrawn in place (carriage return): a bar
over the epochs, the training and test error, the damping, and the CG
iterations of the epoch in progress (updated while CG runs, at most ten times
a second).  Every ``print_period`` epochs the line is kept and a new one
starts, so the history stays on screen.  When the output is not a terminal
(a file, a pipe, a notebook) the display degrades to one plain line every
``print_period`` epochs.  ``print_period=None`` turns it off.
"""

import shutil
import sys
import time

BAR_WIDTH = 16
#: Seconds between redraws while CG runs.
REDRAW_INTERVAL = 0.1


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _fmt(value):
    return "-" if value is None else f"{value:.4g}"


class Progress:
    """Report training progress on ``stream`` (default: ``sys.stdout`` at
    the time of each write).

    Parameters
    ----------
    max_epochs : int
        Number of epochs the run may take (length of the bar).
    print_period : int or None
        Keep a line every this many epochs; None: show nothing.
    stream : file-like, optional
        Where to write (default ``sys.stdout``).
    terminal : bool, optional
        Force (True) or forbid (False) the redrawn line; default: whether
        ``stream`` is a terminal.
    """

    def __init__(self, max_epochs, print_period, stream=None, terminal=None):
        self.max_epochs, self.print_period = max_epochs, print_period
        self._stream = stream
        self.enabled = print_period is not None
        self.terminal = self.enabled and (_is_terminal(self.stream) if terminal is None
                                          else bool(terminal))
        self._line = ""          # what the live line shows now
        self._status = {}        # latest values shown on the line
        self._epoch = 0
        self._last_draw = 0.0

    @property
    def stream(self):
        return sys.stdout if self._stream is None else self._stream

    # ------------------------------------------------------------ events
    def start_epoch(self, epoch, optimizer, printing=False):
        """An epoch begins; on a terminal, follow its CG iterations (unless
        the optimizer prints this epoch: then the line is cleared for it)."""
        self._epoch = epoch
        if self.terminal:
            optimizer.progress = None if printing else self.inner_iteration
            if printing:
                self.clear()

    def inner_iteration(self, i, max_iters):
        """CG iteration ``i`` of at most ``max_iters`` finished."""
        now = time.monotonic()
        if now - self._last_draw >= REDRAW_INTERVAL:
            self._status["CG"] = f"{i}/{max_iters}"
            self._draw(self._bar(self._epoch, self._epoch + 1))

    def end_epoch(self, epoch, elapsed, train_error, test_error=None, damping=None,
                  cg_iters=None):
        """Show the results of ``epoch`` (0-based; shown counting from 1, as
        ``epoch k/max_epochs`` on the bar and in the plain lines alike)."""
        if not self.enabled:
            return
        self._status = {"train": _fmt(train_error)}
        if test_error is not None:
            self._status["test"] = _fmt(test_error)
        if damping is not None:
            self._status["damping"] = _fmt(damping)
        if cg_iters is not None:
            self._status["CG"] = str(cg_iters)
        keep = epoch % self.print_period == 0
        if self.terminal:
            self._draw(self._bar(epoch + 1, epoch + 1) + f"  {elapsed:.1f} s")
            if keep:
                self._newline()
        elif keep:
            self._write(f"epoch {epoch + 1}/{self.max_epochs}: {self._summary()} "
                        f"({elapsed:.1f} s)\n")

    def message(self, text, always=False):
        """A line of text (e.g. why the run stopped), below the live line;
        ``always``: even when the display is off (``print_period=None``)."""
        if self.enabled or always:
            self.clear()
            self._write(text + "\n")

    def clear(self):
        """Erase the live line (before other output, e.g. the optimizer's)."""
        if self.terminal and self._line:
            self._write("\r" + " " * len(self._line) + "\r")
            self._line = ""

    def close(self, optimizer=None):
        """End the display: keep the live line, detach from ``optimizer``."""
        if optimizer is not None and optimizer.progress == self.inner_iteration:
            optimizer.progress = None
        if self.terminal and self._line:
            self._newline()

    # ---------------------------------------------------------- drawing
    def _summary(self):
        names = {"train": "training error", "test": "test error"}
        return ", ".join(f"{names.get(k, k)} {v}" for k, v in self._status.items())

    def _bar(self, done, current):
        """The live line: ``done`` epochs finished, epoch ``current`` (from 1)
        running or just finished."""
        filled = int(BAR_WIDTH * min(done, self.max_epochs) / self.max_epochs)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        values = "  ".join(f"{k} {v}" for k, v in self._status.items())
        return f"[{bar}] epoch {current}/{self.max_epochs}  {values}"

    def _draw(self, line):
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        line = line[:width]
        pad = " " * max(0, len(self._line) - len(line))
        self._write("\r" + line + pad)
        self._line = line
        self._last_draw = time.monotonic()

    def _newline(self):
        self._write("\n")
        self._line = ""

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()
