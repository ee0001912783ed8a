"""The pathological problems' specifications: their names, sizes, kinds
and success criteria (:class:`Task`, :data:`TASKS`), which
:mod:`hessianfree.data.tasks` generates and re-exports."""

import dataclasses

import numpy as np

from hessianfree.losses import loss_funcs
from hessianfree.base import validation as val

#: Vocabulary of the random permutation problem.
PERMUTATION_SYMBOLS = 100
#: Bits to remember in the noiseless memorization problem.
MEMORY_BITS = 5
#: The 20-bit memorization problem: this many symbols out of
#: :data:`MEMORY_20BIT_SYMBOLS` (5 ** 10, about 2 ** 23 patterns).
MEMORY_20BIT_LENGTH = 10
#: The 20-bit memorization problem's number of symbols.
MEMORY_20BIT_SYMBOLS = 5
#: Martens & Sutskever's success criterion (``criterion="paper"``): fewer
#: than this fraction of the test sequences wrong ...
PAPER_THRESHOLD = 0.001
#: ... where a regression output is wrong when it is off by more than this.
PAPER_TOLERANCE = 0.04
#: The success criteria of :func:`~hessianfree.data.tasks.test_error`.
CRITERIA = ("library", "paper")


@dataclasses.dataclass(frozen=True)
class Task:
    """One pathological problem.

    Attributes
    ----------
    name : str
    n_in, n_out : int
        Input and output units.
    kind : {"regression", "classification"}
        Regression tasks use a linear output and squared error; classification
        tasks a softmax output, cross-entropy and one-hot targets.
    threshold : float
        Solved when :func:`~hessianfree.data.tasks.test_error` is below this: mean squared error for
        regression, fraction of misclassified scored steps for
        classification.
    min_T : int
        Smallest supported ``T``.
    """

    name: str
    n_in: int
    n_out: int
    kind: str
    threshold: float
    min_T: int = 10

    def scored(self, targets):
        """The targets the success criterion looks at (others set to NaN).

        Only the last step counts for ``random_permutation`` (its other
        targets, the next random symbol, cannot be predicted); every target
        counts for the other tasks.
        """
        if self.name != "random_permutation":
            return targets
        scored = np.full_like(targets, np.nan)
        scored[:, -1] = targets[:, -1]
        return scored

    def stopping_rule(self):
        """The success criterion as ``run_epochs`` arguments.

        Returns
        -------
        test_err : LossFunction
            Squared error (half the squared difference, one target per
            sequence) for regression, classification error for classification.
        target_err : float
            ``run_epochs`` stops once the test error is below this.  Pass the
            test targets through :meth:`scored` so that only the scored steps
            count.
        """
        if self.kind == "regression":
            return loss_funcs.SquaredError(), self.threshold / 2
        return loss_funcs.ClassificationError(), self.threshold


#: The tasks by name.
TASKS = {t.name: t for t in (
    Task("addition", 2, 1, "regression", 0.01),
    Task("multiplication", 2, 1, "regression", 0.01),
    Task("xor", 2, 2, "classification", 0.01),
    Task("temporal_order", 8, 4, "classification", 0.01),
    Task("temporal_order_3bit", 8, 8, "classification", 0.01),
    Task("random_permutation", PERMUTATION_SYMBOLS, PERMUTATION_SYMBOLS,
         "classification", 0.01, min_T=2),
    Task("memorization", 4, 2, "classification", 0.01, min_T=1),
    Task("memorization_20bit", MEMORY_20BIT_SYMBOLS + 2, MEMORY_20BIT_SYMBOLS,
         "classification", 0.01, min_T=1),
)}


def get_task(name):
    """The :class:`Task` called ``name`` (one of :data:`TASKS`)."""
    if not isinstance(name, str):
        raise TypeError(f"task must be a task name (str), got {type(name).__name__}")
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]


def threshold(task, criterion="library"):
    """The threshold below which :func:`~hessianfree.data.tasks.test_error` means solved:
    :attr:`Task.threshold`, or :data:`PAPER_THRESHOLD` for
    ``criterion="paper"``."""
    val.check_choice(criterion, "criterion", CRITERIA)
    return get_task(task).threshold if criterion == "library" else PAPER_THRESHOLD
