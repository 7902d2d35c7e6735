"""The Python API: start, resume and open campaigns.

>>> import evonas
>>> run = evonas.run("examples/nb201_tabular.yaml", seed=3, **{"budget.evaluations": 50})
>>> run.best().metrics["fitness"]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from evonas.campaign import Campaign, CampaignSummary
from evonas.config import Config, ConfigError, load_config, validate
from evonas.evaluation import Evaluator, make_evaluator
from evonas.run import Run
from evonas.storage import JOURNAL_FILE, Journal, JournalError

CONFIG_FILE = "config.yaml"


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides: ``budget__evaluations=5`` and ``**{"budget.evaluations": 5}`` agree."""
    return {key.replace("__", "."): value for key, value in overrides.items()}


def prepare_run(config: Config, name: str | None = None) -> Path:
    """Choose and create the run folder for a new campaign.

    Raises:
        ConfigError: when a run of that name exists already (use resume).
    """
    if name is None:
        name = config.name
    if name is None:
        stem = Path(config.source).stem if config.source != "<dict>" else "run"
        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = config.runs_dir / name
    if (run_dir / JOURNAL_FILE).exists():
        raise ConfigError(f"{run_dir}: a run named {name!r} exists already; continue it with "
                          f"`evonas resume {run_dir}` or choose another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def start_campaign(config: Config, name: str | None = None,
                   progress: Callable[[dict[str, Any]], None] | None = None,
                   ) -> tuple[Path, CampaignSummary]:
    """Create a run folder and journal for ``config`` and run the campaign to its end.

    Returns:
        The run folder and the campaign summary.
    """
    evaluator = _evaluator_for(config)  # a bad task config fails here, before any folder exists
    try:
        run_dir = prepare_run(config, name)
        data = config.to_dict()
        data["name"] = run_dir.name
        (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
        journal = Journal.create(run_dir / JOURNAL_FILE, data)
    except BaseException:
        evaluator.close()
        raise
    with journal:
        summary = Campaign(Config(data, config.source), journal, evaluator, progress).run()
    return run_dir, summary


#: Config sections a resumed campaign may change without ``--force``.
SAFE_TO_CHANGE = ("budget", "evaluator", "campaign")


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
                    ) -> tuple[Path, CampaignSummary]:
    """Continue a stopped or killed campaign from its journal.

    Args:
        run_dir: the run folder.
        progress: observer of campaign counters.
        overrides: config changes (dotted keys or ``KEY=VALUE`` strings). Budget, evaluator and
            campaign settings may change; anything else (space, task, strategy, seed) only with
            ``force``, since the replay would no longer match the journal.
        force: accept unsafe changes.
        report: receives one line per changed key.

    Raises:
        ConfigError: on an unsafe change without ``force``, or an invalid change.
        JournalError: when the folder holds no readable journal.
    """
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_FILE
    if not run_dir.is_dir() or not path.is_file():
        raise JournalError(f"{run_dir}: not a run folder (no {JOURNAL_FILE})")
    with Journal.open(path, readonly=True) as probe:
        frozen = probe.config()
    config = Config(validate(frozen, f"{path}:meta.config"), str(path))
    changes: list[str] = []
    if overrides:
        changed = load_config(frozen, overrides)
        changed.source = str(run_dir / CONFIG_FILE)
        changes = config_diff(config.data, changed.data)
        unsafe = [line for line in changes if line.split(".")[0].split(":")[0]
                  not in SAFE_TO_CHANGE]
        if unsafe and not force:
            raise ConfigError(f"{run_dir / CONFIG_FILE}: {unsafe[0].split(':')[0]}: cannot change "
                              "on resume (the journal would no longer replay); use --force to "
                              "change it anyway")
        config = changed
    for line in changes:
        if report is not None:
            report(line)
    evaluator = _evaluator_for(config)
    with Journal.open(path) as journal:
        if changes:
            journal.set_config(config.to_dict())
            journal.add_event("config_changed", None, {"changes": changes, "forced": force})
            (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        journal.add_event("resumed")
        summary = Campaign(config, journal, evaluator, progress).run()
    return run_dir, summary


def _evaluator_for(config: Config) -> Evaluator:
    """The evaluator for ``config``, after checking the task config here, in this process, so a
    bad task (a missing dataset file, an unknown column) is reported against the config file
    rather than from inside a worker."""
    from evonas.strategies import strategy_class
    from evonas.tasks import TaskError, build_task

    try:
        task = build_task(config.section("task"), config.space())
        strategy_class(config.section("strategy")["name"]).check_task(task)
    except TaskError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: {exc}") from None
    ev = config.section("evaluator")
    return make_evaluator(config.section("task"), config.section("space"), ev["workers"],
                          timeout=ev["timeout"], devices=ev["devices"],
                          max_crashes=ev.get("max_crashes", 2),
                          max_tasks_per_worker=ev.get("max_tasks_per_worker"),
                          backend=ev["backend"], address=ev["address"], num_cpus=ev["num_cpus"],
                          num_gpus=ev["num_gpus"], max_retries=ev["max_retries"],
                          workers_per_device=ev.get("workers_per_device"),
                          device_memory=ev.get("device_memory"),
                          memory_safety_factor=ev.get("memory_safety_factor", 1.2))


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
