"""Reporters: observers a campaign calls at its milestones, as neat-python's ``ReporterSet``.

A reporter overrides the hooks it cares about; the campaign calls every reporter of its
:class:`ReporterSet` in the order they were added. The progress bar of ``evonas run`` and the
``progress`` callable of :func:`evonas.api.start_campaign` are reporters, and so is
:class:`LoggingReporter`::

    import logging
    from evonas.api import start_campaign
    from evonas.config import load_config
    from evonas.reporting import LoggingReporter

    logging.basicConfig(level=logging.INFO)
    start_campaign(load_config("examples/nb201_tabular.yaml"), "nb",
                   reporters=[LoggingReporter(every=50)])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evonas.campaign import CampaignSummary

LOGGER = logging.getLogger("evonas")


class Reporter:
    """Base class of reporters: every hook does nothing unless overridden."""

    def campaign_started(self, info: dict[str, Any]) -> None:
        """The campaign (or a resumed session of it) is about to ask for its first candidates.

        ``info`` holds ``told``, ``evaluations``, ``max_evaluations``, ``next_id``, ``order``,
        ``capacity`` and ``strategy`` (its name).
        """

    def individual_told(self, counters: dict[str, Any]) -> None:
        """An individual's result was told to the strategy: ``told``, ``evaluations``,
        ``max_evaluations``, ``failed``, ``best_fitness``, ``best_id``, ``last_id``,
        ``last_status``, ``device_seconds``, ``elapsed`` and the strategy's own summary."""

    def campaign_ended(self, summary: CampaignSummary) -> None:
        """The session ended (completed, stopped or interrupted: ``summary.stopped``)."""


class ReporterSet(Reporter):
    """Several reporters called as one, in the order they were added."""

    def __init__(self, reporters: Iterable[Reporter] = ()) -> None:
        self.reporters: list[Reporter] = list(reporters)

    def add(self, reporter: Reporter) -> None:
        self.reporters.append(reporter)

    def remove(self, reporter: Reporter) -> None:
        self.reporters.remove(reporter)

    def __bool__(self) -> bool:
        return bool(self.reporters)

    def campaign_started(self, info: dict[str, Any]) -> None:
        for reporter in self.reporters:
            reporter.campaign_started(info)

    def individual_told(self, counters: dict[str, Any]) -> None:
        for reporter in self.reporters:
            reporter.individual_told(counters)

    def campaign_ended(self, summary: CampaignSummary) -> None:
        for reporter in self.reporters:
            reporter.campaign_ended(summary)


class CallbackReporter(Reporter):
    """A plain ``callable(counters)`` called after each tell (the ``progress`` argument)."""

    def __init__(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self.callback = callback

    def individual_told(self, counters: dict[str, Any]) -> None:
        self.callback(counters)


class LoggingReporter(Reporter):
    """Log the campaign's progress to the ``evonas`` logger at INFO level.

    Args:
        every: log a line every this many tells (and when a new best appears).
    """

    def __init__(self, every: int = 100) -> None:
        if every < 1:
            raise ValueError(f"every: must be at least 1, got {every}")
        self.every = every
        self._best: float | None = None

    def campaign_started(self, info: dict[str, Any]) -> None:
        LOGGER.info("campaign started: %s, %s order, %d in flight at most, %d told, "
                    "%d/%d evaluations", info["strategy"], info["order"], info["capacity"],
                    info["told"], info["evaluations"], info["max_evaluations"])

    def individual_told(self, counters: dict[str, Any]) -> None:
        best = counters["best_fitness"]
        improved = best is not None and (self._best is None or best > self._best)
        if improved:
            self._best = best
        if improved or counters["told"] % self.every == 0:
            LOGGER.info("told %d, evaluations %d/%d, failed %d, best %s (individual %s)",
                        counters["told"], counters["evaluations"], counters["max_evaluations"],
                        counters["failed"], "-" if best is None else f"{best:.6g}",
                        counters["best_id"])

    def campaign_ended(self, summary: CampaignSummary) -> None:
        LOGGER.info("campaign %s: %d individuals, %d evaluations, %d failed, best %s "
                    "(individual %s), %.1f s", "stopped" if summary.stopped else "ended",
                    summary.individuals, summary.evaluations, summary.failed,
                    "-" if summary.best_fitness is None else f"{summary.best_fitness:.6g}",
                    summary.best_id, summary.seconds)
