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
generator and the numpy state alone, saved with the weights, makes a resumed run exact.

Speed: the controller's weights and Adam's moments are torch tensors (the state format), but
sampling and the update run in numpy on views of the same memory (:class:`NumpyPolicy`: the
LSTM's forward pass, its backward pass through time written out, and torch's Adam step). On a
network this small torch spends tens of microseconds per operation in dispatch and autograd; the
numpy version proposes and learns from one individual in a quarter to a fifth of the time,
which matters because a converged controller proposes cached cells over and over, each one a
sample and an update in the campaign process while workers wait. The gradients are torch's to
float32 rounding (:meth:`NumpyPolicy.gradients` agrees with autograd on
:meth:`Controller.evaluate` to about 1e-7), but not bit for bit, so runs from a seed differ
from those of the torch-based implementation before it (a REINFORCE journal made before
this change does not replay past its last snapshot). The torch forms
(:meth:`Controller.sample`, :meth:`Controller.evaluate`) stay as the reference.

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
from torch.nn import functional as F

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
        """Draw one decision sequence; each choice by inverse CDF with ``rng``.

        The modules' kernels are called directly (``torch.lstm_cell``, ``linear``, rows of the
        embedding table), without autograd or module dispatch: the same operations on the same
        tensors as ``self.lstm(x)``, ``self.heads(h)`` and ``self.embed(i)``, so the same bits,
        at a fraction of the Python overhead.
        """
        lstm, weight, bias = self.lstm, self.heads.weight, self.heads.bias
        table = self.embed.weight
        choices = []
        with torch.no_grad():
            x = table[0:1]
            hidden = torch.zeros(1, self.hidden_size, dtype=x.dtype)
            state = (hidden, hidden)
            for start, count in zip(self.offsets, self.option_counts, strict=True):
                state = torch.lstm_cell(x, state, lstm.weight_ih, lstm.weight_hh,
                                        lstm.bias_ih, lstm.bias_hh)
                logits = F.linear(state[0], weight, bias)[:, start:start + count]
                probs = torch.softmax(logits.double(), dim=-1)[0].numpy()
                cdf = np.cumsum(probs)
                pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
                pick = min(pick, count - 1)
                choices.append(pick)
                token = pick + 1 + start
                x = table[token:token + 1]
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
        lstm, weight, bias = self.lstm, self.heads.weight, self.heads.bias
        table = self.embed.weight
        # The modules' kernels called directly (as in :meth:`sample`): the same graph as
        # ``self.embed``, ``self.lstm`` and ``self.heads``, without module dispatch.
        x = F.embedding(torch.zeros(batch, dtype=torch.long), table)
        hidden = torch.zeros(batch, self.hidden_size, dtype=x.dtype)
        state = (hidden, hidden)
        log_prob = torch.zeros(batch)
        entropy = torch.zeros(batch)
        mask = used.float()
        for step, (start, count) in enumerate(zip(self.offsets, self.option_counts,
                                                  strict=True)):
            state = torch.lstm_cell(x, state, lstm.weight_ih, lstm.weight_hh, lstm.bias_ih,
                                    lstm.bias_hh)
            logp = torch.log_softmax(F.linear(state[0], weight, bias)[:, start:start + count],
                                     dim=-1)
            chosen = choices[:, step]
            log_prob = log_prob + mask[:, step] * logp.gather(1, chosen[:, None])[:, 0]
            entropy = entropy - mask[:, step] * (logp.exp() * logp).sum(dim=-1)
            x = F.embedding(chosen + (1 + start), table)
        return log_prob, entropy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _add_outer(total: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """``total += left.T @ right`` for ``(batch, m)`` and ``(batch, n)`` arrays. A batch of one
    is a broadcast product, the same numbers as the one-term matrix product (each entry is one
    rounded multiplication) at a fraction of BLAS's cost on a transposed operand."""
    if left.shape[0] == 1:
        total += left.T * right
    else:
        total += left.T @ right


class _Step:
    """What one LSTM step of :meth:`NumpyPolicy.gradients` keeps for the backward pass."""

    __slots__ = ("c", "c_prev", "f", "g", "h", "h_prev", "i", "logp", "o", "p", "tanh_c", "x")
    c: np.ndarray
    c_prev: np.ndarray
    f: np.ndarray
    g: np.ndarray
    h: np.ndarray
    h_prev: np.ndarray
    i: np.ndarray
    logp: np.ndarray
    o: np.ndarray
    p: np.ndarray
    tanh_c: np.ndarray
    x: np.ndarray


class NumpyPolicy:
    """The controller's sampling and its REINFORCE update in numpy, on the module's own tensors.

    The parameters and Adam's moments stay torch tensors (the state format does not change); the
    arithmetic reads and writes them through numpy views of the same memory. A step is a few
    dozen numpy calls on arrays of 64 x 256 floats, microseconds each, where torch's autograd
    spends tens of microseconds per operation on a network this small. The parameters live in
    one buffer, and so do each of Adam's moments, so an Adam step is a few calls on whole
    buffers; the LSTM's three sigmoid gates are one call; a batch of one accumulates its outer
    products by broadcasting instead of BLAS. Each of these computes the same numbers, element
    by element, as the call per parameter, per gate or the matrix product it replaces.

    Args:
        controller: the :class:`Controller` whose tensors are used.
        optimizer: its ``torch.optim.Adam`` (hyperparameters and per-parameter state).
    """

    def __init__(self, controller: Controller, optimizer: torch.optim.Optimizer) -> None:
        self.controller = controller
        self.optimizer = optimizer
        self.params = [controller.embed.weight, controller.lstm.weight_ih,
                       controller.lstm.weight_hh, controller.lstm.bias_ih,
                       controller.lstm.bias_hh, controller.heads.weight, controller.heads.bias]
        self._bounds = np.cumsum([0] + [p.numel() for p in self.params]).tolist()
        self._flat = self._join([p.detach() for p in self.params])
        with torch.no_grad():
            for param, view in zip(self.params, self._views(self._flat), strict=True):
                param.data = view  # the parameters now live in one buffer
        self._numpy = [view.numpy() for view in self._views(self._flat)]
        # the gradient's buffer, zeroed before each update, and each parameter's view of it
        self._grad = torch.zeros(self._bounds[-1], dtype=torch.float32)
        self._grads = [view.numpy() for view in self._views(self._grad)]
        self._moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.link_optimizer_state()

    def _join(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in tensors]).to(torch.float32)

    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """Each parameter's shape, as a view of ``flat``."""
        b = self._bounds
        return [flat[b[k]:b[k + 1]].view(p.shape) for k, p in enumerate(self.params)]

    def link_optimizer_state(self) -> None:
        """Put Adam's moments and step counts in one buffer each, as views the optimizer's
        state holds (call after the optimizer's state was loaded), so that an Adam step is a
        few operations on whole buffers instead of a few per parameter: the same
        element-by-element arithmetic, so the same numbers. A state whose parameters have
        different step counts (never made here) is left per parameter."""
        state = self.optimizer.state
        entries = [state[p] for p in self.params]
        self._moments = None
        if not all(entries):
            return  # none yet (the first update makes them), or some only: per parameter
        steps = [float(e["step"]) for e in entries]
        if len(set(steps)) != 1:
            return
        exp_avg = self._join([e["exp_avg"] for e in entries])
        exp_avg_sq = self._join([e["exp_avg_sq"] for e in entries])
        counts = torch.tensor(steps, dtype=torch.float32)
        for k, (entry, m, v) in enumerate(zip(entries, self._views(exp_avg),
                                              self._views(exp_avg_sq), strict=True)):
            entry["exp_avg"], entry["exp_avg_sq"], entry["step"] = m, v, counts[k]
        self._moments = (exp_avg, exp_avg_sq, counts)

    def _arrays(self) -> list[np.ndarray]:
        """The parameters as numpy views of their buffer (loading a state copies into it)."""
        return self._numpy

    def sample(self, rng: np.random.Generator) -> list[int]:
        """One decision sequence, each choice by inverse CDF of the softmax with ``rng``."""
        ctrl = self.controller
        table, w_ih, w_hh, b_ih, b_hh, w_out, b_out = self._arrays()
        hidden = ctrl.hidden_size
        h = np.zeros(hidden, dtype=np.float32)
        c = np.zeros(hidden, dtype=np.float32)
        x = table[0]
        bias = b_ih + b_hh
        choices = []
        for start, count in zip(ctrl.offsets, ctrl.option_counts, strict=True):
            gates = w_ih @ x + w_hh @ h + bias
            gate = _sigmoid(gates)  # element by element: the same as per gate (g's unused)
            i, f, o = gate[:hidden], gate[hidden:2 * hidden], gate[3 * hidden:]
            g = np.tanh(gates[2 * hidden:3 * hidden])
            c = f * c + i * g
            h = o * np.tanh(c)
            logits = (w_out[start:start + count] @ h + b_out[start:start + count]).astype(
                np.float64)
            probs = np.exp(logits - logits.max())
            cdf = np.cumsum(probs)
            pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
            pick = min(pick, count - 1)
            choices.append(pick)
            x = table[pick + 1 + start]
        return choices

    def update(self, choices: np.ndarray, used: np.ndarray, advantages: np.ndarray,
               entropy_weight: float) -> None:
        """One Adam step on ``-mean(A * log p) - entropy_weight * mean(H)`` over the batch.

        Args:
            choices: ``(batch, steps)`` option indices.
            used: ``(batch, steps)`` booleans: which decisions count.
            advantages: ``(batch,)``.
            entropy_weight: the entropy bonus's weight.
        """
        params, grads = self._arrays(), self._grads
        self._grad.zero_()
        self.gradients(choices, used, advantages, entropy_weight, params, out=grads)
        state = self.optimizer.state
        if self._moments is None and not any(state[p] for p in self.params):
            for p in self.params:  # the first step: Adam's zero moments and step counts
                state[p].update(step=torch.zeros((), dtype=torch.float32),
                                exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            self.link_optimizer_state()
        if self._moments is None:
            self._adam(params, grads)
        else:
            self._adam_flat(self._grad.numpy())

    def gradients(self, choices: np.ndarray, used: np.ndarray, advantages: np.ndarray,
                  entropy_weight: float, params: list[np.ndarray] | None = None,
                  out: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """The loss's gradient for each parameter (in :attr:`params` order), by hand: the
        forward pass keeps each step's activations, the backward pass runs through time.
        ``out``: zeroed arrays to accumulate them in (returned)."""
        ctrl = self.controller
        params = self._arrays() if params is None else params
        table, w_ih, w_hh, b_ih, b_hh, w_out, b_out = params
        batch, hidden = choices.shape[0], ctrl.hidden_size
        mask = used.astype(np.float32)
        rows = np.arange(batch)
        h = np.zeros((batch, hidden), dtype=np.float32)
        c = np.zeros((batch, hidden), dtype=np.float32)
        tokens = [np.zeros(batch, dtype=np.int64)]
        x = table[tokens[0]]
        bias = b_ih + b_hh
        steps = []
        for step, (start, count) in enumerate(zip(ctrl.offsets, ctrl.option_counts,
                                                  strict=True)):
            s = _Step()
            s.x, s.h_prev, s.c_prev = x, h, c
            gates = x @ w_ih.T + h @ w_hh.T + bias
            gate = _sigmoid(gates)
            s.i, s.f, s.o = gate[:, :hidden], gate[:, hidden:2 * hidden], gate[:, 3 * hidden:]
            s.g = np.tanh(gates[:, 2 * hidden:3 * hidden])
            c = s.f * c + s.i * s.g
            s.tanh_c = np.tanh(c)
            h = s.o * s.tanh_c
            s.c, s.h = c, h
            logits = h @ w_out[start:start + count].T + b_out[start:start + count]
            shifted = logits - logits.max(axis=1, keepdims=True)
            s.logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            s.p = np.exp(s.logp)
            steps.append(s)
            token = choices[:, step] + (1 + start)
            tokens.append(token)
            x = table[token]
        # d loss / d log_prob[b] = -A[b] / batch; d loss / d entropy[b] = -w / batch
        d_lp = (-advantages / batch).astype(np.float32)
        d_ent = np.float32(-entropy_weight / batch)
        grads = [np.zeros_like(a) for a in params] if out is None else out
        g_table, g_ih, g_hh, g_bih, g_bhh, g_out, g_bout = grads
        dh_next = np.zeros((batch, hidden), dtype=np.float32)
        dc_next = np.zeros((batch, hidden), dtype=np.float32)
        for step in range(len(steps) - 1, -1, -1):
            s = steps[step]
            start, count = ctrl.offsets[step], ctrl.option_counts[step]
            m = mask[:, step:step + 1]
            # log_prob term: one-hot at the choice; entropy -sum(p logp): -p (logp + 1)
            d_logp = (d_ent * m) * (-s.p * (s.logp + 1))
            d_logp[rows, choices[:, step]] += d_lp * m[:, 0]
            d_logits = d_logp - s.p * d_logp.sum(axis=1, keepdims=True)
            _add_outer(g_out[start:start + count], d_logits, s.h)
            g_bout[start:start + count] += d_logits.sum(axis=0)
            dh = d_logits @ w_out[start:start + count] + dh_next
            dc = dc_next + dh * s.o * (1 - s.tanh_c * s.tanh_c)
            d_gates = np.concatenate([
                dc * s.g * s.i * (1 - s.i),
                dc * s.c_prev * s.f * (1 - s.f),
                dc * s.i * (1 - s.g * s.g),
                dh * s.tanh_c * s.o * (1 - s.o)], axis=1)
            _add_outer(g_ih, d_gates, s.x)
            _add_outer(g_hh, d_gates, s.h_prev)
            d_bias = d_gates.sum(axis=0)
            g_bih += d_bias
            g_bhh += d_bias
            d_x = d_gates @ w_ih
            if batch == 1:  # one row: what ``np.add.at`` adds, without its overhead
                g_table[tokens[step][0]] += d_x[0]
            else:
                np.add.at(g_table, tokens[step], d_x)
            dh_next = d_gates @ w_hh
            dc_next = dc * s.f
        return grads

    def _adam_flat(self, grad: np.ndarray) -> None:
        """:meth:`_adam` on the linked buffers (:meth:`link_optimizer_state`)."""
        assert self._moments is not None
        exp_avg, exp_avg_sq, counts = self._moments
        steps = counts.numpy()
        steps += 1
        step = float(steps[0])
        _adam_step(self._flat.numpy(), exp_avg.numpy(), exp_avg_sq.numpy(), grad, step,
                   self.optimizer.param_groups[0])

    def _adam(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """torch's Adam step (no weight decay, no amsgrad), on the optimizer's own state."""
        group = self.optimizer.param_groups[0]
        state = self.optimizer.state
        for tensor, param, grad in zip(self.params, params, grads, strict=True):
            entry = state[tensor]
            if not entry:
                entry["step"] = torch.zeros((), dtype=torch.float32)
                entry["exp_avg"] = torch.zeros_like(tensor, memory_format=torch.preserve_format)
                entry["exp_avg_sq"] = torch.zeros_like(tensor,
                                                       memory_format=torch.preserve_format)
            step_t = entry["step"]
            step_t += 1
            _adam_step(param, entry["exp_avg"].numpy(), entry["exp_avg_sq"].numpy(), grad,
                       float(step_t), group)


def _adam_step(param: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray, step: float,
               group: dict[str, Any]) -> None:
    """One Adam step in place on ``param`` and its moments ``m``, ``v`` (the ``step``-th),
    with the hyperparameters of the optimizer's parameter ``group``."""
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    m += (1 - beta1) * (grad - m)
    v *= beta2
    v += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * m / denom


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
    warm_start_refusal = "proposes no random genomes to warm-start"
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
        self._policy = NumpyPolicy(self.controller, self.optimizer)
        self.baseline: float | None = None
        self.reward_count, self.reward_mean, self.reward_m2 = 0, 0.0, 0.0
        self.lowest: float | None = None
        self.updates = 0
        self._pending: list[dict[str, Any]] = []  # asked, not yet told: {"hash", "choices"}
        self._batch: list[dict[str, Any]] = []  # told, awaiting the update: {"choices", "reward"}

    # ----------------------------------------------------------------- contract
    def ask(self, n: int) -> list[Candidate]:
        out = []
        sample = self._policy.sample
        out_now = {e["hash"] for e in self._pending}
        for _ in range(n):
            choices = sample(self.rng)
            genome, _, repairs = self.encoding.decode(choices)
            for _ in range(self.redraw_in_flight):  # a copy would only wait for its source
                if genome.canonical_hash() not in out_now:
                    break
                choices = sample(self.rng)
                genome, _, repairs = self.encoding.decode(choices)
            out_now.add(genome.canonical_hash())
            record: dict[str, Any] = {"op": "reinforce", "policy": self.updates}
            if repairs:
                record["repairs"] = repairs
            self._pending.append({"hash": genome.canonical_hash(), "choices": choices})
            out.append(Candidate(genome, (), record))
        return out

    def discard(self, candidates: list[Candidate]) -> None:
        """Drop the pending samples of screened-out candidates (the latest with each one's
        architecture): they are never rewarded, and no longer count as in flight."""
        for candidate in candidates:
            genome_hash = candidate.genome.canonical_hash()
            index = next((i for i in range(len(self._pending) - 1, -1, -1)
                          if self._pending[i]["hash"] == genome_hash), None)
            if index is None:
                raise RuntimeError("reinforce: asked to discard a candidate it never proposed "
                                   "or that was told already")
            del self._pending[index]

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
        advantages = np.asarray(self._advantages([b["reward"] for b in batch]), dtype=np.float32)
        used = np.asarray([self.encoding.decode(b["choices"]).used for b in batch], dtype=bool)
        choices = np.asarray([b["choices"] for b in batch], dtype=np.int64)
        self._policy.update(choices, used, advantages, self.entropy_weight)
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
        self._policy.link_optimizer_state()
        self.baseline = state["baseline"]
        self.reward_count, self.reward_mean, self.reward_m2 = state["rewards"]
        self.lowest = state["lowest"]
        self.updates = state["updates"]
        self._pending = [dict(p) for p in state["pending"]]
        self._batch = [dict(b) for b in state["batch"]]

    def summary(self) -> dict[str, Any]:
        return {"updates": self.updates,
                "baseline": None if self.baseline is None else round(self.baseline, 4)}

