"""HyperNEAT on the 8x8 digits: a CPPN paints a substrate network, no gradient training.

The substrate has an 8x8 input grid (one node per pixel), optional hidden grids and a row of ten
output nodes (:class:`~genomes.substrate.Substrate`); the CPPN genome (space ``neat`` with 4
inputs, ``(x1, y1, x2, y2)``, and 2 outputs per layer pair, weight and bias) paints every weight
and bias. By default the painted network is scored as is (pure HyperNEAT): fitness is measured
on the train split (the ``fitness`` option: ``accuracy``, or ``likelihood``, the mean
probability the network's softmax gives the right class, which is smoother to climb);
validation and test accuracy are reported and never used to select.

With ``train_steps > 0`` the painting is only the starting point: every network then takes that
many full-batch Adam steps on the train split (the whole population at once, each network's
update independent of the others) and fitness is validation accuracy, as in the ``digits``
task. Config::

    space: {name: neat, num_inputs: 4, num_outputs: 4, activations: [sigmoid, tanh, sin, gauss]}
    task:
      name: digits_hyperneat
      hidden: [5, 5]         # hidden grid rows, cols ([] for none)
      threshold: 0.2         # expression threshold
      max_weight: 3.0

:meth:`HyperNEATDigitsTask.evaluate_batch` paints and scores a whole generation in a few tensor
calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from evonas.tasks.base import Task
from evonas.tasks.classification import SPLIT_DEFAULTS, make_splits, split_fractions
from evonas.tasks.digits import load_digits_arrays
from evonas.tasks.options import read_options, require
from genomes import CPPNGenome, NEATSpace, SearchSpace
from genomes.substrate import Substrate

HYPERNEAT_DIGITS_DEFAULTS: dict[str, Any] = {
    **SPLIT_DEFAULTS,
    "hidden": [5, 5],
    "threshold": 0.2,
    "max_weight": 3.0,
    "hidden_activation": "tanh",
    "fitness": "likelihood",
    "train_steps": 0,
    "lr": 0.05,
    "target": None,
}
FITNESS_KINDS = ("accuracy", "likelihood")


class HyperNEATDigitsTask(Task[CPPNGenome]):
    """Digits classified by a HyperNEAT substrate.

    Metrics: ``fitness``, ``train_accuracy``, ``train_likelihood``, ``val_accuracy``,
    ``test_accuracy``, ``expressed`` (connections whose weight is not zero), ``hidden_nodes``
    and ``connections`` (of the CPPN).

    Args:
        substrate: the substrate (input layer of 64 nodes, output layer of 10).
        hidden_activation: activation of the hidden layers (``tanh``, ``relu``, ``sigmoid``).
        fitness: ``accuracy`` or ``likelihood`` on the train split (ignored when training).
        train_steps: full-batch Adam steps from the painted weights (0: none).
        lr: Adam's learning rate.
        split_seed: seeds the stratified split.
        fractions: ``(train, val, test)`` fractions.
        target: the fitness that counts as solved (None: none).
    """

    name = "digits_hyperneat"
    num_classes = 10
    input_shape = (1, 8, 8)

    def __init__(self, substrate: Substrate, hidden_activation: str = "tanh",
                 fitness: str = "likelihood", split_seed: int = 0,
                 fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                 target: float | None = None, train_steps: int = 0, lr: float = 0.05) -> None:
        self.substrate = substrate
        self.hidden_activation = hidden_activation
        self.train_steps = train_steps
        self.lr = lr
        self.fitness_metric = "val_accuracy" if train_steps else f"train_{fitness}"
        self.target = target
        x, y = load_digits_arrays()
        self.splits = make_splits(x, y, fractions, split_seed)
        self._tensors: dict[str, dict[str, Any]] = {}

    def warm_up(self, device: str = "cpu") -> None:
        """Import torch and copy the data to ``device``."""
        self._data(device)

    def _train(self, painting: list, x: Any, y: Any) -> list:
        return _train_population(painting, x, y, self.train_steps, self.lr,
                                 self.hidden_activation)

    def _data(self, device: str) -> dict[str, Any]:
        import torch  # local: torch loads in the worker, not with the package

        data = self._tensors.get(device)
        if data is None:
            s = self.splits
            data = {name: (torch.from_numpy(x).reshape(len(x), -1).to(device),
                           torch.from_numpy(y).to(device))
                    for name, x, y in (("train", s.x_train, s.y_train), ("val", s.x_val, s.y_val),
                                       ("test", s.x_test, s.y_test))}
            self._tensors[device] = data
        return data

    def evaluate(self, genome: CPPNGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Paint and score one genome (deterministic; ``seed`` is unused)."""
        return self.evaluate_batch([genome], [seed], device)[0]

    def evaluate_batch(self, genomes: Sequence[CPPNGenome], seeds: Sequence[int],
                       device: str = "cpu") -> list[dict[str, float]]:
        """Paint and score a population in one batched program (one torch thread)."""
        # Local: torch loads in the worker, not with the package.
        from evonas.evaluation.threads import torch_threads

        with torch_threads(1):  # small, memory-bound tensors: extra threads only contend
            return self._evaluate_batch(genomes, device)

    def _evaluate_batch(self, genomes: Sequence[CPPNGenome], device: str
                        ) -> list[dict[str, float]]:
        import torch  # local: torch loads in the worker, not with the package

        from evonas.compiler.hyperneat import forward_population, paint_population

        data = self._data(device)
        with torch.no_grad():
            painting = paint_population(genomes, self.substrate, device)
        if self.train_steps:
            painting = self._train(painting, *data["train"])
        with torch.no_grad():
            expressed = cast(torch.Tensor,
                             sum((w != 0).sum(dim=(1, 2)) for w, _ in painting)).tolist()
            scores: dict[str, list[float]] = {}
            for split, (x, y) in data.items():
                logits = forward_population(painting, x, self.hidden_activation)
                correct = (logits.argmax(-1) == y).float().mean(-1)
                scores[f"{split}_accuracy"] = correct.tolist()
                if split == "train":
                    probs = torch.softmax(logits, -1)
                    index = y.view(1, -1, 1).expand(len(genomes), -1, 1)
                    scores["train_likelihood"] = probs.gather(2, index).mean((1, 2)).tolist()
        out = []
        for p, genome in enumerate(genomes):
            metrics = {key: values[p] for key, values in scores.items()}
            metrics["fitness"] = metrics[self.fitness_metric]
            metrics["expressed"] = int(expressed[p])
            metrics["hidden_nodes"] = len(genome.hidden_ids)
            metrics["connections"] = len(genome.enabled_connections)
            out.append(metrics)
        return out


def _train_population(painting: list, x: Any, y: Any, steps: int, lr: float,
                      hidden_activation: str) -> list:
    """Full-batch Adam from the painted weights; each network's loss and update are its own."""
    import torch  # local: torch loads in the worker, not with the package
    from torch.nn import functional

    from evonas.compiler.hyperneat import forward_population

    params = [(w.clone().requires_grad_(True), b.clone().requires_grad_(True))
              for w, b in painting]
    masks = [(w != 0).to(w.dtype) for w, _ in painting]  # unexpressed connections stay absent
    optimizer = torch.optim.Adam([t for pair in params for t in pair], lr=lr)
    population = params[0][0].shape[0]
    targets = y.repeat(population)
    for _ in range(steps):
        masked = [(w * m, b) for (w, b), m in zip(params, masks, strict=True)]
        logits = forward_population(masked, x, hidden_activation)
        # the sum over networks of each one's mean loss: gradients stay per network
        loss = functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets,
                                        reduction="sum") / x.shape[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [((w * m).detach(), b.detach()) for (w, b), m in zip(params, masks, strict=True)]


def make_hyperneat_digits_task(task_config: dict[str, Any],
                               space: SearchSpace) -> HyperNEATDigitsTask:
    """The registry factory for ``name: digits_hyperneat``."""
    options = read_options("digits_hyperneat", task_config, HYPERNEAT_DIGITS_DEFAULTS)
    hidden = options["hidden"]
    require(len(hidden) in (0, 2) and all(isinstance(v, int) and v > 0 for v in hidden),
            "hidden", f"must be [rows, cols] of positive integers or [], got {hidden!r}")
    require(0 <= options["threshold"] < 1, "threshold", "must be in [0, 1)")
    require(options["max_weight"] > 0, "max_weight", "must be positive")
    require(options["hidden_activation"] in ("tanh", "relu", "sigmoid"), "hidden_activation",
            f"choose tanh, relu or sigmoid, got {options['hidden_activation']!r}")
    require(options["fitness"] in FITNESS_KINDS, "fitness",
            f"choose one of {list(FITNESS_KINDS)}, got {options['fitness']!r}")
    target = options["target"]
    require(target is None or isinstance(target, int | float) and not isinstance(target, bool),
            "target", f"must be a number, got {target!r}")
    require(options["train_steps"] >= 0, "train_steps", "must be 0 or more")
    require(options["lr"] > 0, "lr", "must be positive")
    shapes = [(8, 8), *([tuple(hidden)] if hidden else []), (1, 10)]
    substrate = Substrate.grids(shapes, options["threshold"], options["max_weight"])
    require(isinstance(space, NEATSpace), "name",
            f"digits_hyperneat evolves CPPN genomes; it needs space.name: neat, "
            f"got {space.name!r}")
    assert isinstance(space, NEATSpace)
    require(space.num_inputs == substrate.cppn_inputs
            and space.num_outputs == substrate.cppn_outputs, "hidden",
            f"this substrate needs space.num_inputs: {substrate.cppn_inputs} and "
            f"space.num_outputs: {substrate.cppn_outputs} (got {space.num_inputs} and "
            f"{space.num_outputs})")
    return HyperNEATDigitsTask(substrate, options["hidden_activation"], options["fitness"],
                               options["split_seed"], split_fractions(options), target,
                               options["train_steps"], options["lr"])
