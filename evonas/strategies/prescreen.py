"""Zero-cost proxies in front of a strategy: a pre-screen and a warm start.

Two top-level config sections wrap the campaign's strategy in :class:`Prescreened`, itself a
:class:`~evonas.strategies.base.Strategy`::

    prescreen: {proxy: synflow, keep: 0.25}   # train only the best quarter of what it proposes
    warm_start: {proxy: synflow, sample: 4}   # each random genome: the best of 4 random ones

* **Pre-screen.** ``ask(n)`` asks the inner strategy for ``ceil(n / keep)`` candidates, scores
  each with the proxy on one fixed batch of the task's training split (an untrained network, a
  forward and a backward pass) and returns the best ``n``; the rest are handed back to the inner
  strategy with :meth:`~evonas.strategies.base.Strategy.discard` and never become individuals.
  Candidates are scored as they come, and the losers are discarded before the inner strategy is
  asked again (a generational strategy breeds replacements there, so its generation stays whole;
  its last member is screened among what is left of it).
* **Warm start.** Only candidates whose operator record is the random initialisation (``op:
  random``) are screened: each is replaced by the best of ``sample`` random genomes (its own and
  ``sample - 1`` more drawn with the wrapper's generator by the space's sampler), so the first
  population of regularized evolution or of a generational strategy is the best quarter (for
  ``sample: 4``) of four times as many random genomes. Everything else passes unscreened. The
  inner strategy is told the genome that was evaluated, as always.

Both may be given; the warm start then acts on what the inner strategy proposes, before the
pre-screen chooses. Each kept candidate's operator record gets ``prescreen: {proxy, score, rank,
of}`` (its rank among the ``of`` candidates screened in that ask) or ``warm_start: {proxy, score,
drawn, of}`` (which of the ``of`` random genomes won, 0 being the inner strategy's own), and
``search_seconds``: the scoring time of the ask (discarded candidates' included) shared among the
candidates kept, so budgets and reports count it as device time.

A candidate's score is a pure function of its genome and the campaign seed (the initial weights
are seeded from both, one torch thread on the CPU), so a resumed campaign screens exactly as the
uninterrupted one did. A genome whose score is not a finite number (NASWOT's singular kernel) or
that cannot be scored ranks last.

Strategies that keep per-candidate state the default ``discard`` would leak are refused for the
pre-screen (``bananas``, ``local_search``, ``neat``, ``darts``, until they implement it), and those
with nothing to warm-start or that track candidates by genome for the warm start (``reinforce``,
``darts``, ``local_search``, ``neat``). Proxies need DAG genomes (``nb201``, ``free``) and a dataset
task (``digits``, ``idx``, ``npz``, ``image_folder``, ``cifar``): the campaign's, or another one
named by the section's ``task`` (a tabular NAS-Bench-201 campaign screened on real images).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.errors import ConfigError
from evonas.options import MAX_POPULATION, Option, OptionSchema
from evonas.proxies.names import COST_NAMES, PROXY_NAMES
from evonas.strategies.base import Candidate, Evaluated, Strategy, search_seconds
from genomes import Genome

if TYPE_CHECKING:
    from evonas.config import Config

#: What a pre-screen or warm start may rank by (higher ranks first; ``params`` and ``flops``
#: prefer the larger network).
SCREEN_PROXIES: tuple[str, ...] = PROXY_NAMES + COST_NAMES
#: Mixed into the campaign seed for the wrapper's generator (its own stream).
PRESCREEN_STREAM = 0x50524553  # "PRES"
#: Most scores remembered per scorer (a repeated genome is not scored again).
SCORE_MEMO_SIZE = 100_000


def _check_task_mapping(value: Any, where: str) -> None:
    if not isinstance(value.get("name"), str):
        raise ConfigError(f"{where}: must be a task mapping with a name (a dataset task: digits, "
                          f"idx, npz, image_folder, cifar), got {value!r:.80}")


def _data_options(section: str) -> tuple[Option, ...]:
    """The options saying what the proxy is computed on (the same in both sections)."""
    return (
        Option("batch_size", 64, "images in the proxy's batch (a fixed stratified draw of "
               "distinct training images)", low=2),
        Option("batch_seed", 0, "which images form the batch", low=0),
        Option("task", None, "the dataset task whose training images are scored on (null: the "
               "campaign's task); e.g. {name: digits} for a tabular campaign", kind=dict,
               validator=_check_task_mapping),
        Option("device", "cpu", f"where the {section} scores networks (in the campaign "
               "process)", kind=str),
    )


def _requires_proxy(section: str, schema_defaults: dict[str, Any]) -> Any:
    def check(options: dict[str, Any], label: str) -> None:
        if options["proxy"] is None:
            changed = sorted(k for k, v in options.items() if v != schema_defaults[k])
            if changed:
                raise ConfigError(f"{label}: {section}.proxy: missing; {section}.{changed[0]} "
                                  f"does nothing without a proxy (one of "
                                  f"{', '.join(SCREEN_PROXIES)})")
    return check


def _schema(section: str, *options: Option) -> OptionSchema:
    plain = OptionSchema(*options)
    return OptionSchema(*options, check=_requires_proxy(section, plain.defaults()))


#: The ``prescreen:`` section.
PRESCREEN_OPTIONS = _schema(
    "prescreen",
    Option("proxy", None, "the zero-cost proxy that ranks proposals (null: no pre-screen)",
           kind=str, choices=SCREEN_PROXIES),
    Option("keep", 0.25, "share of the proposals trained: ask for n / keep, keep the best n",
           low=0, low_open=True, high=1),
    *_data_options("prescreen"),
)
#: The ``warm_start:`` section.
WARM_START_OPTIONS = _schema(
    "warm_start",
    Option("proxy", None, "the zero-cost proxy that picks each random genome (null: no warm "
           "start)", kind=str, choices=SCREEN_PROXIES),
    Option("sample", 4, "random genomes drawn for each random proposal; the best is kept",
           low=2, high=MAX_POPULATION),
    *_data_options("warm_start"),
)


class ProxyScorer:
    """Scores genomes with one zero-cost proxy on one fixed batch of a dataset task.

    Args:
        proxy: one of :data:`SCREEN_PROXIES`.
        seed: mixed with each genome's canonical hash to seed its initial weights.
        batch_size: images in the batch.
        batch_seed: which images.
        task: the dataset task config to take the images from (None: the campaign's).
        device: the torch device networks are scored on.
        section: the config section, for messages (``prescreen`` or ``warm_start``).
    """

    def __init__(self, proxy: str, seed: int, *, batch_size: int = 64, batch_seed: int = 0,
                 task: dict[str, Any] | None = None, device: str = "cpu",
                 section: str = "prescreen") -> None:
        if proxy not in SCREEN_PROXIES:
            raise ConfigError(f"{section}.proxy: must be one of {', '.join(SCREEN_PROXIES)}, "
                              f"got {proxy!r}")
        self.proxy = proxy
        self.seed = int(seed)
        self.batch_size = batch_size
        self.batch_seed = batch_seed
        self.task_config = task
        self.device = device
        self.section = section
        self._data: Any = None  # the ProxyTask holding the batch, once bound
        self._tensors: tuple[Any, Any] | None = None
        self._memo: dict[str, float] = {}
        self.scored = 0  # networks scored (memo hits excluded)
        self.seconds = 0.0

    def bind(self, task_config: dict[str, Any], space: Any) -> None:
        """Build the dataset task (the section's ``task``, else ``task_config``) and draw the
        batch.

        Raises:
            ConfigError: naming ``<section>.task`` when it is no dataset task.
        """
        from evonas.tasks import TaskError, build_task
        from evonas.tasks.classification import ClassificationTask
        from evonas.tasks.proxy import ProxyTask

        field = f"{self.section}.task" if self.task_config is not None else "task"
        try:
            task: Any = build_task(self.task_config or task_config, space)
        except TaskError as exc:
            raise ConfigError(f"{self.section}.task: {exc}") from None
        while not isinstance(task, ClassificationTask) and hasattr(task, "inner"):
            task = task.inner  # a wrapper task (proxy, faulty, simulated): its dataset
        if not isinstance(task, ClassificationTask):
            raise ConfigError(f"{self.section}.proxy: needs a dataset task (digits, idx, npz, "
                              f"image_folder, cifar) to take images from; {field} is "
                              f"{getattr(task, 'name', type(task).__name__)!r} (name one with "
                              f"{self.section}.task)")
        proxies = [self.proxy] if self.proxy in PROXY_NAMES else ["synflow"]
        try:
            self._data = ProxyTask(task, proxies, self.proxy, self.batch_size, self.batch_seed)
        except TaskError as exc:  # task.batch_size: ... in the proxy task's words
            text = str(exc)
            raise ConfigError(f"{self.section}.{text[5:]}" if text.startswith("task.")
                              else f"{self.section}: {text}") from None
        self._tensors = None
        import evonas.compiler  # noqa: F401 (imported here, the scores' seconds exclude it)
        import evonas.proxies.measures  # noqa: F401

    def seed_of(self, genome: Genome) -> int:
        """The seed of ``genome``'s initial weights: a pure function of it and :attr:`seed`."""
        digest = hashlib.sha256(f"{self.seed}:{genome.canonical_hash()}".encode()).digest()
        return int.from_bytes(digest[:4], "little")

    def score(self, genome: Genome) -> float:
        """The proxy's value for ``genome`` (``-inf`` when it is not finite or fails).

        Raises:
            RuntimeError: before :meth:`bind`.
        """
        key = genome.canonical_hash()
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        if self._data is None:
            raise RuntimeError(f"{self.section}: bind() must come before score() (the campaign "
                               "binds the task first)")
        start = time.perf_counter()
        value = self._compute(genome)
        self.seconds += time.perf_counter() - start
        self.scored += 1
        if len(self._memo) >= SCORE_MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = value
        return value

    def _compute(self, genome: Genome) -> float:
        import torch

        from evonas.compiler import compile_genome
        from evonas.evaluation.threads import torch_threads
        from evonas.proxies.measures import compute_proxies

        data = self._data
        dev = torch.device(self.device)
        if self._tensors is None:
            self._tensors = (torch.from_numpy(data.batch_x).to(dev),
                             torch.from_numpy(data.batch_y).to(dev))
        x, y = self._tensors
        fork = [dev.index or 0] if dev.type == "cuda" else []
        try:
            with torch_threads(1), torch.random.fork_rng(devices=fork):
                torch.manual_seed(self.seed_of(genome))
                model = compile_genome(genome, data.space, data.input_shape, data.num_classes)
                value = compute_proxies(model.to(dev), x, y, [self.proxy])[self.proxy]
        except Exception:  # noqa: BLE001 (a network that cannot be scored ranks last)
            return -math.inf
        value = float(value)
        return value if math.isfinite(value) else -math.inf


@dataclass
class _Screened:
    """A candidate being screened: what the inner strategy returned, what may be kept instead
    (a warm-started genome), its score and when it came."""

    original: Candidate
    candidate: Candidate
    score: float
    order: int


def _json_score(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


class Prescreened(Strategy):
    """A strategy whose proposals are screened by zero-cost proxies (see the module docstring).

    Args:
        inner: the strategy that proposes.
        rng: the wrapper's own generator (warm-start draws; the scorers' seeds).
        prescreen: the proxy ranking every proposal (a name or a :class:`ProxyScorer`), or None.
        keep: the share of proposals kept, in (0, 1].
        warm_start: the proxy picking each random proposal (a name or a scorer), or None.
        sample: random genomes drawn for each random proposal (at least 2).

    Raises:
        ConfigError: naming ``prescreen.*`` or ``warm_start.*`` for a bad value or a strategy
            that cannot be screened.
    """

    def __init__(self, inner: Strategy, rng: np.random.Generator, *,
                 prescreen: str | ProxyScorer | None = None, keep: float = 0.25,
                 warm_start: str | ProxyScorer | None = None, sample: int = 4) -> None:
        super().__init__(inner.space, rng)
        if prescreen is None and warm_start is None:
            raise ConfigError("prescreen.proxy: give a proxy to pre-screen or to warm-start with")
        if not (isinstance(keep, int | float) and not isinstance(keep, bool) and 0 < keep <= 1):
            raise ConfigError(f"prescreen.keep: must be more than 0 and at most 1, got {keep!r}")
        if not (isinstance(sample, int) and not isinstance(sample, bool) and sample >= 2):
            raise ConfigError(f"warm_start.sample: must be an integer >= 2, got {sample!r}")
        check_screenable(inner, prescreen is not None, warm_start is not None)
        self.inner = inner
        self.name = inner.name
        self.keep = float(keep)
        self.sample = sample
        self.prescreen = self._scorer(prescreen, "prescreen")
        self.warm_start = self._scorer(warm_start, "warm_start")
        self.screened = 0  # candidates the pre-screen scored
        self.discarded = 0  # of them, handed back to the inner strategy
        self.warm_started = 0  # random proposals warm-started
        self.warm_replaced = 0  # of them, replaced by another random genome

    def _scorer(self, spec: str | ProxyScorer | None, section: str) -> ProxyScorer | None:
        if spec is None or isinstance(spec, ProxyScorer):
            return spec
        return ProxyScorer(spec, int(self.rng.integers(2**32)), section=section)

    # ----------------------------------------------------------------- forwarding
    @property
    def asynchronous(self) -> bool:  # the campaign sets it on the wrapper: the inner one acts
        return self.inner.asynchronous

    @asynchronous.setter
    def asynchronous(self, value: bool) -> None:
        self.inner.asynchronous = value

    @property
    def done(self) -> bool:
        return self.inner.done

    def bind_known(self, known: Callable[[Genome], bool]) -> None:
        super().bind_known(known)
        self.inner.bind_known(known)

    def bind_task(self, task_config: dict[str, Any]) -> None:
        """Bind the inner strategy, then build the scorers' dataset task and batch."""
        self.inner.bind_task(task_config)
        for scorer in (self.prescreen, self.warm_start):
            if scorer is not None:
                scorer.bind(task_config, self.space)

    def tell(self, results: list[Evaluated]) -> None:
        self.inner.tell(results)

    def discard(self, candidates: list[Candidate]) -> None:
        """Hand candidates this wrapper returned back to the inner strategy (a wrapper of the
        wrapper screened them out)."""
        self.inner.discard(candidates)

    def summary(self) -> dict[str, Any]:
        out = dict(self.inner.summary())
        if self.prescreen is not None:
            out["screened"] = self.screened
        if self.warm_start is not None:
            out["warm_started"] = self.warm_started
        return out

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(inner=self.inner.state_dict(), screened=self.screened,
                     discarded=self.discarded, warm_started=self.warm_started,
                     warm_replaced=self.warm_replaced,
                     seeds={s.section: s.seed for s in (self.prescreen, self.warm_start)
                            if s is not None})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.inner.load_state_dict(state["inner"])
        self.screened, self.discarded = state["screened"], state["discarded"]
        self.warm_started, self.warm_replaced = state["warm_started"], state["warm_replaced"]
        for scorer in (self.prescreen, self.warm_start):
            if scorer is not None:
                scorer.seed = int(state["seeds"][scorer.section])

    # ----------------------------------------------------------------- proposing
    def ask(self, n: int) -> list[Candidate]:
        if n <= 0:
            return []
        if self.prescreen is None:
            return [s.candidate for s in self._ask_inner(n)]
        scorer = self.prescreen
        want = max(n, math.ceil(n / self.keep - 1e-9))
        seconds_before = scorer.seconds
        pool: list[_Screened] = []
        lost_search = 0.0  # search seconds of the inner strategy's discarded proposals
        seen = 0
        while seen < want:
            got = self._ask_inner(want - seen)
            if not got:
                break
            for item in got:
                item.score = scorer.score(item.candidate.genome)
                item.order = seen
                seen += 1
            pool.extend(got)
            if len(pool) > n:
                pool.sort(key=lambda s: (-s.score, s.order))
                losers, pool = pool[n:], pool[:n]
                lost_search += sum(search_seconds(s.candidate.operator) for s in losers)
                self.discarded += len(losers)
                self.inner.discard([s.original for s in losers])
        self.screened += seen
        if not pool:
            return []
        ranked = sorted(pool, key=lambda s: (-s.score, s.order))
        share = (scorer.seconds - seconds_before + lost_search) / len(pool)
        out = []
        for rank, item in enumerate(ranked, start=1):
            record = dict(item.candidate.operator)
            record["prescreen"] = {"proxy": scorer.proxy, "score": _json_score(item.score),
                                   "rank": rank, "of": seen}
            record["search_seconds"] = round(search_seconds(record) + share, 6)
            item.candidate = Candidate(item.candidate.genome, item.candidate.parents, record,
                                       item.candidate.generation)
        for item in sorted(pool, key=lambda s: s.order):  # in the order they were proposed
            out.append(item.candidate)
        return out

    def _ask_inner(self, n: int) -> list[_Screened]:
        """``inner.ask(n)``, each random proposal warm-started when a warm start is set."""
        got = self.inner.ask(n)
        scorer = self.warm_start
        out = []
        for candidate in got:
            if scorer is None or candidate.operator.get("op") != "random":
                out.append(_Screened(candidate, candidate, -math.inf, 0))
                continue
            before = scorer.seconds
            genomes = [candidate.genome] + [self.space.sample(self.rng)
                                            for _ in range(self.sample - 1)]
            scores = [scorer.score(g) for g in genomes]
            best = max(range(len(genomes)), key=lambda i: (scores[i], -i))
            record = dict(candidate.operator)
            record["warm_start"] = {"proxy": scorer.proxy, "score": _json_score(scores[best]),
                                    "drawn": best, "of": len(genomes)}
            record["search_seconds"] = round(search_seconds(record) + scorer.seconds - before, 6)
            self.warm_started += 1
            self.warm_replaced += best != 0
            kept = Candidate(genomes[best], candidate.parents, record, candidate.generation)
            out.append(_Screened(candidate, kept, -math.inf, 0))
        return out


def check_screenable(strategy: Strategy, prescreen: bool, warm_start: bool) -> None:
    """Refuse a strategy the pre-screen or the warm start cannot wrap correctly.

    Raises:
        ConfigError: naming ``prescreen.proxy`` or ``warm_start.proxy`` and why.
    """
    genome_kind = getattr(strategy.space, "genome_kind", None)
    for on, section in ((prescreen, "prescreen"), (warm_start, "warm_start")):
        if on and genome_kind != "dag":
            raise ConfigError(f"{section}.proxy: zero-cost proxies score DAG genomes (spaces "
                              f"nb201, free), not the {strategy.space.name!r} space's")
    name = strategy.name
    if prescreen and strategy.prescreen_refusal:
        raise ConfigError(f"prescreen.proxy: the {name} strategy cannot be pre-screened: it "
                          f"{strategy.prescreen_refusal}; use warm_start, or another strategy")
    if warm_start and strategy.warm_start_refusal:
        raise ConfigError(f"warm_start.proxy: the {name} strategy cannot be warm-started: it "
                          f"{strategy.warm_start_refusal}")


def wrap_strategy(strategy: Strategy, config: Config) -> Strategy:
    """``strategy`` wrapped in :class:`Prescreened` when the config sets ``prescreen.proxy`` or
    ``warm_start.proxy``; else ``strategy`` itself (also when it is wrapped already).

    The wrapper's generator comes from the campaign seed (a stream of its own), so the inner
    strategy draws exactly what it would unwrapped.

    Raises:
        ConfigError: naming the section and field for a strategy or space that cannot be
            screened.
    """
    if isinstance(strategy, Prescreened):
        return strategy
    pre = config.data.get("prescreen") or {}
    warm = config.data.get("warm_start") or {}
    if pre.get("proxy") is None and warm.get("proxy") is None:
        return strategy
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, PRESCREEN_STREAM]))

    def scorer(options: dict[str, Any], section: str) -> ProxyScorer | None:
        if options.get("proxy") is None:
            return None
        return ProxyScorer(options["proxy"], int(rng.integers(2**32)),
                           batch_size=options.get("batch_size", 64),
                           batch_seed=options.get("batch_seed", 0), task=options.get("task"),
                           device=options.get("device", "cpu"), section=section)

    prescreen, warm_start = scorer(pre, "prescreen"), scorer(warm, "warm_start")
    return Prescreened(strategy, rng, prescreen=prescreen, keep=pre.get("keep", 0.25),
                       warm_start=warm_start, sample=warm.get("sample", 4))
