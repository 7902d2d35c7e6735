"""ENAS, Pham et al. 2018, "Efficient Neural Architecture Search via Parameter Sharing", on the
NB201 cell space.

The controller is REINFORCE's LSTM policy (:class:`~evonas.strategies.reinforce.Reinforce`, run
inside this strategy: same decisions, moving-average baseline, normalised advantages, entropy
bonus). Every epoch alternates two phases, as in the paper:

1. **Shared weights.** One pass over the task's train split; every batch trains the weight-sharing
   supernet (:mod:`evonas.strategies.one_shot`) on the path of a child **sampled from the
   controller** (SGD with momentum, cosine-annealed over all epochs).
2. **Controller.** ``controller_steps`` policy updates, each on ``controller_batch`` children
   sampled from the policy, each child's reward its accuracy with the shared weights on one
   validation batch (``batch_size`` images, normalised with the batch's own statistics).

After the last epoch ``samples`` children are drawn from the trained policy; the distinct ones
are ranked by supernet accuracy (the whole validation split, batch norm recalibrated) and the
``top_k`` best are proposed, best first, for training from scratch with the task's recipe.

Shared-weight training, controller updates and the final scoring are timed together and count as
device-seconds (``search_seconds`` in the first candidate's record). Config::

    strategy:
      name: enas
      epochs: 30
      controller_steps: 5
      controller_batch: 8
      samples: 100
      top_k: 10
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from evonas.evaluation.threads import torch_threads
from evonas.options import Option, OptionSchema
from evonas.strategies.base import Evaluated, dag_genome
from evonas.strategies.one_shot import OneShotStrategy, check_options, supernet_options
from evonas.strategies.reinforce import Reinforce
from genomes import DAGGenome, SearchSpace


class ENAS(OneShotStrategy):
    """Efficient NAS by parameter sharing (see the module docstring for the algorithm).

    Args:
        space: the ``nb201`` space.
        rng: the strategy's generator: initial weights (supernet and controller), batch orders,
            every sampled child.
        epochs: epochs of alternating shared-weight and controller training.
        controller_steps: controller updates per epoch.
        controller_batch: children (rewards) per controller update.
        controller_lr: Adam step size of the controller.
        hidden_size: width of the controller's LSTM.
        entropy_weight: weight of the policy-entropy bonus (in normalised-advantage units).
        baseline_decay: the moving-average baseline keeps this fraction per reward.
        samples: children drawn from the final policy and scored on the supernet.
        **supernet: the supernet's training and scoring options (see
            :class:`~evonas.strategies.one_shot.OneShotStrategy`).
    """

    name = "enas"
    record_op = "enas"
    options: ClassVar[OptionSchema] = OptionSchema(
        *supernet_options(30),
        Option("controller_steps", 5, "controller updates per epoch", low=0, high=1_000_000),
        Option("controller_batch", 8, "children (rewards) per controller update", low=1,
               high=65536),
        Option("controller_lr", 0.01, "Adam step size of the controller", low=0,
               low_open=True),
        Option("hidden_size", 64, "width of the controller's LSTM and embeddings", low=1,
               high=4096),
        Option("entropy_weight", 0.1, "weight of the policy-entropy bonus", low=0),
        Option("baseline_decay", 0.9, "fraction of the moving-average baseline kept per reward",
               low=0, high=1, high_open=True),
        Option("samples", 100, "children drawn from the final policy and scored on the supernet",
               low=1, high=1_000_000),
        check=check_options,
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, epochs: int = 30,
                 controller_steps: int = 5, controller_batch: int = 8,
                 controller_lr: float = 0.01, hidden_size: int = 64,
                 entropy_weight: float = 0.1, baseline_decay: float = 0.9, samples: int = 100,
                 **supernet: Any) -> None:
        super().__init__(space, rng, epochs=epochs, **supernet)
        self.controller_steps = controller_steps
        self.controller_batch = controller_batch
        self.samples = samples
        self.policy = Reinforce(space, rng, hidden_size=hidden_size, lr=controller_lr,
                                batch_size=controller_batch, baseline_decay=baseline_decay,
                                entropy_weight=entropy_weight, normalize=True)
        self._val_cursor = 0
        self._val_order: torch.Tensor | None = None

    # ----------------------------------------------------------------- search
    def sample_child(self) -> tuple[int, ...]:
        """The path of a child drawn from the current policy."""
        with torch_threads(1):
            choices = self.policy.controller.sample(self.rng)
        return self.path(self.policy.encoding.decode(choices).genome)

    def _val_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``batch_size`` validation images of a permutation redrawn every pass."""
        assert self._data is not None
        x_val, y_val = self._data[2:]
        size = min(self.batch_size, len(x_val))
        if self._val_order is None or self._val_cursor + size > len(x_val):
            self._val_order = torch.from_numpy(self.rng.permutation(len(x_val))).to(x_val.device)
            self._val_cursor = 0
        batch = self._val_order[self._val_cursor:self._val_cursor + size]
        self._val_cursor += size
        return x_val[batch], y_val[batch]

    def _train_controller(self) -> float | None:
        """``controller_steps`` policy updates; the mean reward, or None without any."""
        rewards = []
        for _ in range(self.controller_steps):
            children = self.policy.ask(self.controller_batch)
            told = []
            for index, child in enumerate(children):
                x, y = self._val_batch()
                reward = self._batch_correct(self.path(child.genome), x, y) / len(y)
                rewards.append(reward)
                told.append(Evaluated(index, child.genome, reward))
            self.policy.tell(told)
        return float(np.mean(rewards)) if rewards else None

    def _search(self) -> tuple[list[tuple[DAGGenome, float]], dict[str, Any]]:
        history = []
        for _ in range(self.epochs):
            epoch = self._train_epoch(self.sample_child)
            reward = self._train_controller()
            epoch["mean_reward"] = None if reward is None else round(reward, 5)
            history.append(epoch)
        children = []
        with torch_threads(1):
            for _ in range(self.samples):
                choices = self.policy.controller.sample(self.rng)
                children.append(dag_genome(self.policy.encoding.decode(choices).genome,
                                           self.name))
        ranking = self.rank(children)
        return ranking, {"history": history, "distinct": len(ranking),
                         "policy_updates": self.policy.updates}
