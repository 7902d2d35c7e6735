"""BANANAS, White et al. 2021, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search".

Bayesian optimisation with a neural predictor:

1. The first ``initial`` candidates are random genomes (``space.sample``).
2. After that, every ``ask`` fits an **ensemble** of ``members`` small MLPs on the results told so
   far (features: the genome's encoding, below; target: fitness, standardised), each member from
   its own random initialisation. The ensemble's mean is the prediction, the spread of its members
   (standard deviation) the uncertainty.
3. Candidates: ``mutations`` mutations (``space.mutate``) of each of the ``parents`` best genomes
   told so far, plus ``random_candidates`` random genomes; every candidate whose canonical hash was
   asked before (or is already a candidate) is left out, so nothing is proposed twice.
4. The acquisition function ranks them: independent Thompson sampling (``its``, the paper's
   choice: one draw from ``N(mean, std)`` per candidate) or an upper confidence bound (``ucb``:
   ``mean + ucb_beta * std``); ``ask(n)`` returns the ``n`` best, so several workers get several
   distinct proposals from one fit.

Encodings (``encoding``):

* ``path`` (the paper's): for a space of fixed topology (``nb201``, every edge present), the
  one-hot vector of the op sequences along the input-to-output paths of the cell. For NB201's
  4-node cell the paths have 1, 2 or 3 edges (``0->3``; ``0->1->3`` and ``0->2->3``;
  ``0->1->2->3``), so the possible op sequences number ``5 + 5^2 + 5^3 = 155``
  (:func:`path_encoding`). Spaces whose topology varies fall back to ``adjacency``.
* ``adjacency``: the one-hot of every decision of the space's own encoding
  (``space.encoding().encode(genome)``, see :mod:`genomes.encoding`): ops per edge (and, for the
  free space, which nodes and edges exist and their widths). Any space with an encoding works.

Asynchronous: ``ask`` proposes from what has been told so far and never waits; candidates still in
flight count as asked, so they are not proposed again. A failed evaluation is trained on as the
lowest fitness told so far.

Cost: the fit and the acquisition are timed; each proposal's operator record carries its share as
``search_seconds`` (the campaign counts it as device-seconds, like DARTS' supernet training). The
fit uses at most ``max_train`` results (500: the best half of them and an evenly spaced sample of
the rest when more were told) and ``epochs`` full-batch Adam steps, and the first layer sums the
weight rows of the few active inputs instead of multiplying the one-hot zeros, so a proposal costs
about 0.2 s of one core with 1,000 results told (``bench/bananas_cost.py``).

Randomness and state: everything comes from the strategy's ``numpy.random.Generator``; each fit
seeds a ``torch.Generator`` for the members' initial weights from it. The state is JSON: the RNG,
the told history (genome, fitness, id), the hashes asked and the seed and size of the last fit;
loading it refits that ensemble (deterministic on one torch thread), so a resumed run proposes
exactly what the uninterrupted one would.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np
import torch

from evonas.errors import ConfigError
from evonas.evaluation.threads import torch_threads
from evonas.options import Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, Strategy
from genomes import DAGGenome, Genome, SearchSpace, as_search_space, genome_from_dict
from operators import OperatorNotApplicable

__all__ = ["BANANAS", "Ensemble", "Featurizer", "active_features", "adjacency_encoding",
           "featurizer", "fit_ensemble", "path_encoding", "path_features", "path_index", "paths"]

#: Most features a path encoding may have before :func:`featurizer` falls back to adjacency.
MAX_PATH_FEATURES = 20_000
#: Attempts at a new random genome before a repeat is accepted (the space is nearly exhausted).
_RANDOM_TRIES = 100

#: Genome -> its feature vector (float32).
Featurizer = Callable[[Genome], np.ndarray]


# --------------------------------------------------------------------------- encodings
def paths(num_nodes: int) -> list[tuple[int, ...]]:
    """Every input-to-output path of the complete DAG on ``num_nodes`` nodes, as node sequences
    (``0 -> ... -> num_nodes-1``, increasing), shortest first.

    For NB201's 4 nodes: ``(0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3)``.
    """
    last = num_nodes - 1
    inner = range(1, last)
    out: list[tuple[int, ...]] = []
    for k in range(num_nodes - 1):
        out.extend((0, *middle, last) for middle in itertools.combinations(inner, k))
    return out


def path_features(num_nodes: int, num_ops: int) -> int:
    """Length of the path encoding: the op sequences of 1 to ``num_nodes - 1`` edges,
    ``sum(num_ops ** L)`` (155 for NB201: 5 + 25 + 125)."""
    return sum(num_ops ** length for length in range(1, num_nodes))


def path_index(op_indices: tuple[int, ...], num_ops: int) -> int:
    """The feature of one op sequence: sequences of fewer edges come first, and within a length
    the first op is the least significant digit base ``num_ops``."""
    length = len(op_indices)
    offset = sum(num_ops ** k for k in range(1, length))
    return offset + sum(op * num_ops ** j for j, op in enumerate(op_indices))


def path_encoding(genome: DAGGenome, ops: tuple[str, ...]) -> np.ndarray:
    """The one-hot path encoding of a fixed-topology cell (every edge present).

    Args:
        genome: the cell.
        ops: the space's ops, in order (the digits of :func:`path_index`).

    Returns:
        A float32 vector of :func:`path_features` entries: 1 where some input-to-output path
        carries that op sequence.
    """
    index = {op: i for i, op in enumerate(ops)}
    edge_op = {(e.src, e.dst): index[e.op] for e in genome.edges}
    out = np.zeros(path_features(genome.num_nodes, len(ops)), dtype=np.float32)
    for path in paths(genome.num_nodes):
        sequence = tuple(edge_op[(a, b)] for a, b in itertools.pairwise(path))
        out[path_index(sequence, len(ops))] = 1.0
    return out


def adjacency_encoding(space: SearchSpace) -> Featurizer:
    """One-hot of every decision of ``space.encoding()`` (ops per edge, nodes, widths).

    Raises:
        TypeError: for a space without an encoding.
    """
    encoding = as_search_space(space).encoding()
    if encoding is None:
        raise TypeError(f"space: the bananas strategy needs a space with an encoding; the "
                        f"{space.name} space has none")
    sizes = [len(d.options) for d in encoding.decisions]
    offsets = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    total = int(sum(sizes))

    def encode(genome: Genome) -> np.ndarray:
        out = np.zeros(total, dtype=np.float32)
        out[offsets + np.asarray(encoding.encode(genome), dtype=np.int64)] = 1.0
        return out

    return encode


def featurizer(space: SearchSpace, kind: str = "path") -> tuple[Featurizer, str]:
    """The feature function for ``space`` and the name of the encoding it uses.

    ``path`` applies to DAG spaces of fixed topology (``nb201``) whose path encoding has at most
    :data:`MAX_PATH_FEATURES` entries; anything else gets ``adjacency``.
    """
    num_nodes = getattr(space, "num_nodes", None)
    ops = tuple(dict.fromkeys(getattr(space, "ops", ())))
    if (kind == "path" and getattr(space, "genome_kind", None) == "dag"
            and getattr(space, "fixed_topology", False) and isinstance(num_nodes, int)
            and ops and path_features(num_nodes, len(ops)) <= MAX_PATH_FEATURES):
        return (lambda genome: path_encoding(cast("DAGGenome", genome), ops)), "path"
    return adjacency_encoding(space), "adjacency"


# --------------------------------------------------------------------------- the predictor
def active_features(x: np.ndarray) -> torch.Tensor:
    """The indices of the ones in each row of the binary feature matrix ``x``, padded with
    ``x.shape[1]`` (an input whose weights stay zero) to the longest row: what
    :class:`Ensemble` reads.

    Raises:
        ValueError: when ``x`` holds anything but zeros and ones.
    """
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("features must be 0 or 1 (one-hot encodings)")
    rows, cols = np.nonzero(x)
    counts = np.bincount(rows, minlength=x.shape[0])
    width = max(int(counts.max(initial=0)), 1)
    out = np.full((x.shape[0], width), x.shape[1], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out[rows, np.arange(len(rows)) - starts[rows]] = cols
    return torch.from_numpy(out)


class Ensemble:
    """``members`` independent MLPs evaluated and trained as one batched network.

    Each member: ``inputs -> hidden (ReLU) x layers -> 1``. The inputs are one-hot encodings, a
    few ones among many zeros, so the first layer adds up the weight rows of the active inputs
    (:func:`active_features`) instead of multiplying by the zeros, for every member at once
    (their first-layer weights side by side, ``inputs x (members * hidden)``); the later layers
    are batched matrix products over a leading member axis. Every parameter lives in one flat
    tensor, so an Adam step is a handful of tensor operations, and the gradients are written out
    by hand: a step costs a few dozen small torch calls, not autograd's and the optimiser's
    bookkeeping, which dominate at this size.

    Args:
        members: ensemble size.
        inputs: feature count.
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        generator: the source of the initial weights (uniform in ``+-1/sqrt(fan_in)``, as
            :class:`torch.nn.Linear`).
    """

    def __init__(self, members: int, inputs: int, hidden: int, layers: int,
                 generator: torch.Generator) -> None:
        self.members, self.inputs, self.hidden = members, inputs, hidden
        shapes: list[tuple[int, ...]] = [(inputs + 1, members * hidden), (members * hidden,)]
        fan_ins = [inputs, inputs]
        sizes = [*([hidden] * layers), 1]
        for fan_in, fan_out in itertools.pairwise(sizes):
            shapes += [(members, fan_in, fan_out), (members, 1, fan_out)]
            fan_ins += [fan_in, fan_in]
        total = sum(math.prod(shape) for shape in shapes)
        self.flat = torch.empty(total)
        self.grad = torch.zeros(total)
        self.params: list[torch.Tensor] = []
        self.grads: list[torch.Tensor] = []
        offset = 0
        for shape, fan_in in zip(shapes, fan_ins, strict=True):
            size = math.prod(shape)
            param = self.flat[offset:offset + size].view(shape)
            param.copy_((torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(fan_in))
            self.params.append(param)
            self.grads.append(self.grad[offset:offset + size].view(shape))
            offset += size
        self.params[0][inputs].zero_()  # the padding input

    def __call__(self, active: torch.Tensor) -> torch.Tensor:
        """Predictions ``(members, rows)`` for the :func:`active_features` of the rows."""
        return self._forward(active)[-1].squeeze(-1)

    def _forward(self, active: torch.Tensor) -> list[torch.Tensor]:
        """The hidden activations ``(members, rows, hidden)`` of every layer, and the output."""
        rows = active.shape[0]
        first = torch.nn.functional.embedding_bag(active, self.params[0], mode="sum")
        first = first.add_(self.params[1]).relu_()
        h = first.view(rows, self.members, self.hidden).transpose(0, 1).contiguous()
        out = [h]
        last = len(self.params) - 2
        for i in range(2, len(self.params), 2):
            h = torch.baddbmm(self.params[i + 1], h, self.params[i])
            if i < last:
                h = h.relu_()
            out.append(h)
        return out

    def backward(self, active: torch.Tensor, targets: torch.Tensor) -> None:
        """Gradients of each member's mean absolute error on ``(active, targets)`` into
        ``grad``."""
        acts = self._forward(active)
        rows = active.shape[0]
        g = torch.sign(acts[-1].squeeze(-1) - targets).unsqueeze(-1) / rows
        for i in range(len(self.params) - 2, 0, -2):
            below = acts[i // 2 - 1]
            torch.bmm(below.transpose(1, 2), g, out=self.grads[i])
            torch.sum(g, dim=1, keepdim=True, out=self.grads[i + 1])
            g = torch.bmm(g, self.params[i].transpose(1, 2))
            g = torch.ops.aten.threshold_backward(g, below, 0.0)  # ReLU's gradient
        flat = g.transpose(0, 1).reshape(rows, self.members * self.hidden)
        torch.sum(flat, dim=0, out=self.grads[1])
        weights = self.grads[0]
        weights.zero_()
        for k in range(active.shape[1]):
            weights.index_add_(0, active[:, k], flat)
        weights[self.inputs].zero_()


def fit_ensemble(x: np.ndarray, y: np.ndarray, seed: int, *, members: int, hidden: int,
                 layers: int, epochs: int, lr: float) -> tuple[Ensemble, float, float]:
    """Train an ensemble on features ``x`` and targets ``y`` (full-batch Adam, mean absolute
    error on standardised targets, as the paper's predictor).

    Returns:
        The ensemble and the targets' mean and standard deviation (to undo the scaling).
    """
    mean = float(y.mean())
    std = float(y.std())
    std = std if std > 1e-12 else 1.0
    with torch.no_grad():
        net = Ensemble(members, x.shape[1], hidden, layers,
                       torch.Generator().manual_seed(seed))
        features = active_features(x)
        targets = torch.from_numpy(((y - mean) / std).astype(np.float32)).unsqueeze(0)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m = torch.zeros_like(net.flat)
        v = torch.zeros_like(net.flat)
        for step in range(1, epochs + 1):
            net.backward(features, targets)
            m.mul_(beta1).add_(net.grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(net.grad, net.grad, value=1 - beta2)
            denom = (v / (1 - beta2 ** step)).sqrt_().add_(eps)
            net.flat.addcdiv_(m, denom, value=-lr / (1 - beta1 ** step))
    return net, mean, std


# --------------------------------------------------------------------------- the strategy
class BANANAS(Strategy):
    """Bayesian optimisation with an ensemble of neural predictors (module docstring).

    Args:
        space: the search space (one with an encoding).
        rng: the strategy's random generator.
        initial: random genomes before the predictor is used.
        acquisition: ``its`` (independent Thompson sampling) or ``ucb``.
        ucb_beta: weight of the uncertainty in ``ucb``.
        encoding: ``path`` (falls back to ``adjacency`` where the topology varies) or
            ``adjacency``.
        members: MLPs in the ensemble.
        hidden: width of their hidden layers.
        layers: hidden layers per MLP.
        epochs: full-batch Adam steps per fit.
        lr: Adam's learning rate.
        max_train: most results a fit trains on.
        parents: best genomes mutated for candidates.
        mutations: mutations of each parent.
        random_candidates: random genomes among the candidates.
        mutation_weights: relative weights of the mutation operators by name.
    """

    name = "bananas"
    prescreen_refusal = "counts screened-out candidates in its initial design"
    options: ClassVar[OptionSchema] = OptionSchema(
        Option("initial", 10, "random genomes before the predictor is used", low=1,
               high=1_000_000),
        Option("acquisition", "its", "its: independent Thompson sampling per candidate; ucb: "
               "mean + ucb_beta * std", choices=("its", "ucb")),
        Option("ucb_beta", 1.0, "weight of the uncertainty in ucb", low=0),
        Option("encoding", "path", "path: the paper's path encoding (fixed-topology spaces; "
               "others fall back to adjacency); adjacency: one-hot of the space's decisions",
               choices=("path", "adjacency")),
        Option("members", 5, "MLPs in the ensemble", low=1, high=100),
        Option("hidden", 32, "width of each MLP's hidden layers", low=1, high=4096),
        Option("layers", 2, "hidden layers per MLP", low=1, high=32),
        Option("epochs", 150, "full-batch Adam steps per fit", low=1, high=100_000),
        shared.lr(0.01, "Adam learning rate of the predictor"),
        Option("max_train", 500, "most results a fit trains on (the best half and an even "
               "sample of the rest beyond it)", low=2, high=1_000_000),
        Option("parents", 10, "best genomes mutated for candidates", low=1, high=10_000),
        Option("mutations", 10, "mutations of each parent per ask", low=1, high=10_000),
        Option("random_candidates", 10, "random genomes among the candidates", low=0,
               high=100_000),
        shared.mutation_weights(),
    )

    @classmethod
    def check_space(cls, space: SearchSpace, label: str) -> None:
        """Refuse a space without an encoding (``neat``)."""
        if as_search_space(space).encoding() is None:
            raise ConfigError(f"{label}: strategy.name: bananas needs a space with an encoding "
                              f"(nb201, free), not {space.name!r}")

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, initial: int = 10,
                 acquisition: str = "its", ucb_beta: float = 1.0, encoding: str = "path",
                 members: int = 5, hidden: int = 32, layers: int = 2, epochs: int = 150,
                 lr: float = 0.01, max_train: int = 500, parents: int = 10,
                 mutations: int = 10, random_candidates: int = 10,
                 mutation_weights: dict[str, float] | None = None) -> None:
        super().__init__(space, rng)
        if acquisition not in ("its", "ucb"):
            raise ConfigError(f"strategy.acquisition: must be its or ucb, got {acquisition!r}")
        self.initial = initial
        self.acquisition = acquisition
        self.ucb_beta = ucb_beta
        self.members, self.hidden, self.layers = members, hidden, layers
        self.epochs, self.lr, self.max_train = epochs, lr, max_train
        self.parents, self.mutations = parents, mutations
        self.random_candidates = random_candidates
        self.mutation_weights = mutation_weights
        self.encode, self.encoding = featurizer(self.space, encoding)
        self.asked = 0
        self.seen: list[str] = []  # canonical hashes asked, in order
        self._seen: set[str] = set()
        self.history: list[tuple[Genome, float | None, int]] = []  # told: genome, fitness, id
        self._features: list[np.ndarray] = []  # encode(history[i].genome)
        self.fit: tuple[int, int] | None = None  # (seed, results) of the last fit
        self._model: tuple[Ensemble, float, float] | None = None

    # ----------------------------------------------------------------- contract
    def ask(self, n: int) -> list[Candidate]:
        if n <= 0:
            return []
        out: list[Candidate] = []
        # The initial design (results told without being asked, as a benchmark may, count too).
        while len(out) < n and max(self.asked + len(out), len(self.history)) < self.initial:
            out.append(Candidate(self._random_new()))
            self._mark(out[-1].genome)
        if len(out) < n:
            if sum(f is not None for _, f, _ in self.history) >= 2:
                out.extend(self._acquire(n - len(out)))
            while len(out) < n:  # nothing to learn from yet (or no candidate left)
                out.append(Candidate(self._random_new()))
                self._mark(out[-1].genome)
        self.asked += len(out)
        return out

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            fitness = r.fitness if r.fitness is not None and math.isfinite(r.fitness) else None
            self.history.append((r.genome, fitness, r.id))
            self._features.append(self.encode(r.genome))

    # ----------------------------------------------------------------- proposing
    def _mark(self, genome: Genome) -> None:
        key = genome.canonical_hash()
        if key not in self._seen:
            self._seen.add(key)
            self.seen.append(key)

    def _random_new(self) -> Genome:
        """A random genome not asked before (a repeat only when ``_RANDOM_TRIES`` draws fail)."""
        genome = self.space.sample(self.rng)
        for _ in range(_RANDOM_TRIES):
            if genome.canonical_hash() not in self._seen:
                break
            genome = self.space.sample(self.rng)
        return genome

    def _acquire(self, n: int) -> list[Candidate]:
        """Up to ``n`` new candidates ranked by the acquisition function."""
        start = time.perf_counter()
        with torch_threads(1):
            net, mean, std = self._ensemble()
            pool, sources = self._candidates()
            if not pool:
                return []
            x = active_features(np.stack([self.encode(c.genome) for c in pool]))
            with torch.no_grad():
                predictions = net(x).double().numpy() * std + mean
        mu = predictions.mean(axis=0)
        sigma = predictions.std(axis=0)
        if self.acquisition == "its":
            score = mu + sigma * self.rng.standard_normal(len(pool))
        else:
            score = mu + self.ucb_beta * sigma
        order = np.argsort(-score, kind="stable")[:n]
        seconds = (time.perf_counter() - start) / len(order)
        out = []
        train_size = self.fit[1] if self.fit is not None else 0
        for i in order:
            candidate = pool[int(i)]
            record: dict[str, Any] = {"op": "bananas", "acquisition": self.acquisition,
                                      "source": sources[int(i)],
                                      "predicted": round(float(mu[i]), 4),
                                      "uncertainty": round(float(sigma[i]), 4),
                                      "told": train_size,
                                      "search_seconds": round(seconds, 6)}
            if candidate.operator.get("op") != "random":
                record["mutation"] = candidate.operator
            out.append(Candidate(candidate.genome, candidate.parents, record))
            self._mark(candidate.genome)
        return out

    def _candidates(self) -> tuple[list[Candidate], list[str]]:
        """Mutations of the best genomes told and random genomes, none asked before."""
        pool: list[Candidate] = []
        sources: list[str] = []
        keys: set[str] = set()

        def add(candidate: Candidate, source: str) -> None:
            key = candidate.genome.canonical_hash()
            if key not in self._seen and key not in keys:
                keys.add(key)
                pool.append(candidate)
                sources.append(source)

        told = [(f, i) for i, (_, f, _) in enumerate(self.history) if f is not None]
        told.sort(key=lambda t: -t[0])  # stable: earlier tells first among ties
        for _, index in told[:self.parents]:
            genome, _, ident = self.history[index]
            for _ in range(self.mutations):
                try:
                    child, record = self.space.mutate(genome, self.rng, self.mutation_weights)
                except OperatorNotApplicable:
                    break
                add(Candidate(child, (ident,), record), "mutation")
        for _ in range(self.random_candidates):
            add(Candidate(self.space.sample(self.rng)), "random")
        if not pool:  # every mutation and draw was asked before: search further at random
            for _ in range(_RANDOM_TRIES):
                add(Candidate(self.space.sample(self.rng)), "random")
                if pool:
                    break
        return pool, sources

    # ----------------------------------------------------------------- the predictor
    def _training_set(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and targets of the first ``count`` results told (failures as the lowest
        fitness), at most ``max_train`` of them: the best half and an even sample of the rest."""
        fitness = [f for _, f, _ in self.history[:count]]
        known = [f for f in fitness if f is not None]
        lowest = min(known)
        y = np.array([lowest if f is None else f for f in fitness], dtype=np.float64)
        rows = np.arange(count)
        if count > self.max_train:
            ranked = np.argsort(-y, kind="stable")
            best = self.max_train // 2
            rest = ranked[best:]
            picks = np.linspace(0, len(rest) - 1, self.max_train - best).round().astype(np.int64)
            rows = np.sort(np.concatenate([ranked[:best], rest[picks]]))
        x = np.stack([self._features[i] for i in rows])
        return x, y[rows]

    def _ensemble(self) -> tuple[Ensemble, float, float]:
        """The ensemble fitted on every result told so far (fitted anew after new tells)."""
        count = len(self.history)
        if self.fit is None or self.fit[1] != count:
            self.fit = (int(self.rng.integers(0, 2**63 - 1)), count)
            self._model = None
        if self._model is None:
            seed, size = self.fit
            x, y = self._training_set(size)
            self._model = fit_ensemble(x, y, seed, members=self.members, hidden=self.hidden,
                                       layers=self.layers, epochs=self.epochs, lr=self.lr)
        return self._model

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(asked=self.asked, seen=list(self.seen),
                     history=[[g.to_dict(), f, i] for g, f, i in self.history],
                     fit=None if self.fit is None else list(self.fit))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.asked = state["asked"]
        self.seen = list(state["seen"])
        self._seen = set(self.seen)
        self.history = [(genome_from_dict(g), f, i) for g, f, i in state["history"]]
        self._features = [self.encode(g) for g, _, _ in self.history]
        fit = state["fit"]
        self.fit = None if fit is None else (int(fit[0]), int(fit[1]))
        self._model = None
        if self.fit is not None and self.fit[1] == len(self.history):
            with torch_threads(1):  # the ensemble the next ask uses, refitted from the history
                self._ensemble()

    def summary(self) -> dict[str, Any]:
        known = [f for _, f, _ in self.history if f is not None]
        return {"told": len(self.history), "encoding": self.encoding,
                "best": None if not known else round(max(known), 4)}
