"""The Python API: start, resume and open campaigns.

>>> import evonas
>>> run = evonas.run("examples/nb201_tabular.yaml", seed=3, **{"budget.evaluations": 50})
>>> run.best().metrics["fitness"]
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from evonas.campaign import Campaign, CampaignSummary
from evonas.config import Config, ConfigError, check_run_name, load_config, validate
from evonas.evaluation import Evaluator, make_evaluator
from evonas.reporting import Reporter
from evonas.run import Run
from evonas.seeds import strategy_rng
from evonas.storage import JOURNAL_FILE, Journal, JournalError
from evonas.storage.lock import RunLock
from evonas.strategies import build_strategy, strategy_class
from evonas.strategies.prescreen import wrap_strategy
from evonas.tasks import TaskError, build_task
from evonas.tasks.base import plan_options
from genomes import GenomeError, genome_from_dict, genome_kind_of

CONFIG_FILE = "config.yaml"


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides: ``budget__evaluations=5`` and ``**{"budget.evaluations": 5}`` agree."""
    return {key.replace("__", "."): value for key, value in overrides.items()}


def run_folder(config: Config, name: str | None = None) -> Path:
    """The run folder a new campaign named ``name`` (default: the config's, or the config stem
    and the time) gets: one plain folder name directly inside ``runs_dir``.

    Raises:
        ConfigError: for a name that is not a plain folder name (``../x``, ``""``, a NUL...).
    """
    if name is not None:
        check_run_name(name, f"{config.source}: name (--name)")
    else:
        name = config.name
    if name is None:
        stem = Path(config.source).stem if config.source != "<dict>" else "run"
        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        check_run_name(name, f"{config.source}: name (from the config file's name)")
    runs_dir = config.runs_dir
    run_dir = runs_dir / name
    if run_dir.parent != runs_dir or run_dir.name != name:  # check_run_name already ensures it
        raise ConfigError(f"{config.source}: name: {name!r} is not a folder inside runs_dir")
    return run_dir


def _make_runs_dir(config: Config) -> None:
    runs_dir = config.runs_dir
    where = f"{config.source}: runs_dir"
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ConfigError(f"{where}: {str(runs_dir)!r} is not a folder")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{where}: {str(runs_dir)!r} is not a folder (a file is in the "
                          "way)") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create {str(runs_dir)!r} "
                          f"({exc.strerror or exc})") from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {str(runs_dir)!r} is not writable")


class _NewRun:
    """A new run folder, locked: created (or found without a journal) and, should the campaign
    fail before its first individual, removed again so the name stays free."""

    def __init__(self, config: Config, name: str | None) -> None:
        self.run_dir = run_folder(config, name)
        _make_runs_dir(config)
        self.created = False
        try:
            self.run_dir.mkdir()
            self.created = True
        except FileExistsError:
            if not self.run_dir.is_dir() or self.run_dir.is_symlink():
                raise ConfigError(f"{config.source}: name: {str(self.run_dir)!r} exists and is "
                                  "not a run folder") from None
        except OSError as exc:
            raise ConfigError(f"{config.source}: runs_dir: cannot create "
                              f"{str(self.run_dir)!r} ({exc.strerror or exc})") from None
        self.lock = RunLock(self.run_dir)
        try:
            self.lock.acquire()
        except BaseException:
            self._remove_folder()
            raise
        # Under the lock: nobody else can be creating this run's journal now.
        if (self.run_dir / JOURNAL_FILE).exists() or (self.run_dir / CONFIG_FILE).is_symlink():
            self.lock.release()
            raise ConfigError(f"{self.run_dir}: a run named {self.run_dir.name!r} exists "
                              f"already; continue it with `evonas resume {self.run_dir}` or "
                              "choose another --name")
        self.written: list[Path] = []

    def write(self, data: dict[str, Any]) -> Journal:
        """Write ``config.yaml`` and create the journal (a leftover ``journal.sqlite.creating``
        of a start killed while creating it is replaced)."""
        path = self.run_dir / CONFIG_FILE
        self.written += [path, self.run_dir / JOURNAL_FILE]
        self.written += [self.run_dir / (JOURNAL_FILE + s) for s in ("-wal", "-shm", ".creating")]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return Journal.create(self.run_dir / JOURNAL_FILE, data)

    def discard(self) -> None:
        """Remove what this start wrote (the campaign recorded nothing), then the folder."""
        for path in self.written:
            path.unlink(missing_ok=True)
        self.lock.release(remove=self.created)
        self._remove_folder()

    def _remove_folder(self) -> None:
        if self.created:
            with contextlib.suppress(OSError):  # something else was put there: leave it
                self.run_dir.rmdir()


def prepare_run(config: Config, name: str | None = None) -> Path:
    """Choose and create the run folder for a new campaign (not locked; see
    :func:`start_campaign`).

    Raises:
        ConfigError: for a bad name, or when a run of that name exists already (use resume).
    """
    new = _NewRun(config, name)
    new.lock.release()
    return new.run_dir


def start_campaign(config: Config, name: str | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None,
                   reporters: Iterable[Reporter] = (),
                   evaluator: Evaluator | None = None,
                   ) -> tuple[Path, CampaignSummary]:
    """Create a run folder and journal for ``config`` and run the campaign to its end.

    ``progress`` is called with the counters after each tell; ``reporters``
    (:mod:`evonas.reporting`) observe every milestone. ``evaluator`` replaces the one the
    config's ``evaluator:`` section describes (the ask-and-tell :class:`~evonas.study.Study`
    passes its own); the campaign closes it.

    The folder is locked for the campaign's whole life (a second ``run`` or ``resume`` of it is
    refused); a campaign that fails before its first individual leaves no folder behind.

    Returns:
        The run folder and the campaign summary.

    Raises:
        ConfigError: a bad name, ``runs_dir`` or task, or a run of that name exists already.
        RunInUseError: another process is running a campaign in that folder.
    """
    run_folder(config, name)  # a bad name fails before anything starts
    check_strategy_builds(config)
    if evaluator is None:  # a bad task config fails here, before any folder exists
        evaluator = _evaluator_for(config)
    try:
        new = _NewRun(config, name)
    except BaseException:
        evaluator.close()
        raise
    try:
        data = config.to_dict()
        data["name"] = new.run_dir.name
        with _disk_errors(new.run_dir):
            journal = new.write(data)
            with journal:
                summary = Campaign(Config(data, config.source), journal, evaluator,
                                   progress, reporters).run()
    except BaseException:
        evaluator.close()
        if not _has_individuals(new.run_dir):
            new.discard()
        raise
    finally:
        new.lock.release()
    return new.run_dir, summary


@contextlib.contextmanager
def _disk_errors(run_dir: Path) -> Iterator[None]:
    """A full disk or an unwritable folder while writing the run: one line naming the file.
    Nothing committed is lost (every write is a committed SQLite transaction)."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "full" in text or "readonly" in text or "read-only" in text or "unable to open" in text:
            raise JournalError(f"{run_dir / JOURNAL_FILE}: {text}; everything committed before "
                               f"is kept: fix it, then `evonas resume {run_dir}`") from None
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
            name = exc.filename or run_dir
            raise JournalError(f"{name}: cannot write ({exc.strerror}); everything committed "
                               f"before is kept: fix it, then `evonas resume {run_dir}`"
                               ) from None
        raise


def _has_individuals(run_dir: Path) -> bool:
    """Whether the run's journal records an individual (or cannot be read: then keep it)."""
    try:
        with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
            return journal.counts()["individuals"] > 0
    except Exception:  # noqa: BLE001 (unreadable: never delete it)
        return (run_dir / JOURNAL_FILE).exists()


def check_strategy_builds(config: Config) -> None:
    """Build the strategy once, before anything is written, so an option the config checks
    let through fails as a :class:`ConfigError` naming the file."""
    try:
        wrap_strategy(build_strategy(config.section("strategy"), config.space(),
                                     strategy_rng(config.seed)), config)
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    except (ValueError, TypeError, GenomeError) as exc:
        text = str(exc)
        if not text.startswith(("strategy.", "space.")):
            text = f"strategy.{text}"
        raise ConfigError(f"{config.source}: {text}") from None


#: Config sections a resumed campaign may change without ``--force``.
SAFE_TO_CHANGE = ("budget", "evaluator", "campaign")
#: Keys of those sections that decide how the journal replays: never changed on resume.
NEVER_CHANGED = ("campaign.order",)


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config mappings, as ``key: old -> new``."""
    lines = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        field = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            lines.extend(config_diff(a, b, field + "."))
        elif a != b:
            lines.append(f"{field}: {a!r} -> {b!r}")
    return lines


def resume_campaign(run_dir: str | Path,
                    progress: Callable[[dict[str, Any]], None] | None = None,
                    overrides: dict[str, Any] | list[str] | None = None, force: bool = False,
                    report: Callable[[str], None] | None = None,
                    reporters: Iterable[Reporter] = (),
                    evaluator: Evaluator | None = None,
                    ) -> tuple[Path, CampaignSummary]:
    """Continue a stopped or killed campaign from its journal.

    Args:
        run_dir: the run folder.
        progress: observer of campaign counters.
        reporters: observers of the campaign's milestones (:mod:`evonas.reporting`).
        overrides: config changes (dotted keys or ``KEY=VALUE`` strings). Budget, evaluator and
            campaign settings may change; anything else (space, task, strategy, seed) only with
            ``force``, since the replay would no longer match the journal.
        force: accept unsafe changes.
        report: receives one line per changed key.
        evaluator: replaces the one the config describes (see :func:`start_campaign`).

    Everything the resume relies on (the journal's schema and rows, the frozen config, every
    genome against the space, the strategy and its snapshot state) is checked before the first
    write, so a resume that fails changes nothing. The folder is locked until the campaign ends.

    Raises:
        ConfigError: on an unsafe change without ``force``, or an invalid change.
        JournalError: when the folder holds no readable journal, or rows that do not decode.
        RunInUseError: another process is running a campaign in the folder.
    """
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_FILE
    if not run_dir.is_dir() or not path.is_file():
        raise JournalError(f"{run_dir}: not a run folder (no {JOURNAL_FILE})")
    lock = RunLock(run_dir).acquire()  # one writer: held until the campaign ends
    try:
        return _resume_locked(run_dir, path, progress, overrides, force, report, reporters,
                              evaluator)
    finally:
        lock.release()


def _resume_locked(run_dir: Path, path: Path,
                   progress: Callable[[dict[str, Any]], None] | None,
                   overrides: dict[str, Any] | list[str] | None, force: bool,
                   report: Callable[[str], None] | None,
                   reporters: Iterable[Reporter],
                   evaluator: Evaluator | None = None) -> tuple[Path, CampaignSummary]:
    # Everything the resume relies on is checked through a read-only connection before the
    # first write: a resume that fails changes nothing.
    for name in (CONFIG_FILE, JOURNAL_FILE, JOURNAL_FILE + "-wal", JOURNAL_FILE + "-shm"):
        if (run_dir / name).is_symlink():
            raise JournalError(f"{run_dir / name}: is a symbolic link; a resume writes only the "
                               "run folder's own files (replace the link with the file)")
    with Journal.open(path, readonly=True) as probe:
        probe.check_integrity()
        frozen = probe.config()
        snapshot = probe.last_snapshot()
        if not isinstance(frozen, dict):
            raise JournalError(f"{path}: meta.config: must be a mapping, got "
                               f"{type(frozen).__name__}")
        try:
            config = Config(validate(frozen, f"{path}:meta.config"), str(path))
            before = config.data
        except ConfigError:
            if not overrides:
                raise
            before = frozen  # a frozen value no longer valid (an old run): --set may repair it
        changes: list[str] = []
        if overrides:
            changed = load_config(frozen, overrides, label=str(run_dir / CONFIG_FILE))
            changes = config_diff(before, changed.data)
            fixed = [line for line in changes if line.split(":")[0] in NEVER_CHANGED]
            if fixed:
                raise ConfigError(f"{run_dir / CONFIG_FILE}: {fixed[0].split(':')[0]}: cannot "
                                  "change on resume (the journal is replayed in its order)")
            unsafe = [line for line in changes if line.split(".")[0].split(":")[0]
                      not in SAFE_TO_CHANGE]
            if unsafe and not force:
                raise ConfigError(f"{run_dir / CONFIG_FILE}: {unsafe[0].split(':')[0]}: cannot "
                                  "change on resume (the journal would no longer replay); use "
                                  "--force to change it anyway")
            config = changed
        _check_genomes(config, probe)
    check_strategy_builds(config)
    _check_snapshot(config, snapshot, path)
    if evaluator is None:
        evaluator = _evaluator_for(config)
    for line in changes:
        if report is not None:
            report(line)
    try:
        with _disk_errors(run_dir), Journal.open(path) as journal:
            if changes:
                journal.set_config(config.to_dict())
                journal.add_event("config_changed", None, {"changes": changes, "forced": force})
                (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config.to_dict(),
                                                                  sort_keys=False))
            journal.add_event("resumed")
            summary = Campaign(config, journal, evaluator, progress, reporters).run()
    except BaseException:
        evaluator.close()
        raise
    return run_dir, summary


def _check_genomes(config: Config, journal: Journal) -> None:
    """Every journaled genome belongs to the run's space (the replay rebuilds each one)."""
    space = config.space()
    for ind in journal.individuals():
        try:
            genome = genome_from_dict(ind.genome)
            if genome_kind_of(type(genome)).kind != space.genome_kind:
                raise _wrong_kind(journal, ind.id, ind.genome, space.name)
            space.validate(genome)
        except GenomeError as exc:
            raise JournalError(f"{journal.path}: individuals[{ind.id}].genome: does not belong "
                               f"to the run's {space.name} space ({exc})") from None
        except AttributeError:
            raise _wrong_kind(journal, ind.id, ind.genome, space.name) from None


def _wrong_kind(journal: Journal, id_: int, genome: Any, space_name: str) -> JournalError:
    return JournalError(f"{journal.path}: individuals[{id_}].genome: a {genome.get('kind')!r} "
                        f"genome does not belong to the run's {space_name} space")


def _check_snapshot(config: Config, snapshot: Any, path: Path) -> None:
    """The last snapshot's strategy state loads into a fresh strategy and its counters are
    numbers (the resume restores them first thing).

    Raises:
        JournalError: naming the journal and the snapshot, for state that does not load.
    """
    if snapshot is None:
        return
    where = f"{path}: snapshots (the last one, at {snapshot.told} told)"
    state = snapshot.state
    if not isinstance(state, dict) or not isinstance(state.get("strategy"), dict):
        raise JournalError(f"{where}: state: the strategy state is missing or not a mapping")
    for key in ("next_id", "told", "evaluations"):
        value = getattr(snapshot, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise JournalError(f"{where}: {key}: must be a count, got {value!r}")
    for key in ("failed", "device_seconds", "elapsed"):
        value = state.get(key, 0)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise JournalError(f"{where}: state.{key}: must be a number >= 0, got {value!r}")
    best = state.get("best")
    if best is not None and not (isinstance(best, list | tuple) and len(best) == 2
                                 and all(isinstance(v, int | float) for v in best)):
        raise JournalError(f"{where}: state.best: must be [fitness, id] or null, got {best!r}")
    strategy = wrap_strategy(build_strategy(config.section("strategy"), config.space(),
                                            strategy_rng(config.seed)), config)
    try:
        strategy.bind_task(config.section("task"))
        strategy.load_state_dict(state["strategy"])
    except (ConfigError, JournalError):
        raise
    except Exception as exc:  # noqa: BLE001 (whatever garbage the state holds)
        raise JournalError(f"{where}: state.strategy: does not load into the "
                           f"{config.section('strategy')['name']} strategy "
                           f"({type(exc).__name__}: {exc})") from None


def weight_options(config: Config) -> list[str]:
    """The options in use that need a task which trains weights (``campaign.keep_weights``,
    ``fidelity.scheduler``, ``inherit_weights.enabled``), as dotted names."""
    data = config.data
    used = {"campaign.keep_weights": (data.get("campaign") or {}).get("keep_weights"),
            "fidelity.scheduler": (data.get("fidelity") or {}).get("scheduler"),
            "inherit_weights.enabled": (data.get("inherit_weights") or {}).get("enabled")}
    return [name for name, value in used.items() if value]


def _evaluator_for(config: Config) -> Evaluator:
    """The evaluator for ``config``, after checking the task config here, in this process, so a
    bad task (a missing dataset file, an unknown column) is reported against the config file
    rather than from inside a worker."""
    try:
        task = build_task(config.section("task"), config.space())
        strategy_class(config.section("strategy")["name"]).check_task(task)
        used = weight_options(config)
        honoured = plan_options(task)
        refused = [name for name in used if name not in honoured]
        if refused and not honoured:
            raise ConfigError(f"{refused[0]}: the {config.section('task')['name']} task trains "
                              "no weights to keep, continue or inherit (turn it off)")
        if refused:
            raise ConfigError(f"{refused[0]}: the {config.section('task')['name']} task has no "
                              f"weights to keep or inherit; of these options it takes only "
                              f"{', '.join(sorted(honoured))} (turn it off)")
    except TaskError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    return make_evaluator(config.section("task"), config.section("space"),
                          **config.section("evaluator"), task=task)


def run(config: str | Path | dict[str, Any], name: str | None = None,
        **overrides: Any) -> Run:
    """Run a campaign to its end and return its :class:`Run`.

    Args:
        config: a YAML path or a config mapping.
        name: the run name (folder under ``runs_dir``); default from the config or the time.
        **overrides: dotted keys as with ``--set``, e.g. ``**{"strategy.population": 30}``, or
            with ``__`` for dots (``budget__evaluations=50``).
    """
    cfg = load_config(config, _dotted(overrides))
    run_dir, _ = start_campaign(cfg, name)
    return Run(run_dir)


def resume(run_dir: str | Path) -> Run:
    """Continue a stopped or killed campaign and return its :class:`Run`."""
    path, _ = resume_campaign(run_dir)
    return Run(path)


def open_run(path: str | Path) -> Run:
    """Open a finished, stopped or running campaign's folder (read-only)."""
    return Run(path)
