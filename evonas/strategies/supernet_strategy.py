"""What the strategies that train a weight-sharing supernet share: DARTS, SPOS and ENAS.

Each trains :class:`~evonas.compiler.supernet.Supernet` over the nb201 cell in the campaign
process, on the train and validation splits of the campaign's task, which it builds itself in
:meth:`~evonas.strategies.base.Strategy.bind_task`.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

import torch

from evonas.compiler.supernet import Supernet
from evonas.errors import ConfigError
from evonas.evaluation.threads import torch_threads
from evonas.strategies.base import Strategy
from evonas.tasks import build_task
from genomes import NB201Space


class SupernetStrategy(Strategy):
    """Base class: task checks, the supernet's construction, and its torch context.

    Subclasses set ``device`` (a torch device string) and ``threads`` (torch intra-op threads
    while the supernet trains) in their constructors.
    """

    device: str
    threads: int
    net: Supernet | None
    _data: tuple[torch.Tensor, ...] | None

    @staticmethod
    def resolve_device(device: str) -> str:
        """``auto``: the first GPU when there is one, else the CPU; any other value as it is."""
        if device == "auto":
            return "cuda:0" if torch.cuda.is_available() else "cpu"
        return device

    @classmethod
    def check_task(cls, task: Any) -> None:
        """Only tasks with train and validation splits can train a supernet.

        Raises:
            ConfigError: naming ``task.name`` for a task without training data.
        """
        if getattr(task, "splits", None) is None:
            raise ConfigError(f"task.name: {cls.name} trains a supernet on the task's train and "
                              f"validation splits; task {task.name!r} has none (use a "
                              "classification task such as digits)")

    def _build_supernet(self, task_config: dict[str, Any]) -> Any:
        """Build the task here, copy its train and validation splits to the device
        (``self._data``) and make the supernet (``self.net``), its weights seeded by one draw
        from the strategy's generator. Returns the task."""
        task = build_task(task_config, self.space)
        self.check_task(task)
        splits = cast(Any, task).splits  # check_task made sure the task has them
        device = torch.device(self.device)
        self._data = tuple(torch.from_numpy(a).to(device) for a in
                           (splits.x_train, splits.y_train, splits.x_val, splits.y_val))
        seed = int(self.rng.integers(2**31))
        assert isinstance(self.space, NB201Space)
        with self._torch(), torch.random.fork_rng(devices=self._fork_devices()):
            torch.manual_seed(seed)
            self.net = Supernet(self.space, int(splits.x_train.shape[1]),
                                int(cast(int, task.num_classes))).to(device)
        return task

    def _torch(self) -> contextlib.AbstractContextManager[None]:
        return torch_threads(self.threads)

    def _fork_devices(self) -> list[int]:
        dev = torch.device(self.device)
        return [dev.index or 0] if dev.type == "cuda" else []
