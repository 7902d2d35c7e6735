"""Score genomes by zero-cost proxies instead of training them (``name: proxy``).

It wraps a dataset task (``digits``, ``idx``, ``npz``, ``image_folder``, ``cifar``: anything
that holds train/validation/test splits) and, for each genome, compiles the network with weights
drawn from the evaluation seed, takes one fixed batch of the inner task's *train* split and
computes the chosen proxies of :mod:`evonas.proxies` on it. Nothing is trained: an evaluation
costs one or two forward and backward passes. Config::

    task:
      name: proxy
      inner: {name: digits}           # the dataset (its recipe is not used)
      proxies: [naswot, synflow]      # any of synflow, naswot, snip, grad_norm, jacov
      fitness: naswot                 # one of the proxies, or params / flops
      batch_size: 64                  # images in the batch (at least 2)
      batch_seed: 0                   # which images: a stratified draw, the same every time
      train: false                    # true: also train with the inner task's recipe

Metrics: every listed proxy, ``params``, ``flops`` (NAS-Bench-201's convention, see
:func:`evonas.proxies.count_flops`), ``proxy_seconds`` and ``fitness`` (a copy of the ``fitness``
proxy). A proxy that comes out non-finite (``naswot`` of a network whose ReLU codes cannot tell
two images apart, ``jacov`` of one whose output ignores its input) is left out of the metrics, so
an objective on it sees a missing value; when it is the fitness proxy the evaluation fails with
that reason.

The batch is the same for every evaluation (drawn by ``batch_seed`` among the distinct images of
the train split, each class in proportion), so differences between genomes come from the
architecture and the seed's initialisation, not from the data.

How proxies serve a search:

* **As objectives.** Every proxy is a metric, so NSGA-II can trade them off, e.g.
  ``objectives: [{metric: naswot, goal: max}, {metric: flops, goal: min}]``. With
  ``train: true`` the network is then trained by the inner task's recipe from the same seed (the
  proxies describe the weights training starts from) and its metrics, ``fitness`` included, are
  the inner task's: ``objectives: [{metric: fitness, goal: max}, {metric: synflow, goal:
  max}]`` trades trained accuracy against a proxy.
* **As a pre-screen and a warm start** of any campaign: the ``prescreen:`` and ``warm_start:``
  sections (:mod:`evonas.strategies.prescreen`) score what the strategy proposes and train only
  the best.
* **As a two-stage search**: run a proxy campaign (thousands of evaluations cost minutes), then
  ``evonas train RUN --top K --task real.yaml`` retrains the K best genomes with the real recipe.
"""

from __future__ import annotations

import math
import time
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np

from evonas.proxies.names import COST_NAMES, METRIC_NAMES, PROXY_NAMES
from evonas.tasks.base import Task
from evonas.tasks.classification import ClassificationTask, stratified_subset
from evonas.tasks.errors import EvaluationFailure, TaskError
from evonas.tasks.options import read_options, require, suggest
from evonas.tasks.registry import build_inner_task

if TYPE_CHECKING:
    from genomes import DAGGenome, SearchSpace

PROXY_DEFAULTS: dict[str, Any] = {
    "inner": {"name": "digits"},
    "proxies": list(PROXY_NAMES),
    "fitness": "naswot",
    "batch_size": 64,
    "batch_seed": 0,
    "train": False,
}

_BATCH_SALT = zlib.crc32(b"proxy-batch")


def distinct_rows(x: np.ndarray) -> np.ndarray:
    """Sorted indices of the first occurrence of every distinct sample of ``x`` (duplicates make
    NASWOT's kernel singular)."""
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    _, first = np.unique(flat, axis=0, return_index=True)
    return np.sort(first)


class ProxyTask(Task["DAGGenome"]):
    """Zero-cost proxies of an untrained network on one batch of ``inner``'s train split.

    Args:
        inner: the dataset task whose data (and input shape and classes) are used.
        proxies: the proxies to compute, from :data:`~evonas.proxies.names.PROXY_NAMES`.
        fitness: the proxy (or ``params`` / ``flops``) that ``fitness`` copies.
        batch_size: images in the batch (at least 2, at most the distinct training images).
        batch_seed: seeds which images form the batch.
        train: also train the network with ``inner``'s recipe; its metrics (and fitness) are
            then the inner task's, with the proxies beside them.

    Raises:
        TaskError: naming ``task.proxies``, ``task.fitness`` or ``task.batch_size``.
    """

    name = "proxy"
    input_shape: tuple[int, int, int]
    num_classes: int

    def __init__(self, inner: ClassificationTask, proxies: list[str], fitness: str = "naswot",
                 batch_size: int = 64, batch_seed: int = 0, train: bool = False) -> None:
        self.proxies = check_proxies(proxies)
        self.train = train
        require(train or fitness in (*self.proxies, *COST_NAMES), "fitness",
                f"must be one of the listed proxies {self.proxies} or {list(COST_NAMES)}, got "
                f"{fitness!r}{suggest(str(fitness), METRIC_NAMES)}")
        splits = inner.splits
        candidates = distinct_rows(splits.x_train)
        require(isinstance(batch_size, int) and 2 <= batch_size <= len(candidates), "batch_size",
                f"must be between 2 and the {len(candidates)} distinct training images, "
                f"got {batch_size!r}")
        chosen = candidates[stratified_subset(splits.y_train[candidates], batch_size,
                                              [batch_seed, _BATCH_SALT])]
        self.inner = inner
        self.space = inner.space
        self.fitness_metric = inner.fitness_metric if train else fitness
        self.input_shape = inner.input_shape
        self.num_classes = inner.num_classes
        self.batch_size = batch_size
        self.batch_seed = batch_seed
        self.batch_x = np.ascontiguousarray(splits.x_train[chosen])
        self.batch_y = np.ascontiguousarray(splits.y_train[chosen])
        self._tensors: dict[str, Any] = {}

    def warm_up(self, device: str = "cpu") -> None:
        """Import torch, the compiler and the proxies and copy the batch to ``device``."""
        import evonas.proxies.measures  # noqa: F401 (the import is the warm-up)

        self._batch(device)

    @property
    def accepts_plan(self) -> bool:
        """A training proxy task keeps, continues and inherits weights as its inner task does."""
        return self.train

    @property
    def scales_batch(self) -> bool:
        """A training proxy task halves its inner task's batch on out-of-memory retries."""
        return self.train

    def evaluate(self, genome: DAGGenome, seed: int, device: str = "cpu", *,
                 batch_scale: float = 1.0, plan: Any = None) -> dict[str, float]:
        """Compile ``genome`` with weights from ``seed`` and compute the proxies on the batch;
        with ``train``, then train it with the inner task (``batch_scale`` and ``plan`` go to
        it) and return its metrics with the proxies.

        Raises:
            EvaluationFailure: when the fitness proxy is not a finite number.
        """
        import torch  # local: torch loads in the worker, not with the package

        from evonas.compiler import compile_genome
        from evonas.proxies.measures import compute_proxies

        dev = torch.device(device)
        fork_devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            model = compile_genome(genome, self.space, self.input_shape, self.num_classes)
        model = model.to(dev)
        x, y = self._batch(device)
        start = time.perf_counter()
        values = compute_proxies(model, x, y, [*self.proxies, *COST_NAMES])
        metrics = {name: value for name, value in values.items() if math.isfinite(value)}
        metrics["proxy_seconds"] = round(time.perf_counter() - start, 4)
        if self.train:
            del model  # the inner task compiles the same network from the same seed
            return {**metrics, **self.inner.evaluate(genome, seed, device,
                                                     batch_scale=batch_scale, plan=plan)}
        fitness = values[self.fitness_metric]
        if not math.isfinite(fitness):
            raise EvaluationFailure(f"proxy {self.fitness_metric} is not finite ({fitness})")
        metrics["fitness"] = fitness
        return metrics

    def _batch(self, device: str) -> tuple[Any, Any]:
        """The batch as tensors on ``device``, copied once per device."""
        import torch

        batch = self._tensors.get(device)
        if batch is None:
            batch = self._tensors[device] = (torch.from_numpy(self.batch_x).to(device),
                                             torch.from_numpy(self.batch_y).to(device))
        return batch

    def describe(self) -> str:
        return (f"proxy {', '.join(self.proxies)} (fitness = {self.fitness_metric}) on "
                f"{self.batch_size} training images of {self.inner.describe()}")


def check_proxies(proxies: Any) -> list[str]:
    """The ``proxies`` option checked: a non-empty list of distinct known proxy names.

    Raises:
        TaskError: naming ``task.proxies``.
    """
    require(isinstance(proxies, list) and len(proxies) > 0, "proxies",
            f"must be a non-empty list of proxy names from {list(PROXY_NAMES)}, got {proxies!r}")
    for name in proxies:
        require(isinstance(name, str) and name in PROXY_NAMES, "proxies",
                f"unknown proxy {name!r}{suggest(str(name), PROXY_NAMES)} "
                f"(choose from {list(PROXY_NAMES)}; params and flops are always reported)")
    require(len(set(proxies)) == len(proxies), "proxies", f"lists a proxy twice: {proxies}")
    return list(proxies)


def make_proxy_task(task_config: dict[str, Any], space: SearchSpace) -> ProxyTask:
    """The registry factory for ``name: proxy``."""
    options = read_options("proxy", task_config, PROXY_DEFAULTS)
    proxies = check_proxies(options["proxies"])
    inner = build_inner_task(options["inner"], space)
    if not isinstance(inner, ClassificationTask):
        raise TaskError(f"task.inner.name: the proxy task needs a dataset task (digits, idx, "
                        f"npz, image_folder, cifar...), got {inner.name!r}")
    require(isinstance(options["train"], bool), "train",
            f"must be true or false, got {options['train']!r}")
    return ProxyTask(inner, proxies, options["fitness"], options["batch_size"],
                     options["batch_seed"], options["train"])
