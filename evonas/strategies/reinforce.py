"""REINFORCE with an LSTM controller, Zoph & Le 2017, "Neural Architecture Search with
Reinforcement Learning".

The controller is a small LSTM that writes an architecture one decision at a time; each decision
is a softmax over that step's options, and the option it picks is fed back as the next input.
The *decision plan* is the search space's encoding (``space.encoding()``, see
:mod:`genomes.protocol`), so any space with one can be searched; :mod:`genomes.encoding` defines
the DAG spaces':

* ``nb201``: one op per cell edge, in NAS-Bench-201 order (``1<-0, 2<-0, 2<-1, 3<-0, 3<-1,
  3<-2``): 6 decisions over the 5 ops.
* ``free``: for every potential node ``d = 1 .. max_nodes-1`` in order: whether it exists (inner
  nodes only), its width (where the space leaves it free), then for every earlier node ``s < d``
  the op of edge ``s -> d`` or ``-`` for no edge. :func:`decode` keeps the existing nodes and the
  edges between them, then repairs what the space forbids: edges past ``max_edges`` are dropped
  (the last decided first) and, when no input-to-output path is left, an edge ``input -> output``
  with the space's first op is added. Decisions about absent nodes do not count in the update.

The algorithm, per told result (or per ``batch_size`` results):

1. ``ask(n)`` samples ``n`` decision sequences from the current policy and decodes them; the
   choices wait in a queue until their results come back (the campaign tells in birth order, so
   the queue's head is always the result being told).
2. Reward ``R`` = the task's fitness (a failed evaluation gets ``failure_reward``, by default the
   lowest reward seen so far). Advantage ``A = R - b`` with ``b`` an exponential moving average of
   past rewards (``baseline_decay``), divided by the standard deviation of all rewards so far
   when ``normalize`` is on, so that neither the step nor ``entropy_weight`` depends on the
   fitness's units (accuracy in percent or as a fraction behave the same).
3. Loss ``-A * log p(decisions) - entropy_weight * H(policy)``, averaged over the batch, one Adam
   step. Candidates asked before an update are told with the policy of that later moment (the
   log-probability is recomputed by teacher forcing): with several workers the algorithm is a
   little off-policy, as in the paper's asynchronous set-up.

Randomness: the weights are initialised and every decision is drawn from the strategy's
``numpy.random.Generator`` (inverse CDF of the softmax), so the controller needs no torch random
generator and the numpy state alone, saved with the weights, makes a resumed run exact. Torch
runs with one thread inside the strategy (restored afterwards): the controller is tiny, and one
thread makes its floating-point results independent of the machine's core count.

The state dict holds the weights and Adam's moments as base64 of raw little-endian bytes with shape
and dtype (:mod:`evonas.strategies.tensor_json`): JSON, no pickle, exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from evonas.errors import ConfigError
from evonas.evaluation.threads import torch_threads
from evonas.options import Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, Strategy
from evonas.strategies.tensor_json import (
    encode_module,
    encode_optimizer_state,
    load_module,
    load_optimizer_state,
)
from genomes import Decision, Decoded, Encoding, SearchSpace, as_search_space
from genomes.encoding import NO_EDGE

__all__ = ["NO_EDGE", "Controller", "Decision", "Reinforce", "check_config", "decision_plan",
           "decode", "init_uniform", "space_encoding"]


# --------------------------------------------------------------------------- decision plan
def space_encoding(space: SearchSpace) -> Encoding:
    """``space``'s decision encoding.

    Raises:
        TypeError: for a space without one (``neat``).
    """
    encoding = as_search_space(space).encoding()
    if encoding is None:
        raise TypeError(f"space: the reinforce strategy needs a space with a decision encoding; "
                        f"the {space.name} space has none")
    return encoding


def decision_plan(space: SearchSpace) -> list[Decision]:
    """The fixed sequence of decisions that writes one genome of ``space`` (module docstring)."""
    return list(space_encoding(space).decisions)


def decode(space: SearchSpace, plan: Sequence[Decision], choices: Sequence[int]) -> Decoded:
    """Turn one decision sequence into a genome of ``space``.

    Args:
        space: the search space.
        plan: :func:`decision_plan` of the space (the space's own encoding decodes).
        choices: the option index picked at each step.

    Returns:
        ``(genome, used, repairs)``: the genome (valid in ``space``), which decisions it used (the
        others are ignored by the update), and the repairs made (``["dropped 3->7",
        "added 0->7"]``, usually empty).
    """
    encoding = space_encoding(space)
    if len(plan) != len(encoding.decisions):
        raise ValueError(f"plan: {len(plan)} decisions, the space's encoding has "
                         f"{len(encoding.decisions)}")
    return encoding.decode(choices)


# --------------------------------------------------------------------------- controller
class Controller(nn.Module):
    """The LSTM policy: a softmax per decision, the previous choice embedded as the next input.

    Args:
        option_counts: the number of options of each decision, in plan order.
        hidden_size: LSTM width (also the embedding width).
    """

    def __init__(self, option_counts: Sequence[int], hidden_size: int) -> None:
        super().__init__()
        self.option_counts = list(option_counts)
        # Embedding row 0 is the start token; step i's options follow at offsets[i] + 1.
        self.offsets = np.concatenate([[0], np.cumsum(self.option_counts)[:-1]]).tolist()
        self.embed = nn.Embedding(1 + sum(self.option_counts), hidden_size)
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        # Every step's softmax head, stacked in one layer (few tensors keep Adam's step cheap);
        # step i reads its logits from columns offsets[i] : offsets[i] + option_counts[i].
        self.heads = nn.Linear(hidden_size, sum(self.option_counts))
        self.hidden_size = hidden_size

    def logits(self, step: int, hidden: torch.Tensor) -> torch.Tensor:
        """Step ``step``'s logits from the LSTM output ``hidden``."""
        start = self.offsets[step]
        return self.heads(hidden)[:, start:start + self.option_counts[step]]

    def token(self, step: int, choice: torch.Tensor) -> torch.Tensor:
        """Embedding index of ``choice`` at ``step``."""
        return choice + (1 + self.offsets[step])

    def sample(self, rng: np.random.Generator) -> list[int]:
        """Draw one decision sequence; each choice by inverse CDF with ``rng``."""
        state = None
        x = self.embed(torch.zeros(1, dtype=torch.long))
        choices = []
        with torch.no_grad():
            for step in range(len(self.option_counts)):
                state = self.lstm(x, state)
                probs = torch.softmax(self.logits(step, state[0]).double(), dim=-1)[0].numpy()
                cdf = np.cumsum(probs)
                pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
                pick = min(pick, len(probs) - 1)
                choices.append(pick)
                x = self.embed(self.token(step, torch.tensor([pick])))
        return choices

    def evaluate(self, choices: torch.Tensor, used: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of given sequences under the current policy.

        Args:
            choices: ``(batch, steps)`` option indices.
            used: ``(batch, steps)`` booleans: which decisions count.

        Returns:
            ``(log_prob, entropy)``, each ``(batch,)``: sums over the used decisions.
        """
        batch = choices.shape[0]
        state = None
        x = self.embed(torch.zeros(batch, dtype=torch.long))
        log_prob = torch.zeros(batch)
        entropy = torch.zeros(batch)
        mask = used.float()
        for step in range(len(self.option_counts)):
            state = self.lstm(x, state)
            logp = torch.log_softmax(self.logits(step, state[0]), dim=-1)
            chosen = choices[:, step]
            log_prob = log_prob + mask[:, step] * logp.gather(1, chosen[:, None])[:, 0]
            entropy = entropy - mask[:, step] * (logp.exp() * logp).sum(dim=-1)
            x = self.embed(self.token(step, chosen))
        return log_prob, entropy


def init_uniform(module: nn.Module, rng: np.random.Generator, scale: float) -> None:
    """Set every parameter to ``uniform(-scale, scale)`` drawn from ``rng`` (as ENAS does)."""
    with torch.no_grad():
        for p in module.parameters():
            values = rng.uniform(-scale, scale, size=tuple(p.shape)).astype(np.float32)
            p.copy_(torch.from_numpy(values))


# --------------------------------------------------------------------------- strategy
def check_config(config: dict[str, Any], label: str | None = None) -> None:
    """Checks of a ``reinforce`` strategy config beyond single-field ranges.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    prefix = f"{label}: " if label else ""
    decay = config.get("baseline_decay", 0.9)
    if not 0 <= decay < 1:
        raise ConfigError(f"{prefix}strategy.baseline_decay: must be in [0, 1), got {decay}")
    lr = config.get("lr", 0.01)
    if not lr > 0:
        raise ConfigError(f"{prefix}strategy.lr: must be positive, got {lr}")


class Reinforce(Strategy):
    """REINFORCE with an LSTM controller (see the module docstring for the algorithm).

    Args:
        space: the search space; it must have a decision encoding (``nb201``, ``free``).
        rng: the strategy's random generator: initial weights and every sampled decision.
        hidden_size: width of the controller's LSTM and embeddings.
        lr: Adam's step size (the config also takes the older name ``learning_rate``).
        batch_size: results per policy update (1: update after every told result).
        baseline_decay: the moving-average baseline keeps this fraction of its value per reward.
        entropy_weight: weight of the policy-entropy bonus that keeps the controller exploring
            (in units of normalized advantage; in reward units when ``normalize`` is off).
        normalize: divide advantages by the standard deviation of all rewards so far, so the
            update (and ``entropy_weight``) does not depend on the fitness's units. Off, the
            entropy weight must follow the fitness's scale: on the NB201 table (accuracy in
            percent) ``normalize: false, entropy_weight: 0.2`` explores best in a small sweep
            (see ``examples/nb201_rl.yaml``); for a fitness in [0, 1] divide it by 100.
        init_range: initial weights are uniform in ``[-init_range, init_range]``.
        failure_reward: reward of a failed evaluation (None: the lowest reward seen so far).
        redraw_in_flight: up to this many more draws for a sample whose architecture is already
            out being evaluated. A converged controller samples the same few cells; told
            asynchronously, each copy waits for its source while workers idle. Redrawing keeps
            them busy at the price of a policy-gradient sample conditioned on "not out now".
            0 (the default, and what older runs replay with) keeps every sample.
    """

    name = "reinforce"
    options: ClassVar[OptionSchema] = OptionSchema(
        Option("hidden_size", 64, "width of the controller's LSTM and embeddings", low=1,
               high=4096),
        shared.lr(0.01, "Adam's step size for the controller", aliases=("learning_rate",)),
        Option("batch_size", 1, "results per policy update", low=1, high=65536),
        Option("baseline_decay", 0.9, "fraction of the moving-average baseline kept per reward",
               low=0, high=1, high_open=True),
        Option("entropy_weight", 0.1, "weight of the policy-entropy bonus", low=0),
        Option("normalize", True, "divide advantages by the rewards' standard deviation"),
        Option("init_range", 0.1, "initial weights are uniform in [-init_range, init_range]",
               low=0),
        Option("failure_reward", None, "reward of a failed evaluation (null: the lowest seen)",
               kind=float),
        Option("redraw_in_flight", 0, "draws more for a sample whose architecture is already "
               "out being evaluated (0: keep every sample)", low=0, high=1000),
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, hidden_size: int = 64,
                 lr: float = 0.01, batch_size: int = 1, baseline_decay: float = 0.9,
                 entropy_weight: float = 0.1, normalize: bool = True, init_range: float = 0.1,
                 failure_reward: float | None = None, redraw_in_flight: int = 0) -> None:
        super().__init__(space, rng)
        check_config({"baseline_decay": baseline_decay, "lr": lr})
        self.batch_size = batch_size
        self.baseline_decay = baseline_decay
        self.entropy_weight = entropy_weight
        self.normalize = normalize
        self.failure_reward = failure_reward
        self.redraw_in_flight = redraw_in_flight
        self.encoding = space_encoding(space)
        self.plan = list(self.encoding.decisions)
        with torch_threads(1):
            self.controller = Controller([len(d.options) for d in self.plan], hidden_size)
            init_uniform(self.controller, rng, init_range)
            self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baseline: float | None = None
        self.reward_count, self.reward_mean, self.reward_m2 = 0, 0.0, 0.0
        self.lowest: float | None = None
        self.updates = 0
        self._pending: list[dict[str, Any]] = []  # asked, not yet told: {"hash", "choices"}
        self._batch: list[dict[str, Any]] = []  # told, awaiting the update: {"choices", "reward"}

    # ----------------------------------------------------------------- contract
    def ask(self, n: int) -> list[Candidate]:
        out = []
        with torch_threads(1):
            out_now = {e["hash"] for e in self._pending}
            for _ in range(n):
                choices = self.controller.sample(self.rng)
                genome, _, repairs = self.encoding.decode(choices)
                for _ in range(self.redraw_in_flight):  # a copy would only wait for its source
                    if genome.canonical_hash() not in out_now:
                        break
                    choices = self.controller.sample(self.rng)
                    genome, _, repairs = self.encoding.decode(choices)
                out_now.add(genome.canonical_hash())
                record: dict[str, Any] = {"op": "reinforce", "policy": self.updates}
                if repairs:
                    record["repairs"] = repairs
                self._pending.append({"hash": genome.canonical_hash(), "choices": choices})
                out.append(Candidate(genome, (), record))
        return out

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            # Results arrive in any order when told asynchronously: each goes with the earliest
            # sample still pending that has its architecture (in birth order, the first one).
            genome_hash = r.genome.canonical_hash()
            index = next((i for i, e in enumerate(self._pending) if e["hash"] == genome_hash),
                         None)
            if index is None:
                raise RuntimeError(f"reinforce: told individual {r.id}, which it never proposed "
                                   "or was told already")
            entry = self._pending.pop(index)
            self._batch.append({"choices": entry["choices"], "reward": self._reward(r.fitness)})
            if len(self._batch) >= self.batch_size:
                self._update()

    # ----------------------------------------------------------------- learning
    def _reward(self, fitness: float | None) -> float:
        if fitness is not None and math.isfinite(fitness):
            reward = float(fitness)
            self.lowest = reward if self.lowest is None else min(self.lowest, reward)
            return reward
        if self.failure_reward is not None:
            return float(self.failure_reward)
        return self.lowest if self.lowest is not None else 0.0

    def _advantages(self, rewards: list[float]) -> list[float]:
        """Advantages against the moving baseline, updating it (and the reward statistics)."""
        out = []
        decay = self.baseline_decay
        for reward in rewards:
            if self.baseline is None:
                self.baseline = reward
            advantage = reward - self.baseline
            self.baseline = decay * self.baseline + (1 - decay) * reward
            # Welford's running variance of every reward so far (not a moving one: a moving
            # spread shrinks as the policy converges and would then amplify its steps).
            self.reward_count += 1
            delta = reward - self.reward_mean
            self.reward_mean += delta / self.reward_count
            self.reward_m2 += delta * (reward - self.reward_mean)
            if self.normalize:
                std = math.sqrt(self.reward_m2 / (self.reward_count - 1)) \
                    if self.reward_count > 1 else 0.0
                advantage = advantage / std if std > 1e-12 else 0.0
            out.append(advantage)
        return out

    def _update(self) -> None:
        batch, self._batch = self._batch, []
        advantages = torch.tensor(self._advantages([b["reward"] for b in batch]))
        used = [self.encoding.decode(b["choices"]).used for b in batch]
        with torch_threads(1):
            choices = torch.tensor([b["choices"] for b in batch], dtype=torch.long)
            log_prob, entropy = self.controller.evaluate(choices, torch.tensor(used))
            loss = -(advantages.float() * log_prob).mean() \
                - self.entropy_weight * entropy.mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.updates += 1

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            weights=encode_module(self.controller),
            optimizer=encode_optimizer_state(self.optimizer),
            baseline=self.baseline, lowest=self.lowest,
            rewards=[self.reward_count, self.reward_mean, self.reward_m2],
            updates=self.updates, pending=self._pending, batch=self._batch,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch_threads(1):
            load_module(self.controller, state["weights"])
            load_optimizer_state(self.optimizer, state["optimizer"])
        self.baseline = state["baseline"]
        self.reward_count, self.reward_mean, self.reward_m2 = state["rewards"]
        self.lowest = state["lowest"]
        self.updates = state["updates"]
        self._pending = [dict(p) for p in state["pending"]]
        self._batch = [dict(b) for b in state["batch"]]

    def summary(self) -> dict[str, Any]:
        return {"updates": self.updates,
                "baseline": None if self.baseline is None else round(self.baseline, 4)}

