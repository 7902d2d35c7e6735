"""The campaign loop: strategy <-> evaluator <-> journal.

The loop keeps a *window* of individuals that have been born but not yet told to the strategy.
It runs in one of two orders (``campaign.order``):

* ``async`` (the default whenever the evaluator runs more than one evaluation at a time): results
  are told as they arrive and the window is refilled after each tell, so a free worker gets work
  at once and no ask waits for the oldest individual. The window holds at most
  ``evaluator.capacity`` evaluations, plus up to as many cached copies waiting for an evaluation
  in flight. Each tell is journaled (a ``told`` event), and resume replays the journaled tells in
  their order: every replayed ask reproduces its journaled genome, nothing journaled is redone,
  and only what was in flight runs again. Two runs from one seed differ as soon as workers
  finish in a different order.
* ``birth``: results are told in birth order, the window holds at most ``capacity``
  individuals, and the sequence of asks and tells, so every genome, is a deterministic function
  of the seed and the worker count: a rerun is bit-identical, whatever order workers finish in.
  One long evaluation holds up the others' tells.

In birth order:

1. **Refill.** While the window has room and the budget allows, ask the strategy for candidates.
   Each gets the next id (birth order) and is written to the journal. A candidate whose canonical
   hash an earlier individual already has is not evaluated again: it gets a copy of that result
   (status ``cached``). The rest are committed to the journal, then dispatched.
2. **Wait.** Results stream back from the evaluator in any order; each is journaled at once.
3. **Tell in birth order.** The oldest individual of the window is told to the strategy as soon as
   its result is in, then the window is refilled. Asks happen only right after a tell, so the
   sequence of asks and tells, and with it every genome, is a deterministic function of the
   results, whatever order workers finish in.
4. **Checkpoint.** Every ``campaign.checkpoint_every`` tells (and at the end), the strategy's state
   and the counters go to the journal as a snapshot (committed with the next periodic commit, in
   one transaction with the rows before it; the final one at once).

A graceful stop (SIGINT, SIGTERM, ``budget.wall_time``) and a spent ``budget.device_seconds``
*halt* the loop: nothing more is asked or told, and the evaluations in flight run to their end
(within ``campaign.grace_period`` for a stop) so their results are journaled. The strategy is told
nothing after the halt, so the final snapshot holds exactly the state an uninterrupted campaign had
at that point, and a resume (with a raised budget, for a spent one) continues as if never halted.

Tasks that train can do more with an evaluation than score it (their jobs carry a training
plan, :class:`~evonas.tasks.plan.TrainingPlan`): ``campaign.keep_weights`` keeps the K best
trained states (:mod:`evonas.kept_weights`); a ``fidelity:`` scheduler runs each individual up a
ladder of rungs, one job per rung, each continuing from the state the rung below saved, and the
individual's result is its last rung's (:mod:`evonas.fidelity.ladder`; with successive halving a
result may wait for its rung to fill, holding no worker: the window then holds that many more,
and each refill it leads to is journaled as a ``refill`` event with the waiting count, which the
async replay replays between the tells); ``inherit_weights``
starts a child from its parent's state (:mod:`evonas.inheritance`). Each journals what it does in
the same transactions as the results, deletes a file only once the journal's commit no longer
needs it, and puts folder and journal back in agreement when the campaign opens.

Resume is a replay: load the last snapshot, rebuild the window from the journal, and run the same
loop (in async order, tell the journaled tells in their order first). Individuals the journal
already holds are checked (same canonical hash) instead of being written again, their recorded
results are reused, and what was dispatched but never finished is dispatched again. In birth
order, with a deterministic task, a resumed campaign ends with exactly the journal of one never
interrupted; in async order, with the journal that one would have had had its workers finished in
the same order.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from evonas.config import Config
from evonas.evaluation import EvalJob, EvalResult, Evaluator
from evonas.fidelity import build_scheduler
from evonas.fidelity.ladder import Arrival, Ladder
from evonas.inheritance import WeightInheritance, inherit_epochs
from evonas.kept_weights import WeightKeeper
from evonas.reporting import CallbackReporter, Reporter, ReporterSet
from evonas.seeds import EvaluationSeeds, strategy_rng
from evonas.storage import EvaluationRow, Journal, JournalError, Snapshot
from evonas.strategies import Candidate, Evaluated, Strategy, build_strategy, search_seconds
from evonas.strategies.prescreen import wrap_strategy
from genomes import CPPNGenome, DAGGenome, Genome, genome_from_dict

#: Default cap on individuals per budgeted evaluation: a strategy that keeps proposing
#: architectures already evaluated (cache hits are free) stops there instead of running forever.
INDIVIDUALS_PER_EVALUATION = 20
#: Seconds between commits while the loop runs: a kill loses at most that much of the journal's
#: tail, which a resume replays from the last snapshot committed (periodic snapshots go with
#: these commits: one transaction holds a snapshot and the rows before it).
COMMIT_EVERY = 0.05
#: ``campaign.order`` values.
ORDERS = ("async", "birth")
#: A refill that no tell makes (journaled so that a replay makes it at the same point).
REFILL_EVENT = "refill"
def _genome_json(genome: Any) -> dict[str, Any] | str:
    """What the journal stores of ``genome``: its cached compact JSON text when that is exactly
    what the journal's encoder would write of ``to_dict()`` (a DAG or CPPN genome that passed
    its checks: finite numbers only), else the dict."""
    if type(genome) in _JSON_TEXT_KINDS and genome.__dict__.get("_valid"):
        return genome.to_json()
    return genome.to_dict()


#: Genome classes whose ``to_json()`` is ``to_dict()`` in compact JSON, cached.
_JSON_TEXT_KINDS = (DAGGenome, CPPNGenome)


@dataclass
class _Pending:
    """An individual in the window: born, not yet told."""

    id: int
    candidate: Candidate
    hash: str
    source_id: int | None
    result: EvaluationRow | None = None


@dataclass
class CampaignSummary:
    """What a campaign run (or resumed run) did.

    Attributes:
        individuals: individuals born so far (all sessions).
        evaluations: evaluations performed so far (cached copies excluded).
        failed: failed evaluations so far.
        best_id: id of the best individual, or None.
        best_fitness: its fitness.
        stopped: True when stopped early (signal or wall-time budget) with work left to resume.
        seconds: wall seconds of this session.
    """

    individuals: int
    evaluations: int
    failed: int
    best_id: int | None
    best_fitness: float | None
    stopped: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class Campaign:
    """Runs (or resumes) one campaign against an open journal.

    Args:
        config: the validated configuration (the journal's frozen copy on resume).
        journal: the run's journal, open for writing.
        evaluator: where evaluations run; the campaign closes it at the end.
        progress: an observer called after each tell with a dict of counters (None: silent).
        reporters: observers of the campaign's milestones (:mod:`evonas.reporting`); ``progress``
            joins them as a :class:`~evonas.reporting.CallbackReporter`.
    """

    def __init__(self, config: Config, journal: Journal, evaluator: Evaluator,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 reporters: Iterable[Reporter] = ()) -> None:
        self.config = config
        self.journal = journal
        self.evaluator = evaluator
        self.reporters = ReporterSet(reporters)
        if progress is not None:
            self.reporters.add(CallbackReporter(progress))
        self.space = config.space()
        self.strategy: Strategy = wrap_strategy(
            build_strategy(config.section("strategy"), self.space, strategy_rng(config.seed)),
            config)
        self.strategy.bind_task(config.section("task"))
        budget = config.section("budget")
        self.max_evaluations: int = budget["evaluations"]
        self.max_individuals: int = budget["max_individuals"] or \
            INDIVIDUALS_PER_EVALUATION * self.max_evaluations
        self.wall_time: float | None = budget["wall_time"]
        self.device_seconds_budget: float | None = budget["device_seconds"]
        campaign = config.section("campaign")
        self.target: float | None = (config.section("task").get("target")
                                     if campaign["stop_at_target"] else None)
        self.checkpoint_every: int = campaign["checkpoint_every"]
        self.grace_period: float = campaign["grace_period"]
        self.capacity = max(1, evaluator.capacity)
        keep = campaign.get("keep_weights") or 0  # absent from configs frozen before it existed
        self._keeper = WeightKeeper(journal, keep) if keep else None
        scheduler = build_scheduler(config.data)
        self._ladder = None if scheduler is None else Ladder(scheduler, journal, bool(keep))
        # a synchronous ladder's waiting results hold no worker: async order refills for them
        self._waits = self._ladder is not None and self._ladder.synchronous
        self.order: str = campaign.get("order") or (
            "async" if self._waits or (self.capacity > 1 and not evaluator.returns_in_order)
            else "birth")
        inherit = config.data.get("inherit_weights") or {}
        self._inheritance = WeightInheritance(
            journal, inherit_epochs(inherit, config.section("task").get("epochs"),
                                    "inherit_weights"), inherit["keep"], bool(keep)
        ) if inherit.get("enabled") else None

        self.next_id = 0
        self.told = 0
        self.evaluations = 0
        self.failed = 0
        # told results' evaluation seconds (non-cached) plus the strategy's search seconds
        self.device_seconds = 0.0
        self.elapsed_before = 0.0
        self._window: OrderedDict[int, _Pending] = OrderedDict()
        self._window_evaluations = 0  # window members evaluated, not copied
        self._arrived: deque[int] = deque()  # async: window members with a result, by arrival
        self._replaying = False
        self._first_by_hash: dict[str, int] = {}  # canonical hash -> the first id that has it
        self._results: dict[int, EvaluationRow] = {}  # results recorded this session, by id
        self._metrics_text: dict[int, str] = {}  # their metrics' JSON text (for cached copies)
        self._evaluation_seed = EvaluationSeeds(config.seed)
        self._last_commit = time.monotonic()
        self._dependents: dict[int, list[int]] = {}
        self._to_dispatch: list[_Pending] = []
        self._replay_until = 0  # ids below this already exist in the journal
        self._refills = 0  # refills journaled apart from tells (a synchronous ladder's)
        self._replay_waiting: int | None = None  # the journal's waiting count while replaying
        self._stopping = False
        self._stop_deadline: float | None = None
        self._started = time.monotonic()
        self._best: tuple[float, int] | None = None

    # ----------------------------------------------------------------- public
    def run(self) -> CampaignSummary:
        """Run until the budget is spent, the strategy is done, or a stop is requested."""
        restore_start = time.perf_counter()
        live_capacity = self._restore()
        # committed with the first individuals this session writes: the order and capacity
        # that a later resume replays them with
        self.journal.add_event("restored", None, {
            "seconds": round(time.perf_counter() - restore_start, 4), "next_id": self.next_id,
            "told": self.told, "window": len(self._window), "order": self.order,
            "capacity": self.capacity})
        self.reporters.campaign_started({
            "told": self.told, "evaluations": self.evaluations,
            "max_evaluations": self.max_evaluations, "next_id": self.next_id,
            "order": self.order, "capacity": live_capacity, "strategy": self.strategy.name})
        interrupted = False
        with _SignalHandlers(self._request_stop), _FrozenHeap():
            try:
                self._refill()
                self._replay(live_capacity)
                self._loop()
            except KeyboardInterrupt:
                interrupted = True
            finally:
                self._commit()
                self.evaluator.close()
        if not interrupted:
            self._snapshot()
        unfinished = any(p.result is None for p in self._window.values())
        stopped = interrupted or unfinished or (self._stopping and not self._finished())
        self.journal.add_event("stopped" if stopped else "completed", None,
                               {"told": self.told, "evaluations": self.evaluations})
        self._commit()
        summary = self._summary(stopped)
        self.reporters.campaign_ended(summary)
        return summary

    def _target_reached(self) -> bool:
        return self.target is not None and self._best is not None and \
            self._best[0] >= self.target

    def _finished(self) -> bool:
        return (self.strategy.done or self._target_reached()
                or self.evaluations >= self.max_evaluations
                or self.next_id >= self.max_individuals
                or (self.device_seconds_budget is not None
                    and self.device_seconds >= self.device_seconds_budget))

    # ----------------------------------------------------------------- restore
    def _restore(self) -> int:
        """Load the last snapshot and rebuild its window. In async order, the capacity in force
        until the journal's end is the snapshot's (:meth:`_replay` switches); returns this
        session's."""
        if self._keeper is not None:
            self._keeper.reconcile()  # before anything is dispatched again
        if self._ladder is not None:
            self._ladder.restore(self.journal.evaluated_ids())
        if self._inheritance is not None:
            self._inheritance.reconcile()
        live_capacity = self.capacity
        sessions = self.journal.events("restored")
        first: Any = sessions[0][3] if sessions else None
        if sessions:  # the order the journal is in; journals from before async order: birth
            order = first.get("order") if isinstance(first, dict) else None
            self.order = order if order in ORDERS else "birth"
        self.strategy.asynchronous = self.order == "async"
        self.strategy.bind_known(self._known)
        row = self.journal.last_snapshot()
        last = self.journal.counts()["individuals"]
        self._replay_until = last
        self._first_by_hash = self.journal.first_ids_by_hash()
        if self._waits:
            self._replay_waiting = 0  # until the snapshot's (the ladder's is the journal's end)
        if row is None:
            # no snapshot yet: everything journaled was made by the first session (a later one
            # with another capacity snapshots at its start)
            if self.order == "async" and isinstance(first, dict) \
                    and isinstance(first.get("capacity"), int):
                self.capacity = max(1, first["capacity"])
            return live_capacity
        if self.order == "async":
            self.capacity = max(1, int(row.state.get("capacity", self.capacity)))
        if self._waits:
            self._refills = int(row.state.get("refills", 0))
            self._replay_waiting = int(row.state.get("waiting", 0))
        self.strategy.load_state_dict(row.state["strategy"])
        self.next_id, self.told, self.evaluations = row.next_id, row.told, row.evaluations
        self.failed = row.state.get("failed", 0)
        self.device_seconds = row.state.get("device_seconds", 0.0)
        self.elapsed_before = row.state.get("elapsed", 0.0)
        best = row.state.get("best")
        self._best = None if best is None else (best[0], best[1])
        window = row.state.get("window")
        for ind_id in range(self.told, self.next_id) if window is None else window:
            ind = self.journal.individual(ind_id)
            if ind is None:
                raise JournalError(f"{self.journal.path}: individuals[{ind_id}] is missing "
                                   "(the last snapshot's window holds it)")
            candidate = Candidate(genome_from_dict(ind.genome), ind.parents, ind.operator,
                                  ind.generation)
            pending = _Pending(ind.id, candidate, ind.hash, self._source_of(ind.hash, ind.id))
            self._window[ind.id] = pending
            if pending.source_id is None:
                self._window_evaluations += 1
            self._settle(pending, self.journal.evaluation(ind.id))
        self._flush_dispatch()
        return live_capacity

    def _replay(self, live_capacity: int) -> None:
        """Async order: tell the tells journaled after the snapshot, in their order (each one
        refills as it did then; so do a synchronous ladder's refills between them, with the
        waiting count journaled), then switch to this session's capacity."""
        if self.order != "async":
            return
        steps = self.journal.events("told")[self.told:]
        if self._waits:
            steps = sorted(steps + self.journal.events(REFILL_EVENT)[self._refills:])
        self._replaying = True
        for _, kind, ind_id, data in steps:
            if self._waits:
                self._replay_waiting = int((data or {}).get("waiting", 0))
            if kind == REFILL_EVENT:
                self._refill_apart()
                continue
            pending = self._window.get(ind_id) if ind_id is not None else None
            if pending is None or pending.result is None:
                raise JournalError(f"{self.journal.path}: events: individual {ind_id} was told "
                                   "but the replay has no result for it (was the code, task or "
                                   "config changed?)")
            self._tell(pending)
        self._replaying = False
        self._replay_waiting = None
        self._arrived = deque(i for i, p in self._window.items() if p.result is not None)
        if live_capacity != self.capacity:
            self.capacity = live_capacity
            self._snapshot()  # the capacity that the rest of the journal is made with
            self._refill()

    # ----------------------------------------------------------------- loop
    def _device_budget_spent(self) -> bool:
        """Decided from told results only, so a replay decides the same."""
        return (self.device_seconds_budget is not None
                and self.device_seconds >= self.device_seconds_budget)

    def _halted(self) -> bool:
        """No more asks or tells: stopping, or the device-seconds budget is spent."""
        return self._stopping or self._device_budget_spent()

    def _loop(self) -> None:
        self._flush_dispatch()
        while self._window:
            if self._halted():
                # Telling the drained window would move the strategy past the state that an
                # uninterrupted campaign has here; only collect what is in flight.
                if not self._in_flight():
                    break
            else:
                self._tell_ready()
                self._flush_dispatch()  # what the tells' refills admitted, in one go
                if not self._window:
                    break
                if self._waits and self._ladder_waiting() and not self._arrived \
                        and not self._in_flight():
                    self._unblock()
            if self._stop_deadline is not None and time.monotonic() > self._stop_deadline:
                break
            for result in self.evaluator.poll(0.2):
                self._record(result)
            if time.monotonic() - self._last_commit >= COMMIT_EVERY:
                self._commit()
            if (self.wall_time is not None and not self._stopping
                    and self._elapsed() > self.wall_time):
                self._stopping = True

    def _in_flight(self) -> bool:
        """Whether a window member has a job running (not a result, not waiting on a rung)."""
        ladder = self._ladder
        return any(p.result is None and not (self._waits and ladder is not None
                                             and ladder.is_waiting(p.id))
                   for p in self._window.values())

    def _unblock(self) -> None:
        """A synchronous ladder's results wait and nothing runs: start what can start, else
        decide the waiting rungs as they are (nothing more can reach them)."""
        assert self._ladder is not None
        before = self.next_id
        self._refill_apart()
        self._flush_dispatch()
        if self.next_id == before:
            self._arrival(self._ladder.close())

    def _refill_apart(self) -> None:
        """A refill that no tell makes (a result now waiting freed its worker): journaled, with
        the waiting count, so that a replay refills at the same point."""
        if not self._replaying:
            self.journal.add_event(REFILL_EVENT, None, {"waiting": self._ladder_waiting()})
        self._refills += 1
        self._refill()

    def _ladder_waiting(self) -> int:
        """Window members waiting on their rung (the journal's count while replaying)."""
        if not self._waits or self._ladder is None:
            return 0
        if self._replay_waiting is not None:
            return self._replay_waiting
        return self._ladder.waiting()

    def _tell_ready(self) -> None:
        """Tell every result that may be told now: in async order all that have arrived, in
        birth order the oldest members while theirs are in."""
        if self.order == "async":
            while self._arrived and not self._halted():
                self._tell(self._window[self._arrived.popleft()])
            return
        while self._window and not self._halted():
            head = next(iter(self._window.values()))
            if head.result is None:
                return
            self._tell(head)

    def _commit(self) -> None:
        self.journal.commit()
        self._last_commit = time.monotonic()
        self._committed()

    def _committed(self) -> None:
        """The journal committed: delete the files whose end it now records."""
        if self._keeper is not None:
            self._keeper.committed()
        if self._ladder is not None:
            self._ladder.committed()

    def _refill(self) -> None:
        if self._device_budget_spent():
            return
        if self._target_reached():
            return
        while (self._replaying or not self._stopping) and not self.strategy.done:
            room = min(self._room(), self.max_evaluations - self.evaluations,
                       self.max_individuals - self.next_id)
            if room <= 0:
                break
            candidates = self.strategy.ask(room)
            if not candidates:
                break
            for candidate in candidates:
                self._admit(candidate)

    def _room(self) -> int:
        """How many more the window takes. It depends on who is in the window, never on which
        results have arrived, so a replay of the same tells asks the same."""
        if self.order == "birth":
            return self.capacity - len(self._window)
        copies = len(self._window) - self._window_evaluations
        return (self.capacity - self._window_evaluations + self._ladder_waiting()
                - max(0, copies - self.capacity))

    def _admit(self, candidate: Candidate) -> None:
        ind_id = self.next_id
        self.next_id += 1
        genome_hash = candidate.genome.canonical_hash()
        recorded: EvaluationRow | None = None
        if ind_id < self._replay_until:
            stored = self.journal.individual(ind_id)
            if stored is None or stored.hash != genome_hash:
                raise JournalError(
                    f"{self.journal.path}: individuals[{ind_id}]: replay produced a different "
                    "genome than the journal holds (was the code, task or config changed?)")
            recorded = self.journal.evaluation(ind_id)
            # the journal's record is authoritative (a replayed search measures its time anew)
            candidate = Candidate(candidate.genome, candidate.parents, stored.operator,
                                  candidate.generation)
        else:
            self.journal.add_individual(ind_id, _genome_json(candidate.genome), genome_hash,
                                        candidate.parents, candidate.operator,
                                        candidate.generation)
        source_id = self._source_of(genome_hash, ind_id)
        pending = _Pending(ind_id, candidate, genome_hash, source_id)
        self._window[ind_id] = pending
        if source_id is None:
            self.evaluations += 1
            self._window_evaluations += 1
        if recorded is None and source_id is None:
            self._to_dispatch.append(pending)  # the common case of _settle
        else:
            self._settle(pending, recorded)

    def _known(self, genome: Genome) -> bool:
        """Whether an individual born before the next one has ``genome``'s canonical hash
        (what :meth:`Strategy.known` answers; the same during a replay, whose journal holds
        later individuals too)."""
        first = self._first_by_hash.get(genome.canonical_hash())
        return first is not None and first < self.next_id

    def _source_of(self, genome_hash: str, ind_id: int) -> int | None:
        """The earliest individual before ``ind_id`` with this canonical hash, if any."""
        first = self._first_by_hash.setdefault(genome_hash, ind_id)
        if first > ind_id:
            self._first_by_hash[genome_hash] = ind_id
            return None
        return first if first < ind_id else None

    def _settle(self, pending: _Pending, recorded: EvaluationRow | None) -> None:
        """Give a window member its result now, or arrange for it to get one."""
        if recorded is not None:
            self._arrive(pending, recorded)
        elif pending.source_id is None:
            self._to_dispatch.append(pending)
        else:
            source = self._window.get(pending.source_id)
            source_result = source.result if source is not None else (
                self._results.get(pending.source_id)
                or self.journal.evaluation(pending.source_id))
            if source_result is None:
                self._dependents.setdefault(pending.source_id, []).append(pending.id)
            else:
                self._copy_result(pending, source_result)

    def _flush_dispatch(self) -> None:
        if not self._to_dispatch:
            return
        # No commit first: an individual's row is written before its result's, in order, so a
        # crash can lose a tail of both but never a result without its individual; the replay
        # makes the lost individuals again and what was in flight runs again.
        add_event, submit = self.journal.add_event, self.evaluator.submit
        seed_of = self._evaluation_seed
        planned = self._ladder or self._keeper or self._inheritance
        ladder = self._ladder if self._waits else None
        for pending in self._to_dispatch:
            if ladder is not None and ladder.is_waiting(pending.id):
                continue  # restored waiting on its rung: its decision submits its next job
            add_event("dispatched", pending.id)
            genome = pending.candidate.genome
            submit(EvalJob(pending.id, None, seed_of(pending.id), genome,
                           plan=self._plan(pending) if planned else None))
        self._to_dispatch = []

    def _plan(self, pending: _Pending) -> dict[str, Any] | None:
        """The training plan of an individual's (first) job: its first rung, inheritance from
        its parent, or where its weights go to be kept."""
        if self._ladder is not None:
            return self._ladder.plan(pending.id)
        if self._inheritance is not None:
            return self._inheritance.plan(pending.id, pending.candidate)
        return None if self._keeper is None else self._keeper.plan(pending.id)

    def _record(self, result: EvalResult) -> None:
        pending = self._window.get(result.individual_id)
        if pending is None or pending.result is not None:
            return  # a late result for an individual already settled
        if self._ladder is not None:
            arrival = self._ladder.arrive(result)
            self._arrival(arrival)
            if arrival.paused and not self._halted():
                self._refill_apart()
            return
        self._record_evaluation(pending, result)

    def _arrival(self, arrival: Arrival) -> None:
        """Record the evaluations of the ladders that ended, then submit the promotions (a
        promotion lost to a crash runs again on resume; an ended ladder has no job to rerun)."""
        for final in arrival.finals:
            self._record_evaluation(self._window[final.individual_id], final)
        for ind_id, plan in arrival.promotions:
            genome = self._window[ind_id].candidate.genome
            self.evaluator.submit(EvalJob(ind_id, None, self._evaluation_seed(ind_id),
                                          genome, plan=plan))

    def _record_evaluation(self, pending: _Pending, result: EvalResult) -> None:
        """Journal an individual's evaluation and give it (and its waiting copies) the result."""
        fitness = result.metrics.get("fitness") if result.status == "ok" else None
        row = EvaluationRow(result.individual_id, result.status,
                            None if fitness is None else float(fitness), dict(result.metrics),
                            result.error, result.worker, result.seconds, None)
        self._metrics_text[row.individual_id] = self.journal.add_evaluation(row)
        self._results[row.individual_id] = row
        if self._inheritance is not None:
            self._inheritance.record(row)  # first: it links the state where the keeper looks
        if self._keeper is not None:
            self._keeper.record(row)
        self._arrive(pending, row)
        for dep_id in self._dependents.pop(pending.id, []):
            self._copy_result(self._window[dep_id], row)

    def _copy_result(self, pending: _Pending, source: EvaluationRow) -> None:
        status = "cached" if source.status in ("ok", "cached") else source.status
        row = EvaluationRow(pending.id, status, source.fitness, source.metrics, source.error,
                            None, 0.0, pending.source_id)
        self.journal.add_evaluation(row, self._metrics_text.get(source.individual_id))
        self._arrive(pending, row)

    def _arrive(self, pending: _Pending, row: EvaluationRow) -> None:
        pending.result = row
        if self.order == "async":
            self._arrived.append(pending.id)

    def _tell(self, pending: _Pending) -> None:
        del self._window[pending.id]
        result = pending.result
        assert result is not None
        if pending.source_id is None:
            self._window_evaluations -= 1
        if self.order == "async" and not self._replaying:
            self.journal.add_event("told", pending.id, {"waiting": self._ladder_waiting()}
                                   if self._waits else None)
        fitness = result.fitness if result.status in ("ok", "cached") else None
        self.strategy.tell([Evaluated(pending.id, pending.candidate.genome, fitness,
                                      result.metrics)])
        self.told += 1
        self.device_seconds += search_seconds(pending.candidate.operator)
        if pending.source_id is None:
            self.device_seconds += result.seconds or 0.0
            if result.status == "failed":
                self.failed += 1
        if result.status == "ok" and fitness is not None and (
                self._best is None or fitness > self._best[0]):
            self._best = (fitness, pending.id)
        if self.told % self.checkpoint_every == 0:
            self._snapshot(commit=False)  # with the next commit (every COMMIT_EVERY seconds)
        if self.reporters:
            self.reporters.individual_told(self._counters(pending))
        self._refill()

    # ----------------------------------------------------------------- state
    def _elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._started)

    def _snapshot(self, commit: bool = True) -> None:
        state = {"strategy": self.strategy.state_dict(), "failed": self.failed,
                 "device_seconds": self.device_seconds,
                 "elapsed": self._elapsed(),
                 "best": None if self._best is None else list(self._best),
                 "capacity": self.capacity}
        if self.order == "async":
            state["window"] = list(self._window)
        if self._waits:
            state.update(refills=self._refills, waiting=self._ladder_waiting())
        self.journal.add_snapshot(Snapshot(self.next_id, self.told, self.evaluations, state),
                                  commit=commit)
        if commit:
            self._last_commit = time.monotonic()
            self._committed()
        elif time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self._commit()  # a long run of tells that never returns to the loop commits too

    def _counters(self, last: _Pending) -> dict[str, Any]:
        return {
            "told": self.told, "evaluations": self.evaluations,
            "device_seconds": self.device_seconds,
            "max_evaluations": self.max_evaluations, "failed": self.failed,
            "best_fitness": None if self._best is None else self._best[0],
            "best_id": None if self._best is None else self._best[1],
            "last_id": last.id, "last_status": last.result.status if last.result else None,
            "elapsed": self._elapsed(), **self.strategy.summary(),
        }

    def _summary(self, stopped: bool) -> CampaignSummary:
        return CampaignSummary(
            individuals=self.next_id, evaluations=self.evaluations, failed=self.failed,
            best_id=None if self._best is None else self._best[1],
            best_fitness=None if self._best is None else self._best[0],
            stopped=stopped, seconds=time.monotonic() - self._started)

    # ----------------------------------------------------------------- stopping
    def _request_stop(self) -> None:
        if self._stopping and self._stop_deadline is not None:
            raise KeyboardInterrupt
        self._stopping = True
        self._stop_deadline = time.monotonic() + self.grace_period
        print(f"\nevonas: stopping; waiting up to {self.grace_period:g}s for "
              f"{len(self._window)} evaluation(s) in flight (interrupt again to stop now)",
              file=sys.stderr, flush=True)


class _FrozenHeap:
    """Keep the objects alive when a campaign starts (imported modules, torch, the task's data)
    out of the garbage collector's full collections while it runs (:func:`gc.freeze`), and give
    them back at the end (:func:`gc.unfreeze`). A campaign allocates millions of small objects,
    so full collections come often; without this each one walks the whole heap (about a tenth
    of a NEAT campaign's CPU time on XOR). Nothing is done when the process has frozen objects
    of its own already."""

    def __init__(self) -> None:
        self._frozen = False

    def __enter__(self) -> _FrozenHeap:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            self._frozen = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._frozen:
            gc.unfreeze()


class _SignalHandlers:
    """Route SIGINT/SIGTERM to a callback while a campaign runs (main thread only)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.callback()

    def __enter__(self) -> _SignalHandlers:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
