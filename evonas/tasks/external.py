"""The task of an ask-and-tell study: the user trains, evonas only searches (``name: external``).

With :class:`evonas.study.Study` the fitness comes from the user's own training loop
(``study.tell(trial, {"fitness": ...})``), so the campaign needs a task only for what it says
about the network, never to evaluate one. Config::

    task:
      name: external
      input_shape: [3, 32, 32]    # (channels, height, width) Trial.module() compiles for; or null
      num_classes: 10             # outputs of the classifier Trial.module() builds; or null
      target: null                # a fitness that ends the study once told (stop_at_target)

A study whose config has no ``task:`` gets ``{name: external}``. :meth:`ExternalTask.evaluate`
always fails: a campaign run with ``evonas run`` on this task records every evaluation as failed,
with a reason that points at :meth:`Study.tell <evonas.study.Study.tell>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evonas.tasks.base import Task
from evonas.tasks.errors import EvaluationFailure
from evonas.tasks.options import read_options, require

if TYPE_CHECKING:
    from genomes import Genome, SearchSpace

EXTERNAL_DEFAULTS: dict[str, Any] = {
    "input_shape": None,
    "num_classes": None,
    "target": None,
}

#: The reason every evaluation of the external task fails with.
EXTERNAL_REASON = "results of the external task come from Study.tell"


class ExternalTask(Task["Genome"]):
    """A task whose results the user tells (see :mod:`evonas.tasks.external`).

    Args:
        input_shape: ``(channels, height, width)`` the user's networks take, or None.
        num_classes: outputs of the user's classifier, or None.
    """

    name = "external"
    fitness_metric = "fitness"

    def __init__(self, input_shape: tuple[int, int, int] | None = None,
                 num_classes: int | None = None) -> None:
        self.input_shape = input_shape
        self.num_classes = num_classes

    def evaluate(self, genome: Genome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Never evaluates: the user's loop does, and tells the study.

        Raises:
            EvaluationFailure: always.
        """
        raise EvaluationFailure(EXTERNAL_REASON)

    def describe(self) -> str:
        shape = "x".join(map(str, self.input_shape)) if self.input_shape else "no input shape"
        classes = f"{self.num_classes} classes" if self.num_classes else "no class count"
        return f"external (fitness told by the user; {shape}, {classes})"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def make_external_task(task_config: dict[str, Any], space: SearchSpace) -> ExternalTask:
    """The registry factory for ``name: external``.

    Raises:
        TaskError: naming ``task.input_shape``, ``task.num_classes`` or ``task.target``.
    """
    options = read_options("external", task_config, EXTERNAL_DEFAULTS)
    shape = options["input_shape"]
    require(shape is None or (isinstance(shape, list | tuple) and len(shape) == 3
                              and all(_positive_int(d) for d in shape)),
            "input_shape", f"must be [channels, height, width] of positive integers or null, "
            f"got {shape!r}")
    classes = options["num_classes"]
    require(classes is None or _positive_int(classes), "num_classes",
            f"must be a positive integer or null, got {classes!r}")
    target = options["target"]
    require(target is None or (isinstance(target, int | float) and not isinstance(target, bool)),
            "target", f"must be a number or null, got {target!r}")
    return ExternalTask(None if shape is None else (int(shape[0]), int(shape[1]), int(shape[2])),
                        classes)
