"""Write a run's individual out as a network: ``.py`` source, ``.pt`` weights or ``.onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evonas.config import ConfigError
from evonas.run import Individual
from genomes import DAGGenome

#: Input shape and classes used when the task has no tensors of its own (a table lookup):
#: NAS-Bench-201's CIFAR-10 network.
TABLE_DEFAULT_SHAPE = (3, 32, 32)
TABLE_DEFAULT_CLASSES = 10
EXPORT_SUFFIXES = (".py", ".pt", ".onnx")


def export_best(individual: Individual, config: dict[str, Any], path: Path) -> str:
    """Compile ``individual`` for the run's task and write it to ``path``.

    The weights are freshly initialised from the individual's evaluation seed (evaluations do not
    keep trained weights); train the exported network with your own recipe.

    Returns:
        A short note on what was written.

    Raises:
        ConfigError: on an unknown file suffix.
    """
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise ConfigError(f"--export {path}: unknown format {path.suffix!r}; use "
                          f"{', '.join(EXPORT_SUFFIXES)}")
    import torch

    from evonas.campaign import evaluation_seed
    from evonas.compiler import export_module

    module, shape, classes = compile_for_task(
        individual.genome, config, evaluation_seed(config["seed"], individual.id))
    export_module(module, path, torch.zeros(1, *shape))
    return f"input {tuple(shape)}, {classes} classes, untrained weights"


def compile_for_task(genome: DAGGenome, config: dict[str, Any],
                     seed: int) -> tuple[Any, tuple[int, int, int], int]:
    """Compile ``genome`` for the input shape and classes of the config's task.

    Returns:
        The module (weights initialised from ``seed``), the input shape and the class count.
    """
    import torch

    from evonas.compiler import compile_genome
    from evonas.tasks import build_task
    from genomes import space_from_dict

    space = space_from_dict(config["space"])
    task = build_task(config["task"], space)
    shape = tuple(task.input_shape or TABLE_DEFAULT_SHAPE)
    classes = task.num_classes or TABLE_DEFAULT_CLASSES
    torch.manual_seed(seed)
    return compile_genome(genome, space, shape, classes), shape, classes
