"""CPPN genomes -> Python functions over floats (no torch).

The float forms of :mod:`evonas.compiler.cppn`, for control loops that step one small network many
thousands of times (a tensor call per step would cost more than the whole network) and for
scoring a handful of inputs:

* :func:`cppn_function`: straight-line generated Python, one line per live node
  (``f.source``), with the recurrent state kept between calls;
* :func:`evaluate_rows`: the same function interpreted, cheaper for a few rows than generating
  code.

Nodes no output depends on are dropped. This module imports no torch, so tasks that only need
these forms stay light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from genomes.cppn import ACTIVATIONS, CPPNGenome

#: NEAT's sigmoid slope.
SIGMOID_SLOPE = 4.9


def _f_sigmoid(z: float) -> float:
    z = SIGMOID_SLOPE * z
    if z < -60.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def _f_gauss(z: float) -> float:
    return math.exp(-z * z) if abs(z) < 30.0 else 0.0


def _f_relu(z: float) -> float:
    return z if z > 0.0 else 0.0


def _f_step(z: float) -> float:
    return 1.0 if z > 0.0 else 0.0


def _f_sin(z: float) -> float:
    return math.sin(z) if math.isfinite(z) else math.nan


FLOAT_ACTIVATIONS: dict[str, Callable[[float], float]] = {
    "sigmoid": _f_sigmoid,
    "tanh": math.tanh,
    "sin": _f_sin,
    "gauss": _f_gauss,
    "relu": _f_relu,
    "abs": abs,
    "identity": float,
    "step": _f_step,
}
assert set(FLOAT_ACTIVATIONS) == set(ACTIVATIONS)


# --------------------------------------------------------------------------- plan
def plan(genome: CPPNGenome) -> tuple[list[int], dict[int, list[tuple[int, float, bool]]],
                                       list[int]]:
    """Live nodes in evaluation order, their incoming ``(src, weight, recurrent)`` terms, and the
    nodes whose previous value some recurrent connection reads."""
    live = genome.live_nodes()
    order = [n for n in genome.topological_order() if n in live]
    rec = genome.recurrent_innovations
    incoming: dict[int, list[tuple[int, float, bool]]] = {}
    for c in genome.enabled_connections:
        if c.dst in live and c.weight != 0.0:
            incoming.setdefault(c.dst, []).append((c.src, c.weight, c.innovation in rec))
    state_nodes = sorted({src for terms in incoming.values() for src, _, r in terms if r})
    return order, incoming, state_nodes


# --------------------------------------------------------------------------- Python floats
class CPPNFunction:
    """A CPPN as generated straight-line Python over floats.

    ``f(inputs) -> list of outputs``; a recurrent CPPN keeps its state between calls (start of a
    run: :meth:`reset`). ``f.source`` is the generated code.

    Args:
        genome: a valid CPPN genome.
    """

    def __init__(self, genome: CPPNGenome) -> None:
        genome.validate()
        order, incoming, state_nodes = plan(genome)
        slot = {n: k for k, n in enumerate(state_nodes)}
        names = {i: f"i{i}" for i in genome.input_ids}
        lines = ["def cppn_step(x, s):", f"    {', '.join(names.values())}, = x"]
        for node in order:
            gene = genome.node_map[node]
            terms = [repr(gene.bias)] + [
                f"{w!r} * {f's[{slot[src]}]' if r else names[src]}"
                for src, w, r in incoming.get(node, ())]
            names[node] = f"n{node}"
            lines.append(f"    n{node} = {gene.activation}({' + '.join(terms)})")
        for node in state_nodes:
            lines.append(f"    s[{slot[node]}] = {names[node]}")
        lines.append(f"    return [{', '.join(names[o] for o in genome.output_ids)}]")
        self.source = "\n".join(lines) + "\n"
        namespace: dict[str, Any] = dict(FLOAT_ACTIVATIONS)
        exec(compile(self.source, f"<cppn {genome.canonical_hash()[:8]}>", "exec"), namespace)
        self._step = namespace["cppn_step"]
        self.state_size = len(state_nodes)
        self.state = [0.0] * self.state_size

    def reset(self) -> None:
        """Zero the recurrent state."""
        self.state = [0.0] * self.state_size

    def __call__(self, inputs: Sequence[float]) -> list[float]:
        return self._step(inputs, self.state)


def cppn_function(genome: CPPNGenome) -> CPPNFunction:
    """The CPPN as a Python function over floats (see :class:`CPPNFunction`)."""
    return CPPNFunction(genome)


def evaluate_rows(genome: CPPNGenome, rows: Sequence[Sequence[float]]) -> list[list[float]]:
    """Outputs of one activation (zero state) for each input row, interpreted over floats.

    For a handful of rows this is cheaper than generating code (:func:`cppn_function`) or
    building tensors; the result is the same function.
    """
    genome.validate()
    order, incoming, _ = plan(genome)
    steps = [(node, FLOAT_ACTIVATIONS[genome.node_map[node].activation],
              genome.node_map[node].bias,
              [(src, w) for src, w, recurrent in incoming.get(node, ()) if not recurrent])
             for node in order]
    outputs = list(genome.output_ids)
    results = []
    for row in rows:
        value = dict(enumerate(row))
        for node, act, bias, terms in steps:
            total = bias
            for src, w in terms:
                total += w * value[src]
            value[node] = act(total)
        results.append([value[o] for o in outputs])
    return results
