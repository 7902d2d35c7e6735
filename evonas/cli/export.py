"""Write a run's individual out as a network: ``.py`` source, ``.pt`` weights or ``.onnx``.

``evonas best --export`` writes the trained weights ``evonas train`` kept for the individual
(:mod:`evonas.retrain`); else those the search kept (``campaign.keep_weights``,
:mod:`evonas.kept_weights`); and freshly initialised ones, said so, where none were kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from evonas.errors import ConfigError, JournalError, OutputError
from evonas.retrain import latest_trained, trained_module
from evonas.run import Individual, Run
from evonas.seeds import evaluation_seed
from evonas.tasks import build_task
from genomes import DAGGenome, GenomeError, space_from_dict

#: Input shape and classes used when the task has no tensors of its own (a table lookup):
#: NAS-Bench-201's CIFAR-10 network.
TABLE_DEFAULT_SHAPE = (3, 32, 32)
TABLE_DEFAULT_CLASSES = 10
EXPORT_SUFFIXES = (".py", ".pt", ".onnx")
#: The network each built-in task trains, by ``task.name``: input shape and class count. Export
#: reads them here (or from what the evaluation recorded) and never builds the task: a run folder
#: is data, and building a task runs code the folder names.
BUILTIN_NETWORKS: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((1, 8, 8), 10),
    "tabular": (TABLE_DEFAULT_SHAPE, TABLE_DEFAULT_CLASSES),
}


def export_best(individual: Individual, config: dict[str, Any], path: Path,
                run_dir: Path | None = None) -> str:
    """Compile ``individual`` and write it to ``path``: trained where its weights were kept.

    With ``run_dir``, the individual's latest model that ``evonas train`` kept there (a
    ``trained`` event whose weight file is intact, :func:`evonas.retrain.latest_trained`) is
    written with its trained weights, for the inputs and classes it was trained on; else the
    weights its evaluation left when ``campaign.keep_weights`` kept them
    (:mod:`evonas.kept_weights`; for a cached copy, its source's). Otherwise the weights are
    freshly initialised from the individual's evaluation seed and the note says so. The input
    shape and class count of an untrained export come
    from the journal (the evaluation's metrics where they record ``input_shape`` and
    ``num_classes``, else the built-in task the frozen config names); no task is built and nothing
    the run folder names is imported.

    Returns:
        A short note on what was written: ``trained on digits (30 epochs, test accuracy 0.98),
        ...``, ``trained during the search (8 epochs, validation accuracy 0.97; ...), ...`` or
        ``untrained: no kept weights; run `evonas train RUN --id 12`, ...``.

    Raises:
        OutputError: on an unknown file suffix, a folder that does not exist or a failed write.
        ConfigError: on a task that is not built in or a genome the run's space cannot compile.
        JournalError: on kept weights that do not fit the individual's network.
    """
    path = Path(path)
    where = f"--export {path}"
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise OutputError(f"{where}: unknown format {path.suffix!r}; use "
                          f"{', '.join(EXPORT_SUFFIXES)}")
    if not path.parent.is_dir():
        raise OutputError(f"{where}: the folder {path.parent} does not exist")
    if not isinstance(individual.genome, DAGGenome):
        raise ConfigError(f"{where}: individual {individual.id} has a "
                          f"{getattr(individual.genome, 'kind', type(individual.genome).__name__)}"
                          " genome; only DAG genomes compile to a network")
    seed = config.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"{where}: the run's meta.config.seed is not an integer ({seed!r:.40})")
    trained, damaged = (None, 0) if run_dir is None else latest_trained(run_dir,
                                                                        individual.id)
    searched = None  # weights the search kept (campaign.keep_weights), if no retrained ones
    if trained is None and run_dir is not None:
        searched, missing = _searched_weights(run_dir, individual)
        damaged += missing
    if trained is not None:
        shape, classes = trained.input_shape, trained.num_classes
    elif searched is not None:
        shape, classes = searched[1], searched[2]
    else:
        shape, classes = network_shape(config, individual.metrics, where)
    # Local: torch and the compiler load only when a network is built (the CLI starts without).
    import torch

    from evonas.compiler import compile_genome, export_module

    try:
        # a missing space (None) raises TypeError, reported below
        space = space_from_dict(cast("dict[str, Any]", config.get("space")))
        if trained is not None:
            module = trained_module(trained, individual.genome, space)
        elif searched is not None:
            module = compile_genome(individual.genome, space, shape, classes)
            try:
                module.load_state_dict(searched[0])
            except RuntimeError as exc:
                raise JournalError(f"{where}: the kept weights do not fit individual "
                                   f"{individual.id}'s network "
                                   f"({' '.join(str(exc).split())[:160]})") from None
            module.eval()
        else:
            torch.manual_seed(evaluation_seed(seed, individual.id))
            module = compile_genome(individual.genome, space, shape, classes)
    except (GenomeError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot compile individual {individual.id} for the run's "
                          f"space ({' '.join(str(exc).split())[:200]})") from None
    try:
        export_module(module, path, torch.zeros(1, *shape))
    except OSError as exc:
        raise OutputError(f"{where}: cannot write ({exc.strerror or exc})") from None
    network = f"input {tuple(shape)}, {classes} classes"
    if trained is not None:
        accuracy = trained.metrics.get("test_accuracy")
        shown = f"{accuracy:.4f}" if isinstance(accuracy, int | float) else "?"
        return (f"trained on {trained.task_name} ({trained.recipe.get('epochs')} epochs, test "
                f"accuracy {shown}; weights {trained.weights}), {network}")
    if searched is not None:
        epochs, accuracy = individual.metrics.get("epochs"), individual.metrics.get("val_accuracy")
        shown = f"{accuracy:.4f}" if isinstance(accuracy, int | float) else "?"
        return (f"trained during the search ({epochs} epochs, validation accuracy {shown}; "
                f"weights {searched[3]}), {network}")
    hint = f"run `evonas train {run_dir if run_dir is not None else 'RUN'} --id {individual.id}`"
    why = (f"{damaged} kept weight file(s) missing or damaged" if damaged
           else "no kept weights")
    return f"untrained: {why}; {hint}, {network}"


def _searched_weights(run_dir: Path, individual: Individual
                      ) -> tuple[tuple[Any, tuple[int, int, int], int, Path] | None, int]:
    """The model state the search kept for ``individual`` (or the individual its cached result
    copies), with its input shape, class count and file; and 1 when a kept file is damaged.

    Raises:
        JournalError: when a kept file cannot be parsed as a weights file.
    """
    from evonas.weights import WeightsFileError, load_state

    with Run(run_dir) as run:
        kept = run.kept_weights()
    owner = individual.source_id if individual.source_id is not None else individual.id
    entry = kept.get(owner)
    if entry is None:
        return None, 0
    if not entry.intact():
        return None, 1
    try:
        state = load_state(entry.path)
        network = state["network"]
        shape = tuple(int(d) for d in network["input_shape"])
        classes = int(network["num_classes"])
        model = state["model"]
    except (WeightsFileError, KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"{entry.path}: not kept weights of a network ({exc})"[:300]) from None
    if len(shape) != 3 or not isinstance(model, dict):
        raise JournalError(f"{entry.path}: not kept weights of a network")
    return (model, (shape[0], shape[1], shape[2]), classes, entry.path), 0


def network_shape(config: dict[str, Any], metrics: dict[str, Any] | None = None,
                  where: str = "export") -> tuple[tuple[int, int, int], int]:
    """The input shape and class count of a run's networks, read without building its task.

    From ``metrics`` when the evaluation recorded ``input_shape`` (three positive integers) and
    ``num_classes``; else from :data:`BUILTIN_NETWORKS` by the config's ``task.name`` (through
    ``faulty``'s ``inner``).

    Raises:
        ConfigError: when neither says (a task named by import path is never imported).
    """
    metrics = metrics or {}
    shape, classes = metrics.get("input_shape"), metrics.get("num_classes")
    if (isinstance(shape, list | tuple) and len(shape) == 3
            and all(type(d) is int and 0 < d <= 4096 for d in shape)
            and type(classes) is int and 0 < classes <= 1_000_000):
        return (shape[0], shape[1], shape[2]), classes
    task = config.get("task")
    for _ in range(8):  # faulty wraps another task; a loop of wrappers is not followed far
        name = task.get("name") if isinstance(task, dict) else None
        if name == "faulty" and isinstance(task, dict):
            task = task.get("inner", {"name": "tabular"})
            continue
        if isinstance(name, str) and name in BUILTIN_NETWORKS:
            return BUILTIN_NETWORKS[name]
        break
    raise ConfigError(f"{where}: the run's task {name!r:.80} is not a built-in task with a "
                      "network, and its evaluations do not record input_shape and num_classes; "
                      "export never builds a task from a run folder (use `evonas compile "
                      "GENOME --config CONFIG` with a config you trust)")


def compile_for_task(genome: DAGGenome, config: dict[str, Any],
                     seed: int) -> tuple[Any, tuple[int, int, int], int]:
    """Compile ``genome`` for the input shape and classes of the config's task.

    Returns:
        The module (weights initialised from ``seed``), the input shape and the class count.
    """
    # Local: torch and the compiler load only when a network is built (the CLI starts without).
    import torch

    from evonas.compiler import compile_genome

    space = space_from_dict(config["space"])
    task = build_task(config["task"], space)
    shape = cast("tuple[int, int, int]", tuple(task.input_shape or TABLE_DEFAULT_SHAPE))
    classes = task.num_classes or TABLE_DEFAULT_CLASSES
    torch.manual_seed(seed)
    return compile_genome(genome, space, shape, classes), shape, classes
