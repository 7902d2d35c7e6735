"""Cheap CPPN tasks of the NEAT literature: XOR and cart-pole balancing (no gym needed).

Both score a :class:`~genomes.CPPNGenome` directly (no training); both are deterministic, so the
``seed`` is unused. Each declares a ``target`` fitness (the config key ``task.target``); a
campaign can stop when a result reaches it.

* ``xor``: fitness ``4 - sum of squared errors`` over the four patterns (neat-python's
  definition; the NEAT paper's solved threshold corresponds to ``target: 3.9``).
  :meth:`XORTask.evaluate_batch` scores a whole generation in one tensor program
  (:class:`~evonas.compiler.cppn.PopulationCPPN`).
* ``pole``: single or double pole balancing on a cart, with or without velocity inputs (the
  Markovian and non-Markovian variants). The equations, constants, input scaling and the
  Runge-Kutta integration (two RK4 steps of 0.01 s per network activation) are those of the NEAT
  and ESP experiments (Wieland 1991; Stanley & Miikkulainen 2002). Fitness is the number of steps
  before the cart leaves the 4.8 m track or a pole falls past ``failure_angle`` degrees, up to
  ``max_steps`` (100,000 steps, 33 simulated minutes, is "balanced"). The network's first output
  ``o`` pushes with force ``10 * clip(2o - 1, -1, 1)`` newtons (NEAT's ``(o - 0.5) * 20`` for a
  sigmoid output).

Config::

    task:
      name: pole
      poles: 2
      velocities: true
      max_steps: 100000
      target: 100000
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evonas.tasks.base import Task
from evonas.tasks.options import read_options, require
from genomes import CPPNGenome, NEATSpace, SearchSpace

XOR_DEFAULTS: dict[str, Any] = {"target": 3.9}
POLE_DEFAULTS: dict[str, Any] = {
    "poles": 2,
    "velocities": True,
    "max_steps": 100_000,
    "failure_angle": 36.0,
    "target": None,
}

XOR_INPUTS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
XOR_TARGETS = (0.0, 1.0, 1.0, 0.0)


def _require_neat(space: SearchSpace, task: str, inputs: int, outputs: int) -> NEATSpace:
    require(isinstance(space, NEATSpace), "name",
            f"the {task} task scores CPPN genomes; it needs space.name: neat, "
            f"got {space.name!r}")
    assert isinstance(space, NEATSpace)
    require(space.num_inputs == inputs, "name",
            f"the {task} task feeds {inputs} inputs; set space.num_inputs: {inputs} "
            f"(got {space.num_inputs})")
    require(space.num_outputs >= outputs, "name",
            f"the {task} task reads {outputs} output(s); set space.num_outputs: {outputs}")
    return space


def _structure_metrics(genome: CPPNGenome) -> dict[str, float]:
    return {"hidden_nodes": len(genome.hidden_ids),
            "connections": len(genome.enabled_connections)}


# --------------------------------------------------------------------------- XOR
class XORTask(Task):
    """XOR with a 2-input, 1-output CPPN.

    Args:
        target: the fitness that counts as solved (None: none).
    """

    name = "xor"
    fitness_metric = "fitness"

    def __init__(self, target: float | None = 3.9) -> None:
        self.target = target

    def evaluate(self, genome: CPPNGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Score one genome with the float-code form of the CPPN."""
        from evonas.compiler.cppn import cppn_function

        net = cppn_function(genome)
        outputs = [net(x)[0] for x in XOR_INPUTS]
        return self._metrics(genome, outputs)

    def evaluate_batch(self, genomes: Sequence[CPPNGenome], seeds: Sequence[int],
                       device: str = "cpu") -> list[dict[str, float]]:
        """Score a whole population in one tensor program (float64)."""
        import torch

        from evonas.compiler.cppn import PopulationCPPN, torch_threads

        program = PopulationCPPN(genomes, device, torch.float64)
        with torch_threads(1):  # tiny tensors: extra threads only add synchronisation
            out = program(torch.tensor(XOR_INPUTS, dtype=torch.float64))[:, :, 0].cpu().tolist()
        return [self._metrics(g, o) for g, o in zip(genomes, out, strict=True)]

    def _metrics(self, genome: CPPNGenome, outputs: Sequence[float]) -> dict[str, float]:
        errors = [o - t for o, t in zip(outputs, XOR_TARGETS, strict=True)]
        sse = sum(e * e for e in errors)
        if not math.isfinite(sse):
            sse = 4.0
        solved = all(abs(e) < 0.5 for e in errors)
        return {"fitness": 4.0 - sse, "sse": sse, "solved": float(solved),
                **_structure_metrics(genome)}


def make_xor_task(task_config: dict[str, Any], space: SearchSpace) -> XORTask:
    """The registry factory for ``name: xor``."""
    options = read_options("xor", task_config, XOR_DEFAULTS)
    _require_neat(space, "xor", 2, 1)
    return XORTask(options["target"])


# --------------------------------------------------------------------------- cart-pole
GRAVITY = -9.8
MASS_CART = 1.0
MASS_POLE = (0.1, 0.01)
HALF_LENGTH = (0.5, 0.05)
FORCE_MAG = 10.0
TAU = 0.01
MUP = 0.000002  # pole hinge friction
TRACK_LIMIT = 2.4
START_ANGLE = 0.07  # the long pole starts about 4 degrees off vertical


class CartPole:
    """A cart with one or two poles hinged on it (state ``x, x', th1, th1', th2, th2'``).

    Args:
        poles: 1 or 2 (the second pole is the short one).
        failure_angle: degrees from vertical at which a pole has fallen.
    """

    def __init__(self, poles: int = 2, failure_angle: float = 36.0) -> None:
        self.poles = poles
        self.limit = math.radians(failure_angle)
        self.state = [0.0, 0.0, START_ANGLE, 0.0, 0.0, 0.0]

    def _accel(self, force: float, s: Sequence[float]) -> tuple[float, float, float]:
        """Cart and pole accelerations (Wieland's equations, as in NEAT's cart-pole code)."""
        m1, m2 = MASS_POLE
        l1, l2 = HALF_LENGTH
        cos1, sin1 = math.cos(s[2]), math.sin(s[2])
        ml1 = l1 * m1
        temp1 = MUP * s[3] / ml1
        g1 = GRAVITY * sin1
        fi = ml1 * s[3] * s[3] * sin1 + 0.75 * m1 * cos1 * (temp1 + g1)
        mi = m1 * (1.0 - 0.75 * cos1 * cos1)
        if self.poles == 2:
            cos2, sin2 = math.cos(s[4]), math.sin(s[4])
            ml2 = l2 * m2
            temp2 = MUP * s[5] / ml2
            g2 = GRAVITY * sin2
            fi += ml2 * s[5] * s[5] * sin2 + 0.75 * m2 * cos2 * (temp2 + g2)
            mi += m2 * (1.0 - 0.75 * cos2 * cos2)
        x_acc = (force + fi) / (mi + MASS_CART)
        th1_acc = -0.75 * (x_acc * cos1 + g1 + temp1) / l1
        th2_acc = -0.75 * (x_acc * cos2 + g2 + temp2) / l2 if self.poles == 2 else 0.0
        return x_acc, th1_acc, th2_acc

    def _derivs(self, force: float, s: Sequence[float]) -> list[float]:
        a = self._accel(force, s)
        return [s[1], a[0], s[3], a[1], s[5], a[2]]

    def step(self, force: float) -> None:
        """Advance 0.02 s: two fourth-order Runge-Kutta steps of 0.01 s under ``force``."""
        for _ in range(2):
            y = self.state
            k1 = self._derivs(force, y)
            k2 = self._derivs(force, [v + 0.5 * TAU * d for v, d in zip(y, k1, strict=True)])
            k3 = self._derivs(force, [v + 0.5 * TAU * d for v, d in zip(y, k2, strict=True)])
            k4 = self._derivs(force, [v + TAU * d for v, d in zip(y, k3, strict=True)])
            self.state = [v + TAU / 6.0 * (a + 2.0 * b + 2.0 * c + d)
                          for v, a, b, c, d in zip(y, k1, k2, k3, k4, strict=True)]

    def failed(self) -> bool:
        """Whether the cart left the track or a pole fell."""
        s = self.state
        return (not abs(s[0]) <= TRACK_LIMIT or not abs(s[2]) <= self.limit
                or (self.poles == 2 and not abs(s[4]) <= self.limit))

    def observation(self, velocities: bool) -> list[float]:
        """The network inputs, scaled as in NEAT's experiments."""
        s = self.state
        if velocities:
            obs = [s[0] / 4.8, s[1] / 2.0, s[2] / 0.52, s[3] / 2.0]
            if self.poles == 2:
                obs += [s[4] / 0.52, s[5] / 2.0]
            return obs
        obs = [s[0] / 4.8, s[2] / 0.52]
        if self.poles == 2:
            obs.append(s[4] / 0.52)
        return obs


def pole_inputs(poles: int, velocities: bool) -> int:
    """How many inputs the pole task feeds the network."""
    return (2 * (poles + 1)) if velocities else poles + 1


class PoleTask(Task):
    """Pole balancing; fitness = steps balanced (at most ``max_steps``).

    Args:
        poles: 1 or 2.
        velocities: whether the network sees velocities (Markovian) or only positions and angles
            (non-Markovian: it needs recurrent connections, ``space.recurrent: true``).
        max_steps: the episode's length limit.
        failure_angle: degrees at which a pole counts as fallen.
        target: the fitness that counts as solved, usually ``max_steps`` (None: none).
    """

    name = "pole"
    fitness_metric = "steps"

    def __init__(self, poles: int = 2, velocities: bool = True, max_steps: int = 100_000,
                 failure_angle: float = 36.0, target: float | None = None) -> None:
        self.poles = poles
        self.velocities = velocities
        self.max_steps = max_steps
        self.failure_angle = failure_angle
        self.target = target

    def evaluate(self, genome: CPPNGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Balance until failure or ``max_steps``; deterministic, ``seed`` unused."""
        from evonas.compiler.cppn import cppn_function

        net = cppn_function(genome)
        cart = CartPole(self.poles, self.failure_angle)
        steps = 0
        while steps < self.max_steps:
            out = net(cart.observation(self.velocities))[0]
            if not math.isfinite(out):
                break
            cart.step(FORCE_MAG * min(1.0, max(-1.0, 2.0 * out - 1.0)))
            if cart.failed():
                break
            steps += 1
        return {"fitness": float(steps), "steps": float(steps),
                "solved": float(steps >= self.max_steps), **_structure_metrics(genome)}


def make_pole_task(task_config: dict[str, Any], space: SearchSpace) -> PoleTask:
    """The registry factory for ``name: pole``."""
    options = read_options("pole", task_config, POLE_DEFAULTS)
    require(options["poles"] in (1, 2), "poles", f"must be 1 or 2, got {options['poles']}")
    require(options["max_steps"] >= 1, "max_steps", "must be at least 1")
    require(0 < options["failure_angle"] < 90, "failure_angle", "must be in (0, 90) degrees")
    target = options["target"]
    require(target is None or isinstance(target, int | float) and not isinstance(target, bool),
            "target", f"must be a number, got {target!r}")
    _require_neat(space, "pole", pole_inputs(options["poles"], options["velocities"]), 1)
    return PoleTask(options["poles"], options["velocities"], options["max_steps"],
                    options["failure_angle"], target)
