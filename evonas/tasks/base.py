"""The Task contract: what fitness means for a genome.

A task owns a dataset (or a lookup table) and a recipe. :meth:`Task.evaluate` turns one genome into
a dict of metrics; selection maximises ``metrics["fitness"]``. A task object is built once per
process (per worker) and keeps its data loaded between evaluations, so ``__init__`` does the slow
loading and ``evaluate`` only the per-genome work.

Rules every task follows:

* The metrics are JSON-safe numbers (``float`` or ``int``) and always include ``"fitness"``.
* The same ``(genome, seed)`` gives the same metrics on CPU: all randomness comes from ``seed``.
* A failure of one evaluation raises :class:`EvaluationFailure` with a short reason; any other
  exception is recorded as a failure too, by the evaluator, with its type and message.
* A bad configuration raises :class:`TaskError` from the constructor, naming the field or file.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from evonas.tasks.errors import EvaluationFailure, TaskError

if TYPE_CHECKING:
    from genomes import Genome

__all__ = ["PLAN_OPTIONS", "BatchScalingTask", "EvaluationFailure", "PlanTask", "Task",
           "TaskError", "accepts_plan", "plan_options"]

#: The genome kind a task scores (``Task[DAGGenome]``, ``Task[CPPNGenome]``).
G_contra = TypeVar("G_contra", bound="Genome", contravariant=True)


class Task(abc.ABC, Generic[G_contra]):
    """Base class of all tasks, generic in the genome kind they score.

    Attributes:
        name: the task's registered name (the ``task.name`` config value).
        fitness_metric: which metric ``fitness`` copies (``"val_accuracy"``, a table column...).
        input_shape: ``(channels, height, width)`` of one input, or None for tasks without a
            network input (table lookups).
        num_classes: number of output classes, or None where no network is built.
    """

    name: str
    fitness_metric: str
    input_shape: tuple[int, int, int] | None = None
    num_classes: int | None = None

    @abc.abstractmethod
    def evaluate(self, genome: G_contra, seed: int, device: str = "cpu") -> dict[str, float]:
        """Score one genome.

        Args:
            genome: the architecture, already valid for the task's search space.
            seed: seeds every random choice of this evaluation (weights, batch order).
            device: the torch device to train on (``"cpu"``, ``"cuda:0"``).

        Returns:
            JSON-safe metrics, always including ``"fitness"`` (higher is better).

        Raises:
            EvaluationFailure: when this evaluation fails for a known reason.
        """

    def warm_up(self, device: str = "cpu") -> None:
        """Do one-off setup before the first evaluation (imports, copying data to ``device``).

        Pool workers call it once at start-up, so the first evaluation is not slower than the
        rest. The default does nothing.
        """
        return None

    def describe(self) -> str:
        """A one-line description for logs."""
        return f"{self.name} (fitness = {self.fitness_metric})"


class PlanTask(Protocol):
    """A task whose :meth:`~Task.evaluate` takes a ``plan`` (its ``accepts_plan`` is true): a
    :class:`~evonas.tasks.plan.TrainingPlan` of weight files to read and write and of how far to
    train."""

    def evaluate(self, genome: Any, seed: int, device: str = "cpu", *,
                 plan: Any = None) -> dict[str, float]: ...


def accepts_plan(task: object) -> bool:
    """Whether ``task`` honours training plans (kept weights, fidelity, inheritance)."""
    return getattr(task, "accepts_plan", False) is True


#: The config options that make training plans, as dotted names.
PLAN_OPTIONS = frozenset({"campaign.keep_weights", "fidelity.scheduler",
                          "inherit_weights.enabled"})


def plan_options(task: object) -> frozenset[str]:
    """Which of :data:`PLAN_OPTIONS` ``task`` honours: all for a task that accepts plans,
    unless it names fewer in its ``plan_options`` (a task with rungs but no weights); none for
    one that does not."""
    if not accepts_plan(task):
        return frozenset()
    return frozenset(getattr(task, "plan_options", PLAN_OPTIONS))


class BatchScalingTask(Protocol):
    """A task whose :meth:`~Task.evaluate` takes ``batch_scale`` (its ``scales_batch`` is true)."""

    def evaluate(self, genome: Any, seed: int, device: str = "cpu", *,
                 batch_scale: float = 1.0, plan: Any = None) -> dict[str, float]: ...
