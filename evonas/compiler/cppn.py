"""CPPN genomes -> torch modules, Python functions, and one tensor program for a population.

Three forms of the same function (see :mod:`genomes.cppn` for the semantics):

* :func:`compile_cppn`: a ``torch.fx.GraphModule`` with straight-line generated code, one line
  per live node (``module.code`` is readable), inputs ``(batch, num_inputs)``, outputs
  ``(batch, num_outputs)``. A CPPN with recurrent connections takes and returns a state too.
* :func:`~evonas.compiler.cppn_python.cppn_function` (re-exported here): the same straight-line
  code over Python floats, in :mod:`evonas.compiler.cppn_python`, which imports no torch.
* :class:`PopulationCPPN`: a whole population padded into dense tensors (TensorNEAT style): node
  values ``(P, B, N)``, weights ``(P, N, N)``, one batched matmul and a few masked activations
  per depth level, so evaluating a generation costs a few kernel calls instead of
  ``P x B`` Python calls.

Nodes no output depends on are dropped. The genome is only read.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import fx

from evonas.compiler.cppn_python import (
    FLOAT_ACTIVATIONS,
    SIGMOID_SLOPE,
    CPPNFunction,
    cppn_function,
    evaluate_rows,
    plan,
)
from genomes.cppn import ACTIVATIONS, CPPNGenome

__all__ = [
    "FLOAT_ACTIVATIONS",
    "TORCH_ACTIVATIONS",
    "CPPNFunction",
    "PopulationCPPN",
    "compile_cppn",
    "cppn_function",
    "evaluate_rows",
]


# --------------------------------------------------------------------------- activations (torch)
def neat_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-4.9 z))``."""
    return torch.sigmoid(SIGMOID_SLOPE * z)


def gauss(z: torch.Tensor) -> torch.Tensor:
    """``exp(-z^2)``."""
    return torch.exp(-z * z)


def step(z: torch.Tensor) -> torch.Tensor:
    """``1`` where ``z > 0``, else ``0``."""
    return (z > 0).to(z.dtype)


def identity(z: torch.Tensor) -> torch.Tensor:
    return z


TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": neat_sigmoid,
    "tanh": torch.tanh,
    "sin": torch.sin,
    "gauss": gauss,
    "relu": torch.relu,
    "abs": torch.abs,
    "identity": identity,
    "step": step,
}


assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


# --------------------------------------------------------------------------- torch.fx module
def compile_cppn(genome: CPPNGenome) -> fx.GraphModule:
    """Compile a CPPN into a module whose ``forward`` is straight-line generated code.

    A feed-forward CPPN maps ``x`` of shape ``(batch, num_inputs)`` to ``(batch, num_outputs)``.
    A CPPN with recurrent connections has ``forward(x, state) -> (out, new_state)``, where
    ``state`` is ``(batch, S)`` (zeros to start; ``module.meta["evonas"]["state_size"]`` is S)
    holding the previous values of the nodes recurrent connections read.

    Args:
        genome: a valid CPPN genome.

    Returns:
        The module (weights are constants in the code; it has no parameters).
    """
    genome.validate()
    order, incoming, state_nodes = plan(genome)
    graph = fx.Graph()
    x = graph.placeholder("x")
    values: dict[int, fx.Node] = {}
    columns = graph.call_method("unbind", (x, 1))
    for i in genome.input_ids:
        values[i] = graph.call_function(operator.getitem, (columns, i), name=f"in_{i}")
    prev: dict[int, fx.Node] = {}
    state = None
    if state_nodes:
        state = graph.placeholder("state")
        state_cols = graph.call_method("unbind", (state, 1))
        for k, node in enumerate(state_nodes):
            prev[node] = graph.call_function(operator.getitem, (state_cols, k), name=f"prev_{node}")
    anchor = values[0]
    for node in order:
        gene = genome.node_map[node]
        total: Any = None
        for src, weight, recurrent in incoming.get(node, ()):
            source = prev[src] if recurrent else values[src]
            term = graph.call_function(operator.mul, (source, weight), name=f"w_{src}_{node}")
            total = term if total is None else graph.call_function(
                operator.add, (total, term), name=f"sum_{node}")
        if total is None:
            total = graph.call_function(_full_like, (anchor, gene.bias), name=f"const_{node}")
        elif gene.bias != 0.0:
            total = graph.call_function(operator.add, (total, gene.bias), name=f"z_{node}")
        act = TORCH_ACTIVATIONS[gene.activation]
        values[node] = total if gene.activation == "identity" else \
            graph.call_function(act, (total,), name=f"n_{node}")
    outputs = [values[o] for o in genome.output_ids]  # outputs are always live
    out = graph.call_function(torch.stack, (outputs, 1), name="out")
    if state is not None:
        new_state = graph.call_function(torch.stack, ([values[n] for n in state_nodes], 1),
                                        name="new_state")
        graph.output((out, new_state))
    else:
        graph.output(out)
    graph.lint()
    module = fx.GraphModule(torch.nn.Module(), graph, class_name="CPPN")
    module.meta["evonas"] = {"genome": genome.to_dict(), "state_size": len(state_nodes),
                             "state_nodes": state_nodes}
    return module


def _full_like(a: torch.Tensor, value: float) -> torch.Tensor:
    return torch.full_like(a, value)


# --------------------------------------------------------------------------- population program
_ACT_INDEX = {a: k for k, a in enumerate(ACTIVATIONS)}
#: Positions of the live nodes, their depths, the forward links as ``(positions in
#: genome.connections, source slots, target slots)``, the recurrent links likewise, the output
#: slots.
Layout = tuple[list[int], list[int], tuple[list[int], list[int], list[int]],
               tuple[list[int], list[int], list[int]], list[int]]


def _layout(genome: CPPNGenome) -> Layout:
    """Where a genome's genes go in the population program (structure only, so it is cached).

    Returns:
        Positions in ``genome.nodes`` of the live nodes ordered by depth (topological ties),
        their depths, the enabled connections into a live node split into forward and recurrent
        ones, each as three lists (positions in ``genome.connections``, source slots, target
        slots), and the output slots.
    """
    cached = genome.__dict__.get("_layout")
    if cached is not None:
        return cached
    live = genome.live_nodes()
    order = [n for n in genome.topological_order() if n in live]
    rec = genome.recurrent_innovations
    incoming: dict[int, list[tuple[int, int, bool]]] = {}
    for k, c in enumerate(genome.connections):
        if c.enabled and c.dst in live:
            incoming.setdefault(c.dst, []).append((k, c.src, c.innovation in rec))
    node_depth = dict.fromkeys(genome.input_ids, 0)
    for node in order:
        node_depth[node] = 1 + max((node_depth[src] for _, src, r in incoming.get(node, ())
                                    if not r), default=0)
    by_depth = sorted(order, key=node_depth.__getitem__)  # stable: topological ties
    slot = {i: i for i in genome.input_ids}
    for k, node in enumerate(by_depth, start=genome.num_inputs):
        slot[node] = k
    index = {n.id: k for k, n in enumerate(genome.nodes)}
    forward_links: tuple[list[int], list[int], list[int]] = ([], [], [])
    recurrent_links: tuple[list[int], list[int], list[int]] = ([], [], [])
    for node in by_depth:
        for k, src, r in incoming.get(node, ()):
            target = recurrent_links if r else forward_links
            target[0].append(k)
            target[1].append(slot[src])
            target[2].append(slot[node])
    layout = ([index[n] for n in by_depth], [node_depth[n] for n in by_depth], forward_links,
              recurrent_links, [slot[o] for o in genome.output_ids])
    genome.__dict__["_layout"] = layout
    return layout


class PopulationCPPN:
    """A population of CPPNs padded into one tensor program.

    Every genome's nodes get slots: inputs first, then its live nodes by depth (inputs have
    depth 0, a node 1 + the largest depth of its forward sources), padded to the population's
    largest ``N``. Weights become a dense ``(P, N, N)`` matrix (``W[p, src, dst]``), recurrent
    ones a second one. One activation step runs ``max depth`` levels; level ``d`` is one batched
    matmul into the band of slots that hold depth-``d`` nodes in some genome, the activations
    present there (masked), and an update of the depth-``d`` nodes.

    Args:
        genomes: the population; all must have the same numbers of inputs and outputs.
        device: where the tensors live.
        dtype: the floating point type.
    """

    def __init__(self, genomes: Sequence[CPPNGenome], device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        if not genomes:
            raise ValueError("PopulationCPPN: needs at least one genome")
        head = genomes[0]
        self.num_inputs, self.num_outputs = head.num_inputs, head.num_outputs
        for g in genomes:
            if (g.num_inputs, g.num_outputs) != (self.num_inputs, self.num_outputs):
                raise ValueError("PopulationCPPN: genomes differ in their inputs or outputs")
        layouts = []
        for g in genomes:
            g.validate()
            layouts.append(_layout(g))
        size = self.num_inputs + max(len(lay[0]) for lay in layouts)
        pop = len(genomes)
        first = self.num_inputs
        # Gather every genome's entries into flat lists, then fill each array in one indexed
        # assignment (the same arrays as filling them genome by genome, for far fewer calls).
        rows: list[int] = []
        columns: list[int] = []
        biases: list[float] = []
        act_codes: list[int] = []
        depths_all: list[int] = []
        outputs_all: list[list[int]] = []
        fwd: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])
        rec: tuple[list[int], list[int], list[int], list[float]] = ([], [], [], [])
        act_index = _ACT_INDEX
        for p, (g, (positions, depths, links, rec_links, outputs)) in enumerate(
                zip(genomes, layouts, strict=True)):
            nodes, conns = g.nodes, g.connections
            count = len(positions)
            rows += [p] * count
            columns += range(first, first + count)
            for k in positions:
                node = nodes[k]
                biases.append(node[2])
                act_codes.append(act_index[node[1]])
            depths_all += depths
            outputs_all.append(outputs)
            for (at, sources, targets), into in ((links, fwd), (rec_links, rec)):
                if at:
                    into[0].extend([p] * len(at))
                    into[1].extend(sources)
                    into[2].extend(targets)
                    into[3].extend([conns[k][3] for k in at])
        bias = np.zeros((pop, size))
        act = np.full((pop, size), ACTIVATIONS.index("identity"), dtype=np.int64)
        depth = np.zeros((pop, size), dtype=np.int64)
        if rows:
            bias[rows, columns] = biases
            act[rows, columns] = act_codes
            depth[rows, columns] = depths_all
        out_index = np.array(outputs_all, dtype=np.int64).reshape(pop, self.num_outputs)
        w = np.zeros((pop, size, size))
        w[fwd[0], fwd[1], fwd[2]] = fwd[3]
        any_recurrent = bool(rec[0])
        w_rec = np.zeros((pop, size, size)) if any_recurrent else None
        if w_rec is not None:
            w_rec[rec[0], rec[1], rec[2]] = rec[3]
        self.population = pop
        self.size = size
        self.device = torch.device(device)
        self.dtype = dtype
        self.levels = int(depth.max())
        self.weights = torch.from_numpy(w).to(self.device, dtype)
        self.recurrent_weights = None if w_rec is None else \
            torch.from_numpy(w_rec).to(self.device, dtype)
        self.bias = torch.from_numpy(bias).to(self.device, dtype)
        self.depth = torch.from_numpy(depth).to(self.device)
        self.out_index = torch.from_numpy(out_index).to(self.device)
        self._bands = []
        for level in range(1, self.levels + 1):
            at = depth == level
            cols = np.flatnonzero(at.any(axis=0))
            lo, hi = int(cols[0]), int(cols[-1]) + 1
            band_at = at[:, lo:hi]
            band_act = act[:, lo:hi]
            acts = [(TORCH_ACTIVATIONS[ACTIVATIONS[k]],
                     torch.from_numpy(band_act == k).to(self.device).unsqueeze(1))
                    for k in sorted(set(band_act[band_at].tolist()))
                    if ACTIVATIONS[k] != "identity"]
            self._bands.append((lo, hi, torch.from_numpy(band_at).to(self.device).unsqueeze(1),
                                acts))

    @property
    def recurrent(self) -> bool:
        """Whether some genome has a recurrent connection."""
        return self.recurrent_weights is not None

    def initial_state(self, batch: int) -> torch.Tensor:
        """Zero node values ``(P, batch, N)`` for :meth:`step`."""
        return torch.zeros(self.population, batch, self.size, device=self.device,
                           dtype=self.dtype)

    def step(self, x: torch.Tensor, state: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One activation of every CPPN.

        Args:
            x: inputs, ``(B, num_inputs)`` shared by the population or ``(P, B, num_inputs)``.
            state: the node values of the previous step (recurrent CPPNs), or None for zeros.

        Returns:
            ``(outputs (P, B, num_outputs), node values (P, B, N))``.
        """
        x = x.to(self.device, self.dtype)
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.population, -1, -1)
        batch = x.shape[1]
        values = torch.zeros(self.population, batch, self.size, device=self.device,
                             dtype=self.dtype)
        values[:, :, :self.num_inputs] = x
        base = self.bias.unsqueeze(1)
        if self.recurrent_weights is not None and state is not None:
            base = base + torch.bmm(state, self.recurrent_weights)
        for lo, hi, at_level, acts in self._bands:
            z = base[:, :, lo:hi] + torch.bmm(values, self.weights[:, :, lo:hi])
            out = z
            for fn, mask in acts:
                out = torch.where(mask, fn(z), out)
            values[:, :, lo:hi] = torch.where(at_level, out, values[:, :, lo:hi])
        index = self.out_index.unsqueeze(1).expand(-1, batch, -1)
        return values.gather(2, index), values

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(P, B, num_outputs)`` of one activation from a zero state."""
        return self.step(x)[0]
