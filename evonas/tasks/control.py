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
            "connections": len([1 for c in genome.connections if c[4]])}


# --------------------------------------------------------------------------- XOR
class XORTask(Task[CPPNGenome]):
    """XOR with a 2-input, 1-output CPPN.

    Args:
        target: the fitness that counts as solved (None: none).
    """

    name = "xor"
    fitness_metric = "fitness"

    def __init__(self, target: float | None = 3.9) -> None:
        self.target = target

    def warm_up(self, device: str = "cpu") -> None:
        """Import the CPPN evaluator (and with ``evonas.compiler``, torch) before the worker
        reports ready, not during its first evaluation."""
        from evonas.compiler.cppn_python import evaluate_rows  # noqa: F401

    def evaluate(self, genome: CPPNGenome, seed: int, device: str = "cpu") -> dict[str, float]:
        """Score one genome, interpreting the CPPN over floats."""
        # Local: cppn_python is pure Python, but evonas.compiler's __init__ imports torch.
        from evonas.compiler.cppn_python import evaluate_rows

        outputs = [row[0] for row in evaluate_rows(genome, XOR_INPUTS)]
        return self._metrics(genome, outputs)

    def evaluate_batch(self, genomes: Sequence[CPPNGenome], seeds: Sequence[int],
                       device: str = "cpu") -> list[dict[str, float]]:
        """Score a whole population in one tensor program (float64)."""
        import torch  # local: torch loads in the worker, not with the package

        from evonas.compiler.cppn import PopulationCPPN
        from evonas.evaluation.threads import torch_threads

        program = PopulationCPPN(genomes, device, torch.float64)
        with torch_threads(1):  # tiny tensors: extra threads only add synchronisation
            out = program(torch.tensor(XOR_INPUTS, dtype=torch.float64))[:, :, 0].cpu().tolist()
        return [self._metrics(g, o) for g, o in zip(genomes, out, strict=True)]

    def _metrics(self, genome: CPPNGenome, outputs: Sequence[float]) -> dict[str, float]:
        t0, t1, t2, t3 = XOR_TARGETS
        o0, o1, o2, o3 = outputs
        e0, e1, e2, e3 = o0 - t0, o1 - t1, o2 - t2, o3 - t3
        sse = sum((e0 * e0, e1 * e1, e2 * e2, e3 * e3))
        if not math.isfinite(sse):
            sse = 4.0
        solved = abs(e0) < 0.5 and abs(e1) < 0.5 and abs(e2) < 0.5 and abs(e3) < 0.5
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

    def step(self, force: float) -> None:
        """Advance 0.02 s: two fourth-order Runge-Kutta steps of 0.01 s under ``force``."""
        x, xd, a, ad, b, bd = self.state
        two = self.poles == 2
        h, hh = TAU, 0.5 * TAU
        for _ in range(2):  # unrolled RK4 over plain floats: this loop is the task's hot spot
            xa1, aa1, ba1 = _accel(force, a, ad, b, bd, two)
            a2, ad2, b2, bd2 = a + hh * ad, ad + hh * aa1, b + hh * bd, bd + hh * ba1
            xd2 = xd + hh * xa1
            xa2, aa2, ba2 = _accel(force, a2, ad2, b2, bd2, two)
            a3, ad3, b3, bd3 = a + hh * ad2, ad + hh * aa2, b + hh * bd2, bd + hh * ba2
            xd3 = xd + hh * xa2
            xa3, aa3, ba3 = _accel(force, a3, ad3, b3, bd3, two)
            a4, ad4, b4, bd4 = a + h * ad3, ad + h * aa3, b + h * bd3, bd + h * ba3
            xd4 = xd + h * xa3
            xa4, aa4, ba4 = _accel(force, a4, ad4, b4, bd4, two)
            x += h / 6.0 * (xd + 2.0 * xd2 + 2.0 * xd3 + xd4)
            xd += h / 6.0 * (xa1 + 2.0 * xa2 + 2.0 * xa3 + xa4)
            a += h / 6.0 * (ad + 2.0 * ad2 + 2.0 * ad3 + ad4)
            ad += h / 6.0 * (aa1 + 2.0 * aa2 + 2.0 * aa3 + aa4)
            b += h / 6.0 * (bd + 2.0 * bd2 + 2.0 * bd3 + bd4)
            bd += h / 6.0 * (ba1 + 2.0 * ba2 + 2.0 * ba3 + ba4)
        self.state = [x, xd, a, ad, b, bd]

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


_M1, _M2 = MASS_POLE
_L1, _L2 = HALF_LENGTH
_ML1, _ML2 = _L1 * _M1, _L2 * _M2


def _accel(force: float, th1: float, th1d: float, th2: float, th2d: float,
           two: bool) -> tuple[float, float, float]:
    """Cart and pole accelerations (Wieland's equations, as in NEAT's cart-pole code)."""
    cos1, sin1 = math.cos(th1), math.sin(th1)
    temp1 = MUP * th1d / _ML1
    g1 = GRAVITY * sin1
    fi = _ML1 * th1d * th1d * sin1 + 0.75 * _M1 * cos1 * (temp1 + g1)
    mi = _M1 * (1.0 - 0.75 * cos1 * cos1)
    if not two:
        x_acc = (force + fi) / (mi + MASS_CART)
        return x_acc, -0.75 * (x_acc * cos1 + g1 + temp1) / _L1, 0.0
    cos2, sin2 = math.cos(th2), math.sin(th2)
    temp2 = MUP * th2d / _ML2
    g2 = GRAVITY * sin2
    fi += _ML2 * th2d * th2d * sin2 + 0.75 * _M2 * cos2 * (temp2 + g2)
    mi += _M2 * (1.0 - 0.75 * cos2 * cos2)
    x_acc = (force + fi) / (mi + MASS_CART)
    return (x_acc, -0.75 * (x_acc * cos1 + g1 + temp1) / _L1,
            -0.75 * (x_acc * cos2 + g2 + temp2) / _L2)


def pole_inputs(poles: int, velocities: bool) -> int:
    """How many inputs the pole task feeds the network."""
    return (2 * (poles + 1)) if velocities else poles + 1


class PoleTask(Task[CPPNGenome]):
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
        # Local: cppn_python is pure Python, but evonas.compiler's __init__ imports torch.
        from evonas.compiler.cppn_python import cppn_function

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
