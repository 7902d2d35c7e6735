"""One-shot weight sharing on the NB201 cell space: what SPOS and ENAS have in common.

Both strategies train **one** weight-sharing supernet (:class:`~evonas.compiler.supernet.Supernet`,
the DARTS supernet and op library) in the campaign process, on the task's train split, one
**single path** per step (on each cell edge only the op the sampled cell names:
:meth:`~evonas.compiler.supernet.Supernet.forward_path`); they differ in how paths are sampled and
how the candidates are picked afterwards (:mod:`evonas.strategies.spos`,
:mod:`evonas.strategies.enas`). A cell's **supernet accuracy** is its validation accuracy with the
weights it inherits from the supernet, after its batch-norm statistics are recomputed on
``bn_images`` training images (the supernet's running statistics mix every path; SPOS'
"BN recalibration"). It is cheap: no training, a few forward passes.

The search runs in the first :meth:`~OneShotStrategy.ask`, timed as a whole: supernet training
plus every supernet accuracy computed. Its seconds go in the **first** candidate's operator
record as ``search_seconds``, so the campaign, its budget and every report count them as
device-seconds. The search ends with a ranking; the strategy then proposes its ``top_k`` best
cells in rank order, which the campaign trains from scratch with the task's recipe (those are
the journaled evaluations). It is done after them. Records::

    {"op": "spos", "rank": 0, "supernet_accuracy": 0.93, "epoch": 30, "search_seconds": 41.2,
     "supernet_seconds": 35.0, "scoring_seconds": 6.2, "scored": 200,
     "history": [{"epoch": 1, "lr": 0.05, "train_loss": 2.1, "train_accuracy": 0.31}, ...]}
    {"op": "spos", "rank": 1, "supernet_accuracy": 0.92}

State and resume: the initial weights are seeded from the strategy's ``numpy.random.Generator``
in :meth:`~OneShotStrategy.bind_task`, and every batch order and sampled path is drawn from it,
with ``threads`` torch threads (one by default, so results do not depend on the core count). The
search happens inside one ask, so a snapshot holds either the state before it (the generator:
a resumed campaign rebuilds the same supernet and repeats the same search) or the finished
ranking (JSON: genomes, scores and records still to hand out); the supernet's weights are not
needed after the search and are not kept in the state.
"""

from __future__ import annotations

import abc
import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from evonas.compiler.supernet import NB201_EDGES, Supernet, genome_path
from evonas.errors import ConfigError
from evonas.options import Option
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, dag_genome
from evonas.strategies.supernet_strategy import SupernetStrategy
from genomes import DAGGenome, Genome, NB201Space, SearchSpace, genome_from_dict


def check_space(space: SearchSpace, name: str, label: str | None) -> None:
    """Refuse a space other than ``nb201`` for strategy ``name``.

    Raises:
        ConfigError: naming ``strategy.name``.
    """
    prefix = f"{label}: " if label else ""
    if not isinstance(space, NB201Space):
        raise ConfigError(f"{prefix}strategy.name: {name} trains a weight-sharing supernet over "
                          f"the nb201 cell space (space.name: nb201), not {space.name!r}")


def check_options(config: dict[str, Any], label: str | None) -> None:
    """Checks of the shared options beyond single-field ranges.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    prefix = f"{label}: " if label else ""
    if config.get("lr_min", 0.001) > config.get("lr", 0.05):
        raise ConfigError(f"{prefix}strategy.lr_min: must not exceed strategy.lr "
                          f"({config.get('lr', 0.05)}), got {config['lr_min']}")
    if config.get("device", "cpu") != "auto":
        try:
            torch.device(config.get("device", "cpu"))
        except RuntimeError:
            raise ConfigError(f"{prefix}strategy.device: unknown torch device "
                              f"{config['device']!r} (use cpu, cuda, cuda:N or auto)") from None


def supernet_options(epochs: int) -> tuple[Option, ...]:
    """The options of the supernet's training and scoring (both strategies take them)."""
    return (
        Option("epochs", epochs, "supernet training epochs over the task's train split", low=1,
               high=100_000),
        Option("batch_size", 64, "supernet training batch size", low=2, high=65536),
        shared.lr(0.05, "the supernet weights' SGD learning rate (cosine-annealed)"),
        Option("lr_min", 0.001, "the weights' learning rate at the end of the schedule", low=0),
        Option("momentum", 0.9, "SGD momentum of the weights", low=0, high=1),
        Option("weight_decay", 0.0003, "weight decay of the weights", low=0),
        Option("grad_clip", 5.0, "gradient-norm clip of the weights", low=0),
        Option("bn_images", 256, "training images that recompute a cell's batch-norm statistics "
               "before its supernet accuracy is taken (0: each validation batch's own)", low=0),
        Option("top_k", 10, "the best cells of the search proposed for training from scratch",
               low=1, high=100_000),
        Option("device", "cpu", "torch device of the supernet (cpu, cuda, cuda:N or auto)"),
        Option("threads", 1, "torch threads of the supernet's training", low=1, high=1024),
    )


def _batch_norms(net: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]


@contextlib.contextmanager
def _bn_momentum(norms: Sequence[nn.BatchNorm2d], momentum: float | None) -> Iterator[None]:
    """Run with every batch norm's momentum set to ``momentum``, then restore it."""
    before = [m.momentum for m in norms]
    for m in norms:
        m.momentum = momentum
    try:
        yield
    finally:
        for m, value in zip(norms, before, strict=True):
            m.momentum = value


class OneShotStrategy(SupernetStrategy):
    """Base class of the weight-sharing strategies (see the module docstring).

    Subclasses implement :meth:`_search`, which trains the supernet (with :meth:`_train_epoch`)
    and returns the ranking.

    Args:
        space: the ``nb201`` space; the supernet uses its ``stem_channels`` and
            ``cells_per_stage``.
        rng: the strategy's generator: initial weights, batch orders, sampled paths.
        epochs: supernet training epochs.
        batch_size: batch size of the supernet's training.
        lr: initial SGD learning rate of the weights (cosine-annealed over all steps).
        lr_min: the learning rate at the end of the annealing.
        momentum: SGD momentum.
        weight_decay: L2 penalty of the weights.
        grad_clip: the weights' gradient norm is clipped to this.
        bn_images: training images whose forward passes recompute a cell's batch-norm
            statistics before its supernet accuracy is taken (0: every validation batch is
            normalised with its own statistics).
        top_k: how many of the best cells are proposed.
        device: torch device of the supernet (``auto``: the first GPU when there is one).
        threads: torch intra-op threads while searching.
    """

    prescreen_refusal = "proposes its supernet ranking in order (a screened-out cell is lost)"
    warm_start_refusal = "proposes no random genomes to warm-start"

    #: The ``op`` of the candidates' operator records.
    record_op: ClassVar[str] = ""
    #: Images per forward pass when scoring (validation and batch-norm passes).
    score_batch: ClassVar[int] = 512

    @classmethod
    def check_space(cls, space: SearchSpace, label: str) -> None:
        check_space(space, cls.name, label)

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, epochs: int,
                 batch_size: int = 64, lr: float = 0.05, lr_min: float = 0.001,
                 momentum: float = 0.9, weight_decay: float = 0.0003, grad_clip: float = 5.0,
                 bn_images: int = 256, top_k: int = 10, device: str = "cpu",
                 threads: int = 1) -> None:
        super().__init__(space, rng)
        check_space(space, self.name, None)
        check_options({"lr": lr, "lr_min": lr_min, "device": device}, None)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr, self.lr_min = lr, lr_min
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.bn_images = bn_images
        self.top_k = top_k
        self.device = self.resolve_device(device)
        self.threads = threads
        self.net: Supernet | None = None
        self._data: tuple[torch.Tensor, ...] | None = None
        self._bn_x: torch.Tensor | None = None
        self.epoch = 0  # supernet epochs trained
        self.steps = 0  # supernet weight steps taken
        self.scored = 0  # supernet accuracies taken
        self._supernet_seconds = 0.0  # of the search: weight training only
        #: After the search: the records still to hand out, best first (genome + record).
        self._queue: list[dict[str, Any]] | None = None
        self.handed = 0

    # ----------------------------------------------------------------- task
    def bind_task(self, task_config: dict[str, Any]) -> None:
        """Build the task in this process; set up the supernet, its data and its optimizer."""
        self._build_supernet(task_config)
        assert self.net is not None
        self._norms = _batch_norms(self.net)
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=self.lr,
                                         momentum=self.momentum,
                                         weight_decay=self.weight_decay)

    # ----------------------------------------------------------------- contract
    @property
    def searched(self) -> bool:
        """True once the search has run (its ranking is being handed out)."""
        return self._queue is not None

    @property
    def done(self) -> bool:
        return self._queue is not None and not self._queue

    def ask(self, n: int) -> list[Candidate]:
        if n < 1 or self.done:
            return []
        if self._queue is None:
            self._queue = self._run_search()
        out: list[Candidate] = []
        while self._queue and len(out) < n:
            entry = self._queue.pop(0)
            out.append(Candidate(genome_from_dict(entry["genome"]), (), entry["record"]))
            self.handed += 1
        return out

    def tell(self, results: list[Evaluated]) -> None:
        """Nothing to learn: the ranking is fixed by the search."""
        return None

    def _run_search(self) -> list[dict[str, Any]]:
        if self.net is None:
            raise RuntimeError(f"{self.name}: bind_task() must be called before ask() (the "
                               "campaign does it)")
        start = time.perf_counter()
        with self._torch():
            ranked, record = self._search()
            self._sync()
        seconds = time.perf_counter() - start
        record = {"epoch": self.epoch, "search_seconds": round(seconds, 4),
                  "supernet_seconds": round(self._supernet_seconds, 4),
                  "scoring_seconds": round(seconds - self._supernet_seconds, 4),
                  "scored": self.scored, **record}
        queue = []
        for rank, (genome, score) in enumerate(ranked[:self.top_k]):
            entry: dict[str, Any] = {"op": self.record_op, "rank": rank,
                                     "supernet_accuracy": round(score, 6)}
            if rank == 0:
                entry.update(record)
            queue.append({"genome": genome.to_dict(), "record": entry})
        return queue

    @abc.abstractmethod
    def _search(self) -> tuple[list[tuple[DAGGenome, float]], dict[str, Any]]:
        """Train the supernet and rank cells.

        Returns:
            ``(ranking, record)``: distinct cells with their supernet accuracy, best first, and
            what goes in the first candidate's record (``history``...).
        """

    # ----------------------------------------------------------------- supernet
    @property
    def steps_per_epoch(self) -> int:
        """Weight steps per epoch (batches of at least 2 images: batch norm needs them)."""
        assert self._data is not None
        n = len(self._data[0])
        full, rest = divmod(n, self.batch_size)
        return full + (rest >= 2)

    def _lr(self) -> float:
        """The cosine-annealed learning rate of the next step."""
        total = max(1, self.epochs * self.steps_per_epoch)
        return self.lr_min + 0.5 * (self.lr - self.lr_min) * \
            (1 + math.cos(math.pi * min(self.steps, total) / total))

    def _train_epoch(self, sample_path: Any) -> dict[str, Any]:
        """One epoch over the train split, one path per batch from ``sample_path()``.

        Returns:
            The epoch's log: ``epoch``, ``lr`` (at its start), ``train_loss``,
            ``train_accuracy`` (each batch scored on the path it trained).
        """
        assert self.net is not None and self._data is not None
        x_train, y_train = self._data[:2]
        start = time.perf_counter()
        order = torch.from_numpy(self.rng.permutation(len(x_train))).to(x_train.device)
        loss_fn = nn.CrossEntropyLoss()
        first_lr = self._lr()
        totals = torch.zeros(2, device=x_train.device)
        seen = 0
        self.net.train()
        for begin in range(0, len(x_train), self.batch_size):
            batch = order[begin:begin + self.batch_size]
            if len(batch) < 2:  # batch norm cannot train on one sample
                continue
            path = sample_path()
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr()
            xb, yb = x_train[batch], y_train[batch]
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.net.forward_path(xb, path)
            loss = loss_fn(logits, yb)
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
            self.optimizer.step()
            self.steps += 1
            with torch.no_grad():
                totals += torch.stack([loss.detach() * len(yb),
                                       (logits.argmax(1) == yb).sum().float()])
            seen += len(yb)
        self.epoch += 1
        self._sync()
        self._supernet_seconds += time.perf_counter() - start
        loss_sum, correct = totals.tolist()
        seen = max(seen, 1)
        return {"epoch": self.epoch, "lr": round(first_lr, 6),
                "train_loss": round(loss_sum / seen, 5) if math.isfinite(loss_sum) else None,
                "train_accuracy": round(correct / seen, 5)}

    def uniform_path(self) -> tuple[int, ...]:
        """A path drawn uniformly: every edge's op independently (a uniform cell)."""
        assert self.net is not None
        return tuple(int(i) for i in self.rng.integers(len(self.net.ops),
                                                       size=len(NB201_EDGES)))

    def path(self, genome: Genome) -> tuple[int, ...]:
        """The single path of a cell of this space (op indices per edge)."""
        assert self.net is not None
        return genome_path(dag_genome(genome, self.name), self.net.ops)

    def supernet_accuracy(self, genome: Genome) -> float:
        """Validation accuracy of ``genome`` with the supernet's weights (no training).

        With ``bn_images``, the batch-norm statistics are first recomputed (cumulative averages)
        on the fixed set of training images chosen at the search's start; otherwise each
        validation batch is normalised with its own statistics. Running statistics are left as
        they are in the second case; recomputed ones replace them in the first (training uses
        batch statistics, so neither changes what the supernet learns).
        """
        assert self.net is not None and self._data is not None
        path = self.path(genome)
        x_val, y_val = self._data[2:]
        net = self.net
        self.scored += 1
        with torch.no_grad():
            if self.bn_images > 0:
                if self._bn_x is None:
                    chosen = self.rng.permutation(len(self._data[0]))[:self.bn_images]
                    self._bn_x = self._data[0][torch.from_numpy(chosen).to(x_val.device)]
                for m in self._norms:
                    m.reset_running_stats()
                net.train()
                with _bn_momentum(self._norms, None):
                    for begin in range(0, len(self._bn_x), self.score_batch):
                        chunk = self._bn_x[begin:begin + self.score_batch]
                        if len(chunk) >= 2:
                            net.forward_path(chunk, path)
                net.eval()
                correct = sum(int((net.forward_path(x_val[b:b + self.score_batch], path)
                                   .argmax(1) == y_val[b:b + self.score_batch]).sum())
                              for b in range(0, len(x_val), self.score_batch))
                net.train()
            else:
                correct = 0
                for b in range(0, len(x_val), self.score_batch):
                    correct += self._batch_correct(path, x_val[b:b + self.score_batch],
                                                   y_val[b:b + self.score_batch])
        return correct / max(1, len(x_val))

    def _batch_correct(self, path: Sequence[int], x: torch.Tensor, y: torch.Tensor) -> int:
        """Correct predictions of ``path`` on one batch normalised with its own statistics
        (running statistics untouched: momentum 0)."""
        assert self.net is not None
        with torch.no_grad(), _bn_momentum(self._norms, 0.0):
            self.net.train()
            return int((self.net.forward_path(x, path).argmax(1) == y).sum())

    def rank(self, genomes: Sequence[DAGGenome],
             scores: dict[str, float] | None = None) -> list[tuple[DAGGenome, float]]:
        """Distinct cells (by canonical hash, first kept) with their supernet accuracy, best
        first (ties in the given order); ``scores`` holds accuracies already taken, by hash."""
        scores = {} if scores is None else scores
        seen: dict[str, DAGGenome] = {}
        for genome in genomes:
            key = genome.canonical_hash()
            if key not in seen:
                seen[key] = genome
                if key not in scores:
                    scores[key] = self.supernet_accuracy(genome)
        return sorted(((g, scores[k]) for k, g in seen.items()), key=lambda gs: -gs[1])

    # ----------------------------------------------------------------- helpers
    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self.device)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(epoch=self.epoch, steps=self.steps, handed=self.handed, queue=self._queue)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epoch = state["epoch"]
        self.steps = state["steps"]
        self.handed = state["handed"]
        queue = state["queue"]
        self._queue = None if queue is None else [dict(e) for e in queue]

    def summary(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "proposed": self.handed}
