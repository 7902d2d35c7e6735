"""Tasks: what fitness means (datasets + training recipe, tabular benchmarks).

Build one from a campaign's ``task:`` mapping with :func:`build_task`; ``TASK_DEFAULTS`` lists each
task's options and their defaults. Built-in tasks:

* ``digits``: sklearn's embedded 8x8 digits, trained with a small recipe (:mod:`.digits`).
* ``tabular``: a lookup in a CSV of precomputed results, e.g. NAS-Bench-201 (:mod:`.tabular`).
* ``faulty``: wraps another task and injects faults, for tests (:mod:`.testing`).
* ``simulated``: wraps another task and sleeps a seeded duration, for benchmarks
  (:mod:`.simulated`).
* ``proxy``: wraps a dataset task and scores untrained networks by zero-cost proxies (synflow,
  NASWOT, snip, grad_norm, jacov; params and FLOPs), for objectives and pre-screens
  (:mod:`.proxy`).
* ``xor``, ``pole``: NEAT's benchmarks for CPPN genomes, XOR and cart-pole balancing
  (:mod:`.control`).
* ``external``: the results come from the user's own training loop through the ask-and-tell
  :class:`~evonas.study.Study` (:mod:`.external`).
* ``digits_hyperneat``: the digits classified by a substrate a CPPN paints (:mod:`.hyperneat`).
* ``idx``, ``npz``, ``image_folder``, ``cifar``: image classification on files people have
  (MNIST-format files, numpy archives, class folders of PNG/JPEG, CIFAR python batches); a
  factory named by import path can hand over ``torch.utils.data.Dataset`` objects instead
  (:func:`~evonas.tasks.datasets.torch_dataset_task`, :meth:`DatasetTask.from_torch`). See
  :mod:`.datasets`.

Importing this package does not import torch; the training loop does, on first use.
"""

from evonas.tasks.base import Task
from evonas.tasks.control import (
    POLE_DEFAULTS,
    XOR_DEFAULTS,
    PoleTask,
    XORTask,
    make_pole_task,
    make_xor_task,
)
from evonas.tasks.datasets import (
    CIFAR_DEFAULTS,
    IDX_DEFAULTS,
    IMAGE_FOLDER_DEFAULTS,
    NPZ_DEFAULTS,
    DatasetTask,
    SplitPlan,
    make_cifar_task,
    make_idx_task,
    make_image_folder_task,
    make_npz_task,
)
from evonas.tasks.digits import DIGITS_DEFAULTS, DigitsTask, make_digits_task
from evonas.tasks.errors import EvaluationFailure, TaskError
from evonas.tasks.external import EXTERNAL_DEFAULTS, make_external_task
from evonas.tasks.hyperneat import (
    HYPERNEAT_DIGITS_DEFAULTS,
    HyperNEATDigitsTask,
    make_hyperneat_digits_task,
)
from evonas.tasks.proxy import PROXY_DEFAULTS, make_proxy_task
from evonas.tasks.recipe import Recipe
from evonas.tasks.registry import TASK_DEFAULTS, build_task, register_task, task_names
from evonas.tasks.simulated import SIMULATED_DEFAULTS, SimulatedTask, make_simulated_task
from evonas.tasks.tabular import TABULAR_DEFAULTS, TabularTask, make_tabular_task
from evonas.tasks.testing import FAULTY_DEFAULTS, FaultyTask, make_faulty_task

register_task("digits", make_digits_task, DIGITS_DEFAULTS)
register_task("tabular", make_tabular_task, TABULAR_DEFAULTS)
register_task("faulty", make_faulty_task, FAULTY_DEFAULTS)
register_task("simulated", make_simulated_task, SIMULATED_DEFAULTS)
register_task("xor", make_xor_task, XOR_DEFAULTS)
register_task("pole", make_pole_task, POLE_DEFAULTS)
register_task("digits_hyperneat", make_hyperneat_digits_task, HYPERNEAT_DIGITS_DEFAULTS)
register_task("idx", make_idx_task, IDX_DEFAULTS)
register_task("npz", make_npz_task, NPZ_DEFAULTS)
register_task("image_folder", make_image_folder_task, IMAGE_FOLDER_DEFAULTS)
register_task("cifar", make_cifar_task, CIFAR_DEFAULTS)
register_task("proxy", make_proxy_task, PROXY_DEFAULTS)
register_task("external", make_external_task, EXTERNAL_DEFAULTS)

__all__ = [
    "TASK_DEFAULTS",
    "DatasetTask",
    "DigitsTask",
    "EvaluationFailure",
    "FaultyTask",
    "HyperNEATDigitsTask",
    "PoleTask",
    "Recipe",
    "SimulatedTask",
    "SplitPlan",
    "TabularTask",
    "Task",
    "TaskError",
    "XORTask",
    "build_task",
    "register_task",
    "task_names",
]
