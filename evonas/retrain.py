"""Retrain what a search found: the full recipe on train + validation, the weights kept.

A search scores each genome with a proxy (a short recipe on the train split, picked by
validation accuracy). :func:`retrain` takes individuals of a run, trains each with its task's
recipe on the train and validation splits together, scores the test split once, and keeps the
trained weights in the run folder::

    RUN/trained/<id>-<key>.pt    the state dict: tensors only, written with torch.save; it loads
                                 with torch.load(path, weights_only=True) (no module is pickled)
    RUN/trained/<id>-<key>.json  a sidecar: genome, space, task, recipe, seed, metrics, checksum

``key`` fingerprints what was trained (genome, space, task config with its recipe, seed), so
another recipe or dataset gets files of its own. Each model is journaled as a ``trained`` event of
its individual (:data:`TRAINED_EVENT`; its data is :meth:`TrainedModel.event_data`) once its
files are in place (each written to a temporary file and renamed), so a rerun of the same command
skips every model whose event exists and whose weight file still has the checksum the event
recorded, and redoes one killed half way or whose file was damaged.

``--task OTHER.yaml`` trains on another dataset (does the architecture transfer?). ``evonas best
--export`` writes an individual's latest kept weights (:func:`latest_trained`).

Building a task runs its code: the run's own task is built only when it is a registered one (a
task named by import path in a run folder is never imported; give ``--task`` with a config you
trust). Torch loads inside the functions only, so the CLI starts without it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evonas.config import load_config
from evonas.errors import JournalError, OutputError, UsageError
from evonas.run import Individual, Run
from evonas.seeds import evaluation_seed
from evonas.storage import JOURNAL_FILE, Journal, json_safe, reading_journal
from evonas.storage.lock import RunLock
from evonas.tasks import TASK_DEFAULTS
from genomes import DAGGenome, SearchSpace, space_from_dict

if TYPE_CHECKING:
    import torch
    from torch import nn

    from evonas.tasks.classification import ClassificationTask

#: The journal event of one trained model (individual id = the model's individual).
TRAINED_EVENT = "trained"
#: The folder of the run that holds the kept weights and their sidecars.
TRAINED_DIR = "trained"
#: The ``format`` field of a sidecar.
SIDECAR_FORMAT = "evonas.trained/1"
#: What :func:`retrain` can export a trained model as (see :func:`evonas.compiler.export_module`).
EXPORT_FORMATS = (".pt", ".onnx", ".py")
#: Tasks that wrap another one (fault injection, simulated durations): the wrapped task is trained.
WRAPPER_TASKS = ("faulty", "simulated")
#: Registered tasks that have no network to retrain, and why.
UNTRAINABLE_TASKS = {
    "tabular": "looks results up in a table (no network is trained); train on a dataset with "
               "--task CONFIG",
    "xor": "evolves CPPN genomes, not a network to retrain",
    "pole": "evolves CPPN genomes, not a network to retrain",
    "digits_hyperneat": "evolves CPPN genomes, not a network to retrain",
}
#: A kept weight file's name: ``<id>-<key>.pt``.
_WEIGHTS_NAME = re.compile(r"[0-9]{1,12}-[0-9a-f]{12}\.pt")
_KEY = re.compile(r"[0-9a-f]{12}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TrainedModel:
    """One trained model of a run: what was trained, where its weights are, how it scored.

    Attributes:
        individual_id: the individual whose genome was trained.
        key: the fingerprint of what was trained (see the module docstring).
        weights: the weight file (inside the run's ``trained/`` folder).
        sha256: the weight file's checksum, as written.
        task: the task config it was trained on (``task:`` mapping, defaults filled in).
        recipe: the training recipe (:class:`~evonas.tasks.Recipe` fields).
        seed: the training seed (the individual's evaluation seed).
        input_shape: ``(channels, height, width)`` of the inputs it was trained on.
        num_classes: its outputs.
        metrics: ``test_accuracy``, ``test_loss``, ``params``, ``train_seconds``, ``epochs``,
            ``train_loss``, ``train_accuracy``, ``train_samples``, ``test_samples``.
        device: the torch device it trained on.
        seq: the journal sequence number of its event (None before it is journaled).
        reused: True when :func:`retrain` found it trained already and skipped it.
    """

    individual_id: int
    key: str
    weights: Path
    sha256: str
    task: dict[str, Any]
    recipe: dict[str, Any]
    seed: int
    input_shape: tuple[int, int, int]
    num_classes: int
    metrics: dict[str, Any]
    device: str = "cpu"
    seq: int | None = None
    reused: bool = False

    @property
    def sidecar(self) -> Path:
        """The JSON sidecar beside the weight file."""
        return self.weights.with_suffix(".json")

    @property
    def task_name(self) -> str:
        """The name of the task it was trained on."""
        return str(self.task.get("name"))

    def intact(self) -> bool:
        """Whether the weight file is there, a plain file, with the checksum recorded."""
        try:
            return _sha256(_read_weights(self.weights)) == self.sha256
        except OSError:
            return False

    def summary(self) -> str:
        """One line: ``individual 12 on digits, 30 epochs: test accuracy 0.9861, ...``."""
        m = self.metrics
        return (f"individual {self.individual_id} on {self.task_name}, "
                f"{m.get('epochs', self.recipe.get('epochs'))} epochs: test accuracy "
                f"{_fmt(m.get('test_accuracy'))}, {m.get('params', '?')} params, "
                f"{_fmt(m.get('train_seconds'), '.1f')} s")

    def event_data(self, run_dir: Path) -> dict[str, Any]:
        """The data of its ``trained`` event (the weight file relative to the run folder)."""
        return json_safe({
            "key": self.key, "weights": self.weights.relative_to(run_dir).as_posix(),
            "sha256": self.sha256, "task": self.task, "recipe": self.recipe, "seed": self.seed,
            "input_shape": list(self.input_shape), "num_classes": self.num_classes,
            "metrics": self.metrics, "device": self.device})

    @classmethod
    def from_event(cls, run_dir: Path, seq: int, individual_id: int | None,
                   data: Any) -> TrainedModel | None:
        """The model a ``trained`` event records, or None when the event is malformed.

        The weight file must be ``trained/<id>-<key>.pt`` of this run folder: an event cannot
        point anywhere else.
        """
        if not isinstance(data, dict) or type(individual_id) is not int:
            return None
        rel, key, sha = data.get("weights"), data.get("key"), data.get("sha256")
        shape, classes = data.get("input_shape"), data.get("num_classes")
        if not (isinstance(rel, str) and isinstance(key, str) and _KEY.fullmatch(key)
                and rel == f"{TRAINED_DIR}/{individual_id}-{key}.pt"
                and _WEIGHTS_NAME.fullmatch(rel.rpartition("/")[2])
                and isinstance(sha, str) and _SHA256.fullmatch(sha)):
            return None
        if not (isinstance(shape, list) and len(shape) == 3
                and all(type(d) is int and 0 < d <= 4096 for d in shape)
                and type(classes) is int and 0 < classes <= 1_000_000):
            return None
        task, recipe, metrics = data.get("task"), data.get("recipe"), data.get("metrics")
        seed = data.get("seed")
        if not (isinstance(task, dict) and isinstance(recipe, dict) and isinstance(metrics, dict)
                and type(seed) is int):
            return None
        device = data.get("device")
        return cls(individual_id, key, Path(run_dir) / rel, sha, task, recipe, seed,
                   (shape[0], shape[1], shape[2]), classes, metrics,
                   device if isinstance(device, str) else "?", seq)


@dataclass
class RetrainResult:
    """What :func:`retrain` did.

    Attributes:
        models: the trained models, in the order asked (``reused`` ones were trained already).
        failures: ``(individual id, reason)`` of models whose training failed (a NaN loss).
        exports: the files written to ``output``.
        task: the task config trained on.
        device: the torch device used.
    """

    models: list[TrainedModel] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)
    exports: list[Path] = field(default_factory=list)
    task: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


# ------------------------------------------------------------------ reading kept models
def trained_models(run_dir: str | Path, individual_id: int | None = None) -> list[TrainedModel]:
    """Every model the run's journal records as trained, in journal order.

    Malformed events are left out; nothing is checked against the files (see
    :meth:`TrainedModel.intact`).

    Args:
        run_dir: the run folder.
        individual_id: only this individual's models.

    Raises:
        JournalError: when the journal cannot be read.
    """
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_FILE
    with Journal.open(path, readonly=True) as journal, reading_journal(path):
        events = journal.events(TRAINED_EVENT)
    out = []
    for seq, _, ind_id, data in events:
        if individual_id is not None and ind_id != individual_id:
            continue
        model = TrainedModel.from_event(run_dir, seq, ind_id, data)
        if model is not None:
            out.append(model)
    return out


def latest_models(run_dir: str | Path) -> list[TrainedModel]:
    """The latest model of every key (a retrain of the same thing replaces the earlier one), in
    the order of those latest events."""
    latest: dict[tuple[int, str], TrainedModel] = {}
    for model in trained_models(run_dir):
        latest.pop((model.individual_id, model.key), None)
        latest[(model.individual_id, model.key)] = model
    return list(latest.values())


def latest_trained(run_dir: str | Path, individual_id: int) -> tuple[TrainedModel | None, int]:
    """The individual's latest model whose weight file is intact.

    Returns:
        ``(model or None, how many recorded models of the individual are damaged or missing)``.
    """
    damaged = 0
    for model in reversed(trained_models(run_dir, individual_id)):
        if model.intact():
            return model, damaged
        damaged += 1
    return None, damaged


def load_state(model: TrainedModel) -> dict[str, torch.Tensor]:
    """The kept state dict of ``model``, checked against its checksum and read tensors-only.

    Raises:
        JournalError: when the file is missing, damaged or not a state dict.
    """
    import torch

    try:
        data = _read_weights(model.weights)
    except OSError as exc:
        raise JournalError(f"{model.weights}: cannot read the kept weights "
                           f"({exc.strerror or exc})") from None
    if _sha256(data) != model.sha256:
        raise JournalError(f"{model.weights}: the kept weights are damaged (their checksum is not "
                           "the one journaled); rerun `evonas train` to train them again")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (an unpickling error of any kind)
        raise JournalError(f"{model.weights}: not a weights file ({type(exc).__name__})") from None
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                            for k, v in state.items())):
        raise JournalError(f"{model.weights}: not a state dict of tensors")
    return state


def trained_module(model: TrainedModel, genome: DAGGenome, space: SearchSpace) -> nn.Module:
    """``genome`` compiled for the model's inputs and classes, its kept weights loaded, in eval
    mode.

    Raises:
        JournalError: when the weights are damaged or do not fit the compiled network.
    """
    from evonas.compiler import compile_genome

    state = load_state(model)
    module = compile_genome(genome, space, model.input_shape, model.num_classes)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise JournalError(f"{model.weights}: the kept weights do not fit individual "
                           f"{model.individual_id}'s network ({' '.join(str(exc).split())[:160]})"
                           ) from None
    return module.eval()


# ------------------------------------------------------------------ choosing what to train
def select_individuals(run: Run, ids: Sequence[int] = (), best: bool = False,
                       top: int | None = None) -> list[Individual]:
    """The individuals ``--id``, ``--best`` or ``--top`` name (the best when none is given).

    Raises:
        UsageError: for more than one choice, an unknown id, ``top < 1``, a run without a
            successful evaluation, or an individual whose genome compiles to no network.
    """
    if sum((bool(ids), best, top is not None)) > 1:
        raise UsageError("--id, --best and --top: give one of them")
    chosen: list[Individual] = []
    if ids:
        for id_ in dict.fromkeys(ids):  # in the order given, each once
            try:
                chosen.append(run.individual(id_))
            except KeyError:
                count = run.status()["individuals"]
                span = f"ids 0 to {count - 1}" if count else "no individuals yet"
                raise UsageError(f"{run.path}: --id {id_}: no such individual (the run has "
                                 f"{span})") from None
    else:
        k = 1 if top is None else top
        if k < 1:
            raise UsageError(f"--top {k}: must be at least 1")
        path = run.path / JOURNAL_FILE
        with Journal.open(path, readonly=True) as journal, reading_journal(path):
            rows = journal.best(k)
        if not rows:
            raise UsageError(f"{run.path}: no successful evaluation yet; name an individual "
                             "with --id")
        chosen = [run.individual(row.individual_id) for row in rows]
    for ind in chosen:
        if not isinstance(ind.genome, DAGGenome):
            kind = getattr(ind.genome, "kind", type(ind.genome).__name__)
            raise UsageError(f"cannot train: individual {ind.id} has a {kind} genome; only DAG "
                             "genomes compile to a network")
    return chosen


def resolve_task(config: dict[str, Any], run_dir: Path, task_file: str | Path | None = None,
                 overrides: Sequence[str] = (), epochs: int | None = None) -> dict[str, Any]:
    """The ``task:`` mapping to train on: the run's (or ``task_file``'s) with ``overrides``.

    A wrapper task (``faulty``, ``simulated``) gives way to the task it wraps.

    Args:
        config: the run's frozen config.
        run_dir: the run folder (for messages).
        task_file: a campaign config whose ``task:`` section replaces the run's.
        overrides: ``task.KEY=VALUE`` strings (``--set``).
        epochs: sets ``task.epochs``.

    Raises:
        UsageError: for an override outside ``task``, a task without a network, or the run's own
            task named by import path.
        ConfigError: for an invalid task config or file, naming the file and the field.
    """
    sets = list(overrides)
    for item in sets:
        key = item.partition("=")[0].strip()
        if not key.startswith("task."):
            raise UsageError(f"--set {item[:80]}: training changes task options only "
                             "(task.epochs=30, task.lr=0.01)")
    if epochs is not None:
        if epochs < 1:
            raise UsageError(f"--epochs {epochs}: must be at least 1")
        sets.append(f"task.epochs={epochs}")
    if task_file is not None:
        label = str(task_file)
        task = load_config(Path(task_file)).data["task"]
    else:
        label = str(run_dir / "config.yaml")
        task = config.get("task")
    base = copy.deepcopy(config)
    base["task"] = task
    checked: dict[str, Any] = load_config(base, sets, label=label).data["task"]
    for _ in range(8):  # faulty wraps another task; a chain of wrappers is not followed far
        if checked.get("name") in WRAPPER_TASKS and isinstance(checked.get("inner"), dict):
            checked = checked["inner"]
    name = checked.get("name")
    if name in UNTRAINABLE_TASKS:
        raise UsageError(f"cannot train: task {name!r} {UNTRAINABLE_TASKS[str(name)]}")
    if name not in TASK_DEFAULTS and task_file is None:
        raise UsageError(f"cannot train: the run's task {str(name)!r:.80} is named by import path; "
                         "training never imports code a run folder names (give --task CONFIG "
                         "with a config you trust)")
    return checked


def resolve_device(device: str | None) -> str:
    """``auto`` (or None): ``cuda`` when CUDA is available, else ``cpu``; else the device named.

    Raises:
        UsageError: for a string that is no torch device, or CUDA where there is none.
    """
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device}: not a torch device (auto, cpu, cuda, cuda:1)"
                         ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    return str(dev)


def training_key(individual: Individual, space: dict[str, Any], task: dict[str, Any],
                 seed: int) -> str:
    """The fingerprint of one training: genome, space, task config (recipe included) and seed."""
    text = json.dumps({"genome": individual.hash, "space": space, "task": task, "seed": seed},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ------------------------------------------------------------------ training
def fit(genome: DAGGenome, space: SearchSpace, task: ClassificationTask, seed: int,
        device: str) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``genome`` with the task's recipe on its train and validation splits together and
    score the test split.

    The randomness is :func:`~evonas.tasks.training.train_and_score`'s: weights from ``seed``
    (inside a forked RNG), batch order and augmentation from generators seeded with it.

    Returns:
        The trained module (on ``device``, in eval mode) and its metrics: ``test_accuracy``,
        ``test_loss``, ``params``, ``train_seconds``, ``epochs``, ``train_loss``,
        ``train_accuracy``, ``train_samples``, ``test_samples``.

    Raises:
        EvaluationFailure: ``"nan loss"`` when the loss stops being finite.
    """
    import numpy as np
    import torch

    from evonas.compiler import compile_genome, count_params
    from evonas.tasks import training
    from evonas.tasks.errors import EvaluationFailure

    recipe = task.recipe
    s = task.splits
    dev = torch.device(device)
    x = torch.from_numpy(np.concatenate([s.x_train, s.x_val])).to(dev)
    y = torch.from_numpy(np.concatenate([s.y_train, s.y_val])).to(dev)
    x_test, y_test = torch.from_numpy(s.x_test).to(dev), torch.from_numpy(s.y_test).to(dev)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = compile_genome(genome, space, task.input_shape, task.num_classes).to(dev)
        params = count_params(model)
        channels_last = training.use_channels_last(recipe, model, dev)
        if channels_last:
            # Module.to takes memory_format (documented), which torch's stubs leave out
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        dtype = training.autocast_dtype(recipe.precision, dev)
        subset = training.train_subset(y, recipe.data_fraction, recipe.subset_seed)
        n = len(y) if subset is None else len(subset)
        session = training.TrainingSession(model, recipe, seed, n, recipe.epochs, dtype, dev)
        start = time.perf_counter()
        # the task's own loop (train_and_score keeps no model, so it cannot be called here)
        train_loss, train_accuracy = training.run_epochs(session, x, y, recipe.epochs,
                                                         subset=subset,
                                                         channels_last=channels_last)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
    test_accuracy, test_loss = training.score(model, x_test, y_test, recipe.eval_batch_size,
                                              dtype=dtype, channels_last=channels_last)
    if not math.isfinite(test_loss):
        raise EvaluationFailure("nan loss")
    return model.eval(), {
        "test_accuracy": test_accuracy, "test_loss": test_loss, "params": params,
        "train_seconds": round(seconds, 4), "epochs": recipe.epochs, "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "train_samples": len(y) if subset is None else len(subset), "test_samples": len(y_test)}


def retrain(run_dir: str | Path, *, ids: Sequence[int] = (), best: bool = False,
            top: int | None = None, epochs: int | None = None, overrides: Sequence[str] = (),
            task_file: str | Path | None = None, output: str | Path | None = None,
            device: str | None = "auto",
            report: Callable[[str], None] | None = None) -> RetrainResult:
    """Train individuals of a run with the full recipe and keep their weights in the run folder.

    Everything is checked (the run, the individuals, the task, ``output``) before anything is
    trained; the run folder is locked while training (one writer: not while its campaign runs).
    Models the journal records as trained with the same key and whose weight file is intact are
    skipped (``reused``).

    Args:
        run_dir: the run folder.
        ids: individuals to train (``--id``).
        best: train the best individual (the default when no choice is given).
        top: train the ``top`` best individuals.
        epochs: sets ``task.epochs``.
        overrides: ``task.KEY=VALUE`` strings.
        task_file: a campaign config whose ``task:`` is trained on instead of the run's.
        output: a folder to export each trained model to, as ``.pt``, ``.onnx`` and ``.py``
            (created when missing; its parent must exist).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        report: called with a line of progress before each training.

    Returns:
        What was trained, skipped, failed and exported.

    Raises:
        EvonasError: for bad input (see :func:`select_individuals`, :func:`resolve_task`), a run
            folder in use, or files that cannot be written, with a one-line message.
    """
    from evonas.tasks import build_task
    from evonas.tasks.classification import ClassificationTask

    run_dir = Path(run_dir)
    with Run(run_dir) as run:
        config = run.config
        chosen = select_individuals(run, ids, best, top)
    if not isinstance(config.get("seed"), int) or not isinstance(config.get("space"), dict):
        raise JournalError(f"{run_dir / JOURNAL_FILE}: meta.config: the seed or the space is "
                           "missing")
    task_config = resolve_task(config, run_dir, task_file, overrides, epochs)
    space = space_from_dict(config["space"])
    out_dir = _output_folder(output)
    dev = resolve_device(device)
    task = build_task(task_config, space)
    if not isinstance(task, ClassificationTask):
        raise UsageError(f"cannot train: task {task_config.get('name')!r} is not a dataset task "
                         "(it has no splits to train a network on)")
    result = RetrainResult(task=task_config, device=dev)
    with RunLock(run_dir):
        folder = _trained_folder(run_dir)
        for ind in chosen:
            seed = evaluation_seed(config["seed"], ind.id)
            key = training_key(ind, config["space"], task_config, seed)
            done = [m for m in trained_models(run_dir, ind.id) if m.key == key]
            if done and done[-1].intact():
                model = replace(done[-1], reused=True)
            else:
                if report is not None:
                    report(f"training individual {ind.id} on {task_config['name']} "
                           f"({task.recipe.epochs} epochs, {dev})")
                model_or_error = _train_one(run_dir, folder, ind, space, task, task_config,
                                            key, seed, dev)
                if isinstance(model_or_error, str):
                    result.failures.append((ind.id, model_or_error))
                    continue
                model = model_or_error
            result.models.append(model)
            if out_dir is not None:
                assert isinstance(ind.genome, DAGGenome)  # select_individuals checked it
                result.exports.extend(_export(model, ind.genome, space, out_dir))
    return result


# ------------------------------------------------------------------ internals
def _train_one(run_dir: Path, folder: Path, ind: Individual, space: SearchSpace,
               task: ClassificationTask, task_config: dict[str, Any], key: str, seed: int,
               device: str) -> TrainedModel | str:
    """Train one individual, write its files, journal it; a failure's reason as a string."""
    import numpy as np
    import torch

    from evonas.tasks.errors import EvaluationFailure

    assert isinstance(ind.genome, DAGGenome)
    try:
        module, metrics = fit(ind.genome, space, task, seed, device)
    except EvaluationFailure as exc:
        return f"training failed ({exc}); try a lower task.lr"
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    name = f"{ind.id}-{key}.pt"
    model = TrainedModel(ind.id, key, folder / name, _sha256(data), task_config,
                         task.recipe.to_dict(), seed, task.input_shape, task.num_classes,
                         json_safe(metrics), device)
    search = {k: ind.metrics[k] for k in ("fitness", "val_accuracy", "test_accuracy", "epochs")
              if isinstance(ind.metrics.get(k), int | float)}
    sidecar: dict[str, Any] = {
        "format": SIDECAR_FORMAT, "run": run_dir.name, "individual": ind.id, "key": key,
        "weights": name, "sha256": model.sha256, "bytes": len(data),
        "load": f"model.load_state_dict(torch.load({name!r}, weights_only=True))",
        "genome": ind.genome.to_dict(), "genome_hash": ind.hash,
        "architecture": ind.genome.describe(), "space": space.to_dict(),
        "input_shape": list(task.input_shape), "num_classes": task.num_classes,
        "task": task_config, "recipe": model.recipe, "seed": seed, "device": device,
        "metrics": model.metrics, "search_metrics": search, "torch": torch.__version__,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    mean, std = getattr(task, "mean", None), getattr(task, "std", None)
    if isinstance(mean, np.ndarray) and isinstance(std, np.ndarray):
        sidecar["normalization"] = {"mean": mean.tolist(), "std": std.tolist()}
    names = getattr(task, "class_names", None)
    if names:
        sidecar["class_names"] = list(names)
    _write_file(folder, name, data)
    _write_file(folder, model.sidecar.name,
                (json.dumps(json_safe(sidecar), indent=2) + "\n").encode())
    path = run_dir / JOURNAL_FILE
    with Journal.open(path) as journal, reading_journal(path):
        journal.add_event(TRAINED_EVENT, ind.id, model.event_data(run_dir))
        journal.commit()
        seq = journal.events(TRAINED_EVENT)[-1][0]
    return replace(model, seq=seq)


def _export(model: TrainedModel, genome: DAGGenome, space: SearchSpace,
            out_dir: Path) -> list[Path]:
    """Write the kept model as every format of :data:`EXPORT_FORMATS` into ``out_dir``."""
    import torch

    from evonas.compiler import export_module

    module = trained_module(model, genome, space)
    written = []
    for suffix in EXPORT_FORMATS:
        path = out_dir / model.weights.with_suffix(suffix).name
        try:
            export_module(module, path, torch.zeros(1, *model.input_shape))
        except OSError as exc:
            raise OutputError(f"--output {out_dir}: cannot write {path.name} "
                              f"({exc.strerror or exc})") from None
        written.append(path)
    return written


def _output_folder(output: str | Path | None) -> Path | None:
    """The ``--output`` folder, created when missing (its parent must exist)."""
    if output is None:
        return None
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--output {out}: is not a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise OutputError(f"--output {out}: the folder {out.parent} does not exist")
        try:
            out.mkdir()
        except OSError as exc:
            raise OutputError(f"--output {out}: cannot create it ({exc.strerror or exc})"
                              ) from None
    return out


def _trained_folder(run_dir: Path) -> Path:
    """``RUN/trained``, created when missing; never a symbolic link."""
    folder = run_dir / TRAINED_DIR
    if folder.is_symlink():
        raise JournalError(f"{folder}: is a symbolic link; the kept weights go only into the run "
                           "folder itself (replace the link with a folder)")
    try:
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        raise JournalError(f"{folder}: is not a folder (a file is in the way)") from None
    except OSError as exc:
        raise JournalError(f"{folder}: cannot create it ({exc.strerror or exc})") from None
    return folder


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder / name`` atomically: a new temporary file (never through a link), synced,
    then renamed over ``name``."""
    path = folder / name
    if path.is_symlink():
        raise JournalError(f"{path}: is a symbolic link; refusing to write through it")
    tmp = folder / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _read_weights(path: Path) -> bytes:
    """The bytes of a kept weight file; a symbolic link is refused (``OSError``)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fmt(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, int | float) else "?"
