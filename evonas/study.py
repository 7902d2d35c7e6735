"""Ask and tell: evonas searches, your own training loop evaluates.

A :class:`Study` runs an ordinary campaign (the same loop, journal, budget, strategies, resume,
lineage and report as ``evonas run``) whose evaluations are done by you: :meth:`Study.ask` hands
out the next architecture to train as a :class:`Trial`, :meth:`Study.tell` takes its metrics
back. Optuna's ask-and-tell interface is the model::

    import evonas

    with evonas.Study("search.yaml") as study:   # a new run, or the run of that name resumed
        while (trial := study.ask()) is not None:  # None: the budget is spent
            model = trial.module()                 # a torch.nn.Module (task.input_shape ...)
            accuracy = my_train_and_validate(model, seed=trial.seed)
            study.tell(trial, {"fitness": accuracy, "params": count_params(model)})
    # count_params: evonas.compiler.count_params
    evonas.open_run(study.path).best()

``search.yaml`` is a campaign config; without a ``task:`` section the study gets
``task: {name: external}`` (:mod:`evonas.tasks.external`), whose ``input_shape`` and
``num_classes`` are what :meth:`Trial.module` compiles for::

    name: my-search           # the run folder runs/my-search: a second Study resumes it
    space: {name: nb201}
    task: {name: external, input_shape: [3, 32, 32], num_classes: 10}
    strategy: {name: regularized_evolution, population: 20, sample: 5}
    budget: {evaluations: 200}

How it behaves:

* **Selection maximises** ``metrics["fitness"]``; every other metric is journaled and can be an
  objective (``nsga2``'s ``objectives: [{metric: fitness, goal: max}, {metric: params, goal:
  min}]``). A trial that could not be trained is told ``failed="reason"``.
* **Parallel trials.** ``Study(..., parallel=4)`` lets four trials be out at once (four GPUs,
  four threads, a cluster): ask four, tell them in any order. The campaign then tells results
  as they arrive (``campaign.order: async``); with ``campaign.order: birth`` it tells them in
  birth order, so a later trial's tell waits for the earlier ones before more are asked.
  Every method is thread-safe.
* **Duplicates are free.** An architecture evaluated before is answered from the journal by the
  campaign itself and never asked.
* **Resumable.** Everything told is journaled at once. :meth:`Study.close` (or leaving the
  ``with`` block, or a crash) leaves the run resumable: ``Study(path)`` or ``Study(config)``
  with the same ``name`` continues it, and the trials that were out are asked again with the
  same id, genome and seed. With ``campaign.order: birth`` and a deterministic training loop the
  journal ends exactly as one never interrupted.
* **Errors.** An exception in the campaign (a full disk, a strategy bug) is raised again in your
  thread at the next :meth:`~Study.ask` or :meth:`~Study.tell`.
"""

from __future__ import annotations

import atexit
import copy
import math
import numbers
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from evonas.api import resume_campaign, run_folder, start_campaign, weight_options
from evonas.campaign import CampaignSummary
from evonas.config import Config, ConfigError, _read_yaml, load_config
from evonas.errors import JournalError, TaskError, UsageError
from evonas.evaluation.base import STATUS_FAILED, STATUS_OK, EvalJob, EvalResult
from evonas.evaluation.manual import ManualEvaluator
from evonas.evaluation.options import MAX_WORKERS
from evonas.reporting import Reporter
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, IndividualRow, Journal
from evonas.strategies import strategy_class
from evonas.tasks import EvaluationFailure, build_task
from genomes import CPPNGenome, DAGGenome, SearchSpace, genome_from_dict

if TYPE_CHECKING:
    from torch import nn

__all__ = ["DEFAULT_TASK", "Study", "Trial"]

#: The task of a study whose config has none: the user's loop gives every result.
DEFAULT_TASK: dict[str, Any] = {"name": "external"}
#: What the journal records as the worker of a told result.
WORKER = "study"
#: Seconds :attr:`Trial.parents` (and the rest of the lineage record) waits for the campaign to
#: commit a just-born individual.
ROW_TIMEOUT = 60.0


class Trial:
    """One architecture to train: asked with :meth:`Study.ask`, its result told with
    :meth:`Study.tell`.

    Attributes:
        id: the individual's id in the journal (birth order, from 0).
        genome: the genome object (a fresh copy: changing it changes nothing in the study).
        seed: the evaluation seed: seed your initialisation and data order with it, and a rerun
            (or a resume that asks the trial again) trains the same network the same way.

    :attr:`parents`, :attr:`operator` and :attr:`generation` (its lineage record) are read from
    the journal on first use, which waits for the campaign's next commit (tens of
    milliseconds).
    """

    def __init__(self, study: Study, job: EvalJob) -> None:
        self.id: int = job.individual_id
        self.seed: int = job.seed
        self.genome: Any = genome_from_dict(job.genome_dict())
        self._study = study
        self._asked_at = time.monotonic()
        # parents, operator record, generation: from the job where the campaign puts them
        # there, else read from the journal on first use
        self._lineage: tuple[tuple[int, ...], dict[str, Any], int | None] | None = None
        parents, operator = getattr(job, "parents", None), getattr(job, "operator", None)
        if parents is not None and isinstance(operator, dict):
            self._lineage = (tuple(parents), operator, getattr(job, "generation", None))

    def _record(self) -> tuple[tuple[int, ...], dict[str, Any], int | None]:
        if self._lineage is None:
            row = self._study._individual_row(self.id)
            self._lineage = (row.parents, row.operator, row.generation)
        return self._lineage

    @property
    def parents(self) -> tuple[int, ...]:
        """Ids of the individuals this one was bred from (empty for a random one)."""
        return self._record()[0]

    @property
    def operator(self) -> dict[str, Any]:
        """The strategy's record of how it was made (``{"op": "mutate_op", ...}``)."""
        return copy.deepcopy(self._record()[1])

    @property
    def generation(self) -> int | None:
        """The strategy's generation of this individual, where it has generations."""
        return self._record()[2]

    def module(self, input_shape: tuple[int, int, int] | list[int] | None = None,
               num_classes: int | None = None) -> nn.Module:
        """The network of this genome, untrained, on the CPU (imports torch).

        A DAG genome (``nb201``, ``free``) compiles with :func:`evonas.compiler.compile_genome`
        for ``input_shape`` and ``num_classes`` (default: the task's, e.g. the ``external``
        task's options); a CPPN genome (``neat``) with :func:`evonas.compiler.cppn.compile_cppn`
        (its inputs and outputs are the space's; both arguments are ignored).

        Raises:
            UsageError: when no input shape or class count is given and the task has none.
            TypeError: for a genome kind that does not compile.
        """
        if isinstance(self.genome, CPPNGenome):
            from evonas.compiler.cppn import compile_cppn

            return compile_cppn(self.genome)
        if not isinstance(self.genome, DAGGenome):
            raise TypeError(f"Trial.module: a {type(self.genome).__name__} does not compile to "
                            "a network")
        shape = self._study.input_shape if input_shape is None else input_shape
        classes = self._study.num_classes if num_classes is None else num_classes
        if shape is None or classes is None:
            raise UsageError("Trial.module: give input_shape and num_classes (the task has "
                             "none; an external task takes them as task.input_shape and "
                             "task.num_classes)")
        from evonas.compiler import compile_genome

        return compile_genome(self.genome, self._study.space,
                              cast(tuple[int, int, int], tuple(shape)), classes)

    def __repr__(self) -> str:
        return f"Trial(id={self.id}, seed={self.seed})"


class _Started(Reporter):
    """Tells the study when the campaign has started (or resumed) its loop."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def campaign_started(self, info: dict[str, Any]) -> None:
        self.event.set()


class Study:
    """An ask-and-tell campaign (see :mod:`evonas.study`).

    Args:
        config: a campaign config (YAML path or mapping) for a new run, or for the run of the
            same name when its folder holds a journal already (resumed); or a run folder
            (resumed). A config without ``task:`` gets ``task: {name: external}``.
        name: the run name (folder under ``runs_dir``) of a config; default the config's
            ``name``, else its stem and the time (a new run each time).
        parallel: how many trials may be out (asked, not told) at once; replaces the config's
            ``evaluator:`` section, which a study does not use.
        force: on resume, accept changed settings that a resume refuses by default (see
            :func:`evonas.api.resume_campaign`).
        **overrides: dotted config keys as with ``--set``: ``**{"budget.evaluations": 50}`` or
            ``budget__evaluations=50``.

    The campaign runs in a background thread (no signal handlers, no progress bar); the
    constructor returns once it has started, so a bad config, a run folder in use or a journal
    that does not resume raises here.

    Raises:
        ConfigError: a bad config, name or option; a task the strategy cannot work with.
        UsageError: a bad ``parallel``, or ``name`` given with a run folder.
        JournalError: a run folder whose journal does not resume.
        RunInUseError: another campaign holds the run folder.
    """

    def __init__(self, config: str | Path | dict[str, Any], *, name: str | None = None,
                 parallel: int = 1, force: bool = False, **overrides: Any) -> None:
        if not isinstance(parallel, int) or isinstance(parallel, bool) \
                or not 1 <= parallel <= MAX_WORKERS:
            raise UsageError(f"Study: parallel: must be an integer from 1 to {MAX_WORKERS}, "
                             f"got {parallel!r}")
        dotted = {key.replace("__", "."): value for key, value in overrides.items()}
        self.parallel = parallel
        self._resume_overrides: dict[str, Any] | None = None
        if isinstance(config, str | Path) and Path(config).is_dir():
            if name is not None:
                raise UsageError(f"Study: name: {name!r}: a run folder resumes under its own "
                                 "name (give a config to name a new run)")
            self.path = Path(config)
            self._resume_overrides = dotted
            effective = self._resumed_config(dotted)
            new_config: Config | None = None
        else:
            new_config = _load(config, dotted)
            self.path = run_folder(new_config, name)
            named = name is not None or new_config.name is not None
            if named and (self.path / JOURNAL_FILE).exists():
                frozen = _frozen(self.path)
                data = new_config.to_dict()
                data["name"] = self.path.name
                self._resume_overrides = _changes(frozen, data)
                effective = self._resumed_config(self._resume_overrides)
                new_config = None
            else:
                effective = new_config
        self.space: SearchSpace = effective.space()
        #: ``(channels, height, width)`` and class count of the task, where it has them.
        self.input_shape, self.num_classes = _check_task(effective)
        self._force = force
        self._evaluator = ManualEvaluator(parallel, WORKER)
        self._lock = threading.Lock()
        self._asked: dict[int, Trial] = {}
        self._told: set[int] = set()
        self._closed = False
        self._error: BaseException | None = None
        self._error_raised = False
        #: What the campaign did, once it has ended (finished, stopped or failed: None).
        self.summary: CampaignSummary | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(new_config, started),
                                        name=f"evonas-study-{self.path.name}", daemon=True)
        self._thread.start()
        try:
            started.wait()
        except BaseException:
            self._evaluator.request_stop()
            self._thread.join()
            raise
        if self._error is not None:
            self._thread.join()
            self._error_raised = True
            raise self._error
        atexit.register(self._close_at_exit)

    # ----------------------------------------------------------------- setup
    def _resumed_config(self, overrides: dict[str, Any]) -> Config:
        """The config the resumed campaign will run with (the journal's, changed)."""
        return load_config(_frozen(self.path), overrides, label=str(self.path / "config.yaml"))

    def _main(self, config: Config | None, started: threading.Event) -> None:
        """The campaign thread."""
        reporters = [_Started(started)]
        try:
            if config is None:
                _, self.summary = resume_campaign(self.path, None, self._resume_overrides,
                                                  self._force, None, reporters,
                                                  evaluator=self._evaluator)
            else:
                _, self.summary = start_campaign(config, self.path.name, None, reporters,
                                                 evaluator=self._evaluator)
        except BaseException as exc:  # noqa: BLE001 (raised again in the user's thread)
            self._error = exc
        finally:
            self._evaluator.close()
            started.set()

    # ----------------------------------------------------------------- ask and tell
    def ask(self, timeout: float | None = None) -> Trial | None:
        """The next trial to train, waiting for the campaign to propose one.

        Args:
            timeout: seconds to wait at most (None: as long as it takes). With every trial the
                campaign may have out asked already, the next comes only after a tell (from
                another thread, if this one is to wait for it).

        Returns:
            The trial, or None when the campaign has ended (the budget is spent, the strategy
            is done or the target reached): then :attr:`summary` says what it did.

        Raises:
            UsageError: after :meth:`close`.
            TimeoutError: when no trial came within ``timeout``.
            Exception: whatever the campaign raised, raised again here.
        """
        self._check_usable("ask")
        job = self._evaluator.take(timeout)
        if job is None:
            self._thread.join()
            self._raise_error()
            return None
        trial = Trial(self, job)
        with self._lock:
            self._asked[trial.id] = trial
        return trial

    def tell(self, trial: Trial, metrics: Mapping[str, Any] | None = None, *,
             failed: str | None = None, seconds: float | None = None) -> None:
        """Hand back the result of a trial.

        Args:
            trial: a trial :meth:`ask` returned, not told yet.
            metrics: its metrics, finite numbers by name, ``"fitness"`` among them (maximised);
                other metrics may be None (not measured). Plain ints and floats, numpy scalars.
            failed: instead of metrics, why the trial could not be evaluated (journaled as a
                failed evaluation; the strategy sees no fitness).
            seconds: the evaluation's wall seconds (what ``budget.device_seconds`` counts);
                default: the time since it was asked.

        Raises:
            UsageError: for a trial told already or not asked from this study, bad metrics, both
                or neither of ``metrics`` and ``failed``, a bad ``seconds``; after
                :meth:`close`, or after the campaign has ended.
            Exception: whatever the campaign raised, raised again here.
        """
        self._check_usable("tell")
        if not isinstance(trial, Trial):
            raise UsageError(f"tell: trial: must be a Trial from Study.ask, got "
                             f"{type(trial).__name__}")
        result = self._result(trial, metrics, failed, seconds)
        with self._lock:
            if trial.id in self._told and trial._study is self:
                raise UsageError(f"tell: trial #{trial.id} was told already")
            if self._asked.get(trial.id) is not trial:
                raise UsageError(f"tell: trial #{trial.id} was not asked from this study")
            try:
                self._evaluator.give(result)
            except KeyError:  # the campaign ended (a wall-time stop) with the trial out
                raise UsageError(f"tell: the campaign has ended; trial #{trial.id} was not "
                                 f"recorded (resume {self.path} to ask it again)") from None
            del self._asked[trial.id]
            self._told.add(trial.id)

    def optimize(self, objective: Callable[[Trial], float | Mapping[str, Any]],
                 n_trials: int | None = None) -> None:
        """Ask, call ``objective(trial)`` and tell, until the campaign ends or ``n_trials``.

        ``objective`` returns the fitness, or a mapping of metrics with ``"fitness"``; an
        :class:`~evonas.tasks.EvaluationFailure` it raises is told as a failed trial (its
        reason journaled), any other exception propagates (the trial stays out: a resume asks
        it again).
        """
        done = 0
        while n_trials is None or done < n_trials:
            trial = self.ask()
            if trial is None:
                return
            started = time.monotonic()
            try:
                value = objective(trial)
            except EvaluationFailure as exc:
                self.tell(trial, failed=exc.reason, seconds=time.monotonic() - started)
            else:
                metrics = value if isinstance(value, Mapping) else {"fitness": value}
                self.tell(trial, metrics, seconds=time.monotonic() - started)
            done += 1

    # ----------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """Whether the campaign has ended (finished, stopped or failed)."""
        return not self._thread.is_alive()

    @property
    def pending(self) -> list[Trial]:
        """The trials asked and not told yet, by id."""
        with self._lock:
            return [self._asked[i] for i in sorted(self._asked)]

    def open_run(self) -> Run:
        """The run folder, opened read-only (:class:`~evonas.run.Run`): what is committed so
        far, while the study runs."""
        return Run(self.path)

    # ----------------------------------------------------------------- closing
    def close(self, timeout: float | None = None) -> None:
        """Stop the campaign and wait for it (at most ``timeout`` seconds).

        What was told is journaled; the trials still out are not recorded, and a resume
        (``Study(path)``, or the same config) asks them again. Closing a study whose campaign
        ended does nothing more; closing twice is harmless.

        Raises:
            Exception: an error of the campaign not raised by :meth:`ask` or :meth:`tell` yet.
        """
        self._close(timeout)
        if self._error is not None and not self._error_raised and not self._thread.is_alive():
            self._error_raised = True
            raise self._error

    def _close(self, timeout: float | None = None) -> None:
        self._closed = True
        self._evaluator.request_stop()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            atexit.unregister(self._close_at_exit)

    def _close_at_exit(self) -> None:
        self._close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("ended" if self.done else "running")
        return f"Study({str(self.path)!r}, parallel={self.parallel}, {state})"

    # ----------------------------------------------------------------- helpers
    def _check_usable(self, what: str) -> None:
        self._raise_error()
        if self._closed:
            raise UsageError(f"{what}: the study is closed (resume it with "
                             f"evonas.Study({str(self.path)!r}))")

    def _raise_error(self) -> None:
        if self._error is not None:
            self._error_raised = True
            raise self._error

    def _result(self, trial: Trial, metrics: Mapping[str, Any] | None, failed: str | None,
                seconds: float | None) -> EvalResult:
        if seconds is None:
            seconds = time.monotonic() - trial._asked_at
        elif isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) \
                or not math.isfinite(float(seconds)) or seconds < 0:
            raise UsageError(f"tell: seconds: must be a finite number >= 0, got {seconds!r}")
        seconds = round(float(seconds), 4)
        if failed is not None:
            if not isinstance(failed, str) or not failed.strip():
                raise UsageError(f"tell: failed: must be a reason (a non-empty string), got "
                                 f"{failed!r}")
            if metrics:
                raise UsageError("tell: give metrics or failed=reason, not both (a failed "
                                 "evaluation records no metrics)")
            return EvalResult(trial.id, STATUS_FAILED, {}, failed, WORKER, seconds)
        if metrics is None:
            raise UsageError("tell: give the trial's metrics (with 'fitness') or "
                             "failed=reason")
        return EvalResult(trial.id, STATUS_OK, _check_metrics(metrics), None, WORKER, seconds)

    def _individual_row(self, ind_id: int) -> IndividualRow:
        """The journal's row of individual ``ind_id``, waiting for the campaign to commit it."""
        deadline = time.monotonic() + ROW_TIMEOUT
        journal_path = self.path / JOURNAL_FILE
        with self._evaluator.hurrying():
            while True:
                alive = self._thread.is_alive()
                with Journal.open(journal_path, readonly=True) as journal:
                    row = journal.individual(ind_id)
                if row is not None:
                    return row
                if not alive:
                    self._raise_error()
                    raise JournalError(f"{journal_path}: individuals[{ind_id}]: not journaled")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{journal_path}: individual {ind_id} was not committed "
                                       f"within {ROW_TIMEOUT:g}s")
                time.sleep(0.005)


# --------------------------------------------------------------------- module helpers
def _load(config: str | Path | dict[str, Any], overrides: dict[str, Any]) -> Config:
    """Read a study's config: the campaign config, with ``task: {name: external}`` when it has
    no task."""
    if isinstance(config, dict):
        data, label = dict(config), "<dict>"
    elif isinstance(config, str | Path):
        data, label = _read_yaml(Path(config)), str(config)
    else:
        raise UsageError(f"Study: config: must be a YAML path, a mapping or a run folder, got "
                         f"{type(config).__name__}")
    if data.get("task") is None:
        data["task"] = dict(DEFAULT_TASK)
    return load_config(data, overrides, label=label)


def _frozen(run_dir: Path) -> dict[str, Any]:
    """The config frozen in a run folder's journal."""
    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        raise JournalError(f"{run_dir}: not a run folder (no {JOURNAL_FILE})")
    with Journal.open(path, readonly=True) as journal:
        frozen = journal.config()
    if not isinstance(frozen, dict):
        raise JournalError(f"{path}: meta.config: must be a mapping, got "
                           f"{type(frozen).__name__}")
    return frozen


def _changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of ``new`` whose values differ from ``old``'s (a section that lost keys is
    replaced whole), as resume overrides."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        field = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(before, dict) and set(before) <= set(value):
            out.update(_changes(before, value, field + "."))
        elif before != value or key not in old:
            out[field] = copy.deepcopy(value)
    return out


def _check_task(config: Config) -> tuple[tuple[int, int, int] | None, int | None]:
    """Build the task once (as ``evonas run`` does before starting) and check that the strategy
    works with it; its input shape and class count."""
    used = weight_options(config)
    if used:
        raise ConfigError(f"{config.source}: {used[0]}: a study's networks are trained by your "
                          "own loop, so the engine cannot keep, continue or inherit their "
                          "weights (turn it off)")
    try:
        task = build_task(config.section("task"), config.space())
        strategy_class(config.section("strategy")["name"]).check_task(task)
    except (TaskError, ConfigError) as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    return task.input_shape, task.num_classes


def _check_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Told metrics as journaled: finite numbers (None allowed but for fitness).

    Raises:
        UsageError: naming the metric at fault.
    """
    if not isinstance(metrics, Mapping):
        raise UsageError(f"tell: metrics: must be a mapping of names to numbers, got "
                         f"{type(metrics).__name__}")
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise UsageError(f"tell: metrics: names must be non-empty strings, got {key!r}")
        if value is None and key != "fitness":
            out[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            hint = " (a tensor? use .item())" if hasattr(value, "item") else ""
            raise UsageError(f"tell: metrics[{key!r}]: must be a finite number, got "
                             f"{value!r:.60}{hint}")
        number: int | float = int(value) if isinstance(value, numbers.Integral) \
            else float(value)
        if isinstance(number, float) and not math.isfinite(number):
            reason = " (tell failed=reason for a trial that diverged)" if key == "fitness" else ""
            raise UsageError(f"tell: metrics[{key!r}]: must be a finite number, got "
                             f"{number!r}{reason}")
        out[key] = number
    if "fitness" not in out:
        raise UsageError("tell: metrics: must include 'fitness' (the number selection "
                         "maximises), or tell failed=reason")
    return out
