"""DARTS, Liu et al. 2019, "DARTS: Differentiable Architecture Search", on the NB201 cell space.

The search trains a :class:`~evonas.compiler.supernet.Supernet` (every candidate op on every cell
edge, mixed by a softmax over architecture parameters ``alpha``) and alternates two updates per
step:

* ``alpha`` on a batch of the task's **validation** split (Adam, ``alpha_lr``, weight decay
  ``alpha_weight_decay``), either **first order** (the gradient of the validation loss at the
  current weights) or **second order** (the gradient through one virtual SGD step of the weights,
  with the Hessian-vector product by central finite differences, as in the paper);
* the network weights on a batch of the **train** split (SGD with momentum, cosine-annealed from
  ``lr`` to ``lr_min`` over ``epochs``, gradient norm clipped at ``grad_clip``).

After every ``derive_every`` epochs the strategy proposes the **derived genome** (on each edge the
op of highest alpha, ``none`` excluded) as a candidate: the campaign evaluates it through the same
evaluator as every other strategy's genomes, so its fitness (trained from scratch with the task's
recipe) is comparable. A derived genome that did not change is a cache hit and costs nothing.

The candidate's operator record is the search log, and goes to the journal with the individual::

    {"op": "darts", "order": 1, "epoch": 5, "ops": [...], "search_seconds": 12.3, "skips": 2,
     "skip_collapse": false, "history": [{"epoch": 5, "alphas": [[...], ...], "lr": 0.02,
     "train_loss": 0.41, "train_accuracy": 0.88, "val_loss": 0.52, "val_accuracy": 0.84}]}

``alphas`` are the raw parameters after the epoch (rows: edges in NAS-Bench-201 order; columns:
``ops``). ``skip_collapse`` flags the failure mode NAS-Bench-201 reports for DARTS: more
than ``collapse_fraction`` of the derived cell's edges are ``skip_connect``. Should the supernet's
loss diverge (NaN), the search ends there: the last candidate is derived from the alphas its
epoch started with and its record says ``"diverged": true``.
``search_seconds`` is the wall time of the supernet epochs (on ``device``); the campaign adds it
to the run's device-seconds, so budgets and ``evonas compare`` count supernet training.

The supernet trains in the campaign process (it is one network, not a population). Randomness:
the initial weights are seeded from the strategy's ``numpy.random.Generator`` and every batch order
is drawn from it, so the state dict (generator, weights, buffers, both optimizers' states, as JSON
tensors) makes a resumed search exact. ``threads`` torch threads are used while training (one by
default: results then do not depend on the machine's core count).
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from evonas.compiler.supernet import NB201_EDGES, Supernet, derive_genome
from evonas.errors import ConfigError
from evonas.options import Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated
from evonas.strategies.supernet_strategy import SupernetStrategy
from evonas.strategies.tensor_json import (
    decode_tensor,
    encode_module,
    encode_optimizer_state,
    encode_tensor,
    load_module,
    load_optimizer_state,
)
from genomes import NB201Space, SearchSpace

#: Relative step of the finite-difference Hessian-vector product (DARTS' ``r = 0.01``).
FINITE_DIFFERENCE_SCALE = 0.01


def check_config(config: dict[str, Any], space: SearchSpace, label: str | None = None) -> None:
    """Checks of a ``darts`` strategy config beyond single-field ranges.

    Raises:
        ConfigError: naming the file and the field at fault.
    """
    _check_space(space, label)
    _check_options(config, label)


def _check_space(space: SearchSpace, label: str | None) -> None:
    prefix = f"{label}: " if label else ""
    if not isinstance(space, NB201Space):
        raise ConfigError(f"{prefix}strategy.name: darts searches the nb201 cell space "
                          f"(space.name: nb201), not {space.name!r}")


def _check_options(config: dict[str, Any], label: str | None) -> None:
    prefix = f"{label}: " if label else ""
    if config.get("order", 1) not in (1, 2):
        raise ConfigError(f"{prefix}strategy.order: must be 1 (first order) or 2 (second "
                          f"order), got {config.get('order')!r}")
    for key in ("lr", "alpha_lr"):
        if key in config and not config[key] > 0:
            raise ConfigError(f"{prefix}strategy.{key}: must be positive, got {config[key]}")
    if config.get("lr_min", 0.0) > config.get("lr", 0.025):
        raise ConfigError(f"{prefix}strategy.lr_min: must not exceed strategy.lr "
                          f"({config.get('lr', 0.025)}), got {config['lr_min']}")
    if config.get("batch_size", 64) < 2:
        raise ConfigError(f"{prefix}strategy.batch_size: darts needs batches of at least 2 "
                          f"(batch norm), got {config['batch_size']}")
    if config.get("device", "cpu") != "auto":
        try:
            torch.device(config.get("device", "cpu"))
        except RuntimeError:
            raise ConfigError(f"{prefix}strategy.device: unknown torch device "
                              f"{config['device']!r} (use cpu, cuda, cuda:N or auto)") from None
    if not 0 <= config.get("collapse_fraction", 0.5) < 1:
        raise ConfigError(f"{prefix}strategy.collapse_fraction: must be in [0, 1), "
                          f"got {config['collapse_fraction']}")


class DARTS(SupernetStrategy):
    """Differentiable architecture search (see the module docstring for the algorithm).

    Args:
        space: the ``nb201`` space; the supernet uses its ``stem_channels`` and
            ``cells_per_stage``.
        rng: the strategy's generator: initial weights and alphas, batch order.
        epochs: supernet training epochs (the search ends after them).
        order: 1 for first-order DARTS, 2 for the second-order (unrolled) update.
        batch_size: batch size of both the weight and the architecture steps.
        lr: initial SGD learning rate of the network weights (cosine-annealed).
        lr_min: the learning rate at the end of the annealing.
        momentum: SGD momentum of the weights.
        weight_decay: L2 penalty of the weights.
        grad_clip: the weights' gradient norm is clipped to this.
        alpha_lr: Adam step size of the architecture parameters.
        alpha_weight_decay: L2 penalty of the architecture parameters.
        derive_every: propose the derived genome after every this many epochs (and after the
            last).
        collapse_fraction: flag ``skip_collapse`` when more than this fraction of the derived
            cell's edges are ``skip_connect``.
        device: torch device of the supernet (``cpu``, ``cuda``, ``cuda:1``; ``auto`` picks the
            first GPU when there is one).
        threads: torch intra-op threads while training.
    """

    name = "darts"
    prescreen_refusal = ("proposes one derived cell per supernet epoch (there is nothing to "
                         "choose among)")
    warm_start_refusal = "proposes no random genomes to warm-start"
    options: ClassVar[OptionSchema] = OptionSchema(
        Option("epochs", 20, "supernet training epochs", low=1, high=100_000),
        Option("order", 1, "1: first-order DARTS; 2: second order (unrolled)"),
        Option("batch_size", 64, "supernet training batch size", low=2, high=65536),
        shared.lr(0.025, "the supernet weights' SGD learning rate (cosine-annealed)"),
        Option("lr_min", 0.001, "the weights' learning rate at the end of the schedule", low=0),
        Option("momentum", 0.9, "SGD momentum of the weights", low=0, high=1),
        Option("weight_decay", 0.0003, "weight decay of the weights", low=0),
        Option("grad_clip", 5.0, "gradient-norm clip of the weights", low=0),
        Option("alpha_lr", 0.0003, "Adam learning rate of the architecture weights", low=0,
               low_open=True),
        Option("alpha_weight_decay", 0.001, "weight decay of the architecture weights", low=0),
        Option("derive_every", 1, "derive (and propose) a cell every this many epochs", low=1),
        Option("collapse_fraction", 0.5, "stop when this fraction of edges collapse to skips",
               low=0, high=1, high_open=True),
        Option("device", "cpu", "torch device of the supernet (cpu, cuda, cuda:N or auto)"),
        Option("threads", 1, "torch threads of the supernet's training", low=1, high=1024),
        check=_check_options,
    )

    @classmethod
    def check_space(cls, space: SearchSpace, label: str) -> None:
        _check_space(space, label)

    @classmethod
    def label(cls, options: dict[str, Any]) -> str:
        return f"darts-{'2nd' if options.get('order') == 2 else '1st'}"

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, epochs: int = 20,
                 order: int = 1, batch_size: int = 64, lr: float = 0.025, lr_min: float = 0.001,
                 momentum: float = 0.9, weight_decay: float = 0.0003, grad_clip: float = 5.0,
                 alpha_lr: float = 0.0003, alpha_weight_decay: float = 0.001,
                 derive_every: int = 1, collapse_fraction: float = 0.5, device: str = "cpu",
                 threads: int = 1) -> None:
        super().__init__(space, rng)
        check_config({"order": order, "lr": lr, "lr_min": lr_min, "alpha_lr": alpha_lr,
                      "collapse_fraction": collapse_fraction, "batch_size": batch_size,
                      "device": device}, space)
        assert isinstance(space, NB201Space)
        self.epochs = epochs
        self.order = order
        self.batch_size = batch_size
        self.lr, self.lr_min = lr, lr_min
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.alpha_lr = alpha_lr
        self.alpha_weight_decay = alpha_weight_decay
        self.derive_every = derive_every
        self.collapse_fraction = collapse_fraction
        self.device = self.resolve_device(device)
        self.threads = threads
        self.epoch = 0  # epochs trained so far
        self.diverged = False  # the supernet's loss became NaN or infinite: the search ended
        self.last_told: int | None = None
        self._data: tuple[torch.Tensor, ...] | None = None
        self.net: Supernet | None = None

    # ----------------------------------------------------------------- task
    def bind_task(self, task_config: dict[str, Any]) -> None:
        """Build the task in this process and set up the supernet, its data and optimizers."""
        self._build_supernet(task_config)
        assert self.net is not None
        device = torch.device(self.device)
        init = 1e-3 * self.rng.standard_normal((len(NB201_EDGES), len(self.net.ops)))
        self.alphas = nn.Parameter(torch.tensor(init, dtype=torch.float32, device=device))
        self.w_optimizer = torch.optim.SGD(self.net.parameters(), lr=self.lr,
                                           momentum=self.momentum,
                                           weight_decay=self.weight_decay)
        self.a_optimizer = torch.optim.Adam([self.alphas], lr=self.alpha_lr, betas=(0.5, 0.999),
                                            weight_decay=self.alpha_weight_decay)

    # ----------------------------------------------------------------- contract
    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs or self.diverged

    def ask(self, n: int) -> list[Candidate]:
        if self.done or n < 1:
            return []
        if self.net is None:
            raise RuntimeError("darts: bind_task() must be called before ask() (the campaign "
                               "does it)")
        history = []
        start = time.perf_counter()
        with self._torch():
            while not self.done:
                history.append(self._train_epoch())
                if self.epoch % self.derive_every == 0:
                    break
            if self.device.startswith("cuda"):
                torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        genome = derive_genome(self.alphas, self.net.ops)
        skips = sum(e.op == "skip_connect" for e in genome.edges)
        record = {"op": "darts", "order": self.order, "epoch": self.epoch,
                  "ops": list(self.net.ops), "search_seconds": round(seconds, 4), "skips": skips,
                  "skip_collapse": skips > self.collapse_fraction * len(genome.edges),
                  "history": history}
        if self.diverged:
            record["diverged"] = True
        parents = () if self.last_told is None else (self.last_told,)
        return [Candidate(genome, parents, record, generation=self.epoch)]

    def tell(self, results: list[Evaluated]) -> None:
        for r in results:
            self.last_told = r.id

    # ----------------------------------------------------------------- search
    def _train_epoch(self) -> dict[str, Any]:
        assert self.net is not None and self._data is not None
        x_train, y_train, x_val, y_val = self._data
        lr = self.lr_min + 0.5 * (self.lr - self.lr_min) * \
            (1 + math.cos(math.pi * self.epoch / self.epochs))
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr
        train_order = torch.from_numpy(self.rng.permutation(len(x_train))).to(x_train.device)
        val_order = torch.from_numpy(self.rng.permutation(len(x_val))).to(x_val.device)
        loss_fn = nn.CrossEntropyLoss()
        start_alphas = self.alphas.detach().clone()
        self.net.train()
        totals = torch.zeros(4, device=x_train.device)  # train loss, correct, val loss, correct
        n_train = n_val = 0
        for step, begin in enumerate(range(0, len(x_train), self.batch_size)):
            batch = train_order[begin:begin + self.batch_size]
            if len(batch) < 2:  # batch norm cannot train on one sample
                continue
            v_begin = (step * self.batch_size) % len(x_val)
            v_batch = val_order[v_begin:v_begin + self.batch_size]
            if len(v_batch) < 2:
                v_batch = val_order[:self.batch_size]
            xt, yt, xv, yv = x_train[batch], y_train[batch], x_val[v_batch], y_val[v_batch]
            # architecture step on the validation batch
            self.a_optimizer.zero_grad(set_to_none=True)
            if self.order == 2:
                val_logits = self._unrolled_alpha_grad(xt, yt, xv, yv, lr, loss_fn)
            else:
                val_logits = self.net(xv, self.alphas)
                grad, = torch.autograd.grad(loss_fn(val_logits, yv), [self.alphas])
                self.alphas.grad = grad
            self.a_optimizer.step()
            # weight step on the train batch
            self.w_optimizer.zero_grad(set_to_none=True)
            logits = self.net(xt, self.alphas.detach())
            loss = loss_fn(logits, yt)
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
            self.w_optimizer.step()
            with torch.no_grad():
                totals += torch.stack([
                    loss.detach() * len(yt), (logits.argmax(1) == yt).sum().float(),
                    loss_fn(val_logits.detach(), yv) * len(yv),
                    (val_logits.detach().argmax(1) == yv).sum().float()])
            n_train += len(yt)
            n_val += len(yv)
        self.epoch += 1
        if not (torch.isfinite(totals).all() and torch.isfinite(self.alphas).all()):
            # the search cannot go on: derive from the alphas the epoch started with, and stop
            with torch.no_grad():
                self.alphas.copy_(start_alphas)
            self.diverged = True
            return {"epoch": self.epoch, "lr": round(lr, 6), "diverged": True,
                    "alphas": [[round(v, 6) for v in row] for row in self.alphas.tolist()]}
        train_loss, train_correct, val_loss, val_correct = totals.tolist()
        n_train, n_val = max(n_train, 1), max(n_val, 1)
        return {"epoch": self.epoch, "lr": round(lr, 6),
                "alphas": [[round(v, 6) for v in row] for row in self.alphas.tolist()],
                "train_loss": round(train_loss / n_train, 5),
                "train_accuracy": round(train_correct / n_train, 5),
                "val_loss": round(val_loss / n_val, 5),
                "val_accuracy": round(val_correct / n_val, 5)}

    def _unrolled_alpha_grad(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor,
                             yv: torch.Tensor, lr: float, loss_fn: nn.Module) -> torch.Tensor:
        """Set ``alphas.grad`` to DARTS' second-order gradient; return the validation logits.

        ``w' = w - lr * (momentum * buf + dL_train/dw + weight_decay * w)``; the gradient is
        ``dL_val(w', a)/da - lr * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 eps)`` with
        ``w+- = w +- eps * dL_val(w', a)/dw'`` and ``eps = 0.01 / |dL_val/dw'|``.
        """
        assert self.net is not None
        net = self.net
        names, params = zip(*net.named_parameters(), strict=True)
        # batch-norm statistics of the virtual steps must not touch the real network's
        buffers = {name: b.clone() for name, b in self.net.named_buffers()}

        def call(weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(net, {**weights, **buffers}, (x, self.alphas))

        train_loss = loss_fn(call(dict(zip(names, params, strict=True)), xt), yt)
        grads = torch.autograd.grad(train_loss, params)
        unrolled = {}
        with torch.no_grad():
            for name, p, g in zip(names, params, grads, strict=True):
                buf = self.w_optimizer.state.get(p, {}).get("momentum_buffer")
                step = g + self.weight_decay * p
                if buf is not None:
                    step = step + self.momentum * buf
                unrolled[name] = (p - lr * step).requires_grad_()
        val_logits = call(unrolled, xv)
        alpha_grad, *w_grads = torch.autograd.grad(loss_fn(val_logits, yv),
                                                   [self.alphas, *unrolled.values()])
        norm = torch.cat([g.reshape(-1) for g in w_grads]).norm()
        eps = FINITE_DIFFERENCE_SCALE / (norm + 1e-12)
        implicit = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                moved = {name: p + sign * eps * g
                         for name, p, g in zip(names, params, w_grads, strict=True)}
            loss = loss_fn(call(moved, xt), yt)
            implicit.append(torch.autograd.grad(loss, [self.alphas])[0])
        self.alphas.grad = alpha_grad - lr * (implicit[0] - implicit[1]) / (2 * eps)
        return val_logits

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(epoch=self.epoch, last_told=self.last_told, diverged=self.diverged)
        if self.net is not None:
            state.update(weights=encode_module(self.net), alphas=encode_tensor(self.alphas),
                         w_optimizer=encode_optimizer_state(self.w_optimizer),
                         a_optimizer=encode_optimizer_state(self.a_optimizer))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epoch = state["epoch"]
        self.last_told = state["last_told"]
        self.diverged = state.get("diverged", False)
        if "weights" in state:
            if self.net is None:
                raise RuntimeError("darts: bind_task() must be called before load_state_dict()")
            load_module(self.net, state["weights"])
            with torch.no_grad():
                self.alphas.copy_(decode_tensor(state["alphas"]))
            load_optimizer_state(self.w_optimizer, state["w_optimizer"])
            load_optimizer_state(self.a_optimizer, state["a_optimizer"])

    def summary(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

