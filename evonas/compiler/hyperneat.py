"""HyperNEAT: CPPNs paint the weights of a substrate network, compiled to torch.

* :func:`paint_population` queries a population of CPPNs at every connection of a
  :class:`~genomes.substrate.Substrate` in one tensor program and applies the expression
  threshold, giving per-layer weight ``(P, n_src, n_dst)`` and bias ``(P, n_dst)`` tensors.
* :func:`compile_substrate` turns one CPPN's painting into a ``torch.fx.GraphModule``:
  flatten, then ``Linear`` layers (``layer_0``, ``layer_1``...) with the painted weights and the
  hidden activation between them, outputting logits. Its weights are ordinary parameters, so it
  can be fine-tuned or exported like any compiled network.
* :func:`forward_population` runs a painted population on a batch of inputs (``(P, N, out)``).

Painting always goes through :class:`~evonas.compiler.cppn.PopulationCPPN` (a population of one
for a single genome), so a genome paints the same weights alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import fx, nn

from evonas.compiler.cppn import PopulationCPPN
from evonas.compiler.graph import GraphBuilder
from genomes.cppn import CPPNGenome
from genomes.substrate import Substrate

#: Activations a substrate's hidden layers may use.
SUBSTRATE_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}

Painting = list[tuple[torch.Tensor, torch.Tensor]]


def express(values: torch.Tensor, threshold: float, max_weight: float) -> torch.Tensor:
    """HyperNEAT's expression rule on a tensor (see :func:`genomes.substrate.express`)."""
    v = values.clamp(-1.0, 1.0)
    scaled = torch.sign(v) * (v.abs() - threshold) / (1.0 - threshold) * max_weight
    return torch.where(v.abs() > threshold, scaled, torch.zeros_like(v))


def _check(genomes: Sequence[CPPNGenome], substrate: Substrate) -> None:
    for g in genomes:
        if g.num_inputs != substrate.cppn_inputs or g.num_outputs != substrate.cppn_outputs:
            raise ValueError(
                f"hyperneat: the substrate needs CPPNs with {substrate.cppn_inputs} inputs and "
                f"{substrate.cppn_outputs} outputs, got {g.num_inputs} and {g.num_outputs}")


def paint_population(genomes: Sequence[CPPNGenome], substrate: Substrate,
                     device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32) -> Painting:
    """Paint the substrate with every CPPN of ``genomes`` at once.

    Returns:
        For each layer pair ``l``: weights ``(P, n_l, n_{l+1})`` and biases ``(P, n_{l+1})``.
    """
    _check(genomes, substrate)
    rows: list[tuple[float, float, float, float]] = []
    spans = []
    for pair in range(len(substrate.layers) - 1):
        w_start = len(rows)
        rows.extend(substrate.queries(pair))
        b_start = len(rows)
        rows.extend(substrate.bias_queries(pair))
        spans.append((w_start, b_start, len(rows)))
    program = PopulationCPPN(genomes, device, dtype)
    out = program(torch.tensor(rows, dtype=dtype, device=program.device))  # (P, Q, O)
    out = express(out, substrate.threshold, substrate.max_weight)
    painting = []
    sizes = substrate.sizes
    for pair, (w_start, b_start, end) in enumerate(spans):
        weights = out[:, w_start:b_start, 2 * pair].reshape(len(genomes), sizes[pair],
                                                             sizes[pair + 1])
        biases = out[:, b_start:end, 2 * pair + 1]
        painting.append((weights, biases))
    return painting


def forward_population(painting: Painting, x: torch.Tensor,
                       hidden_activation: str = "tanh") -> torch.Tensor:
    """Run every painted network on ``x`` (``(N, ...)``, flattened to the input layer).

    Returns:
        Logits ``(P, N, n_out)``.
    """
    act = SUBSTRATE_ACTIVATIONS[hidden_activation]
    h = x.reshape(x.shape[0], -1).unsqueeze(0)
    for i, (weights, biases) in enumerate(painting):
        h = torch.matmul(h, weights) + biases.unsqueeze(1)
        if i < len(painting) - 1:
            h = act(h)
    return h


def compile_substrate(genome: CPPNGenome, substrate: Substrate,
                      hidden_activation: str = "tanh") -> fx.GraphModule:
    """Compile the network ``genome`` paints on ``substrate`` into a GraphModule.

    ``forward(x)`` flattens ``x`` (``(batch, ...)`` with as many values per row as the input
    layer has nodes) and returns logits ``(batch, n_out)``.

    Raises:
        ValueError: when the CPPN's inputs and outputs do not fit the substrate.
    """
    if hidden_activation not in SUBSTRATE_ACTIVATIONS:
        raise ValueError(f"hidden_activation: choose from {sorted(SUBSTRATE_ACTIVATIONS)}, got "
                         f"{hidden_activation!r}")
    with torch.no_grad():
        painting = paint_population([genome], substrate)
    builder = GraphBuilder()
    x = builder.input("x")
    h = builder.function(torch.flatten, x, 1, name="flat")
    for i, (weights, biases) in enumerate(painting):
        layer = nn.Linear(weights.shape[1], weights.shape[2])
        with torch.no_grad():
            layer.weight.copy_(weights[0].T)
            layer.bias.copy_(biases[0])
        h = builder.call(f"layer_{i}", layer, h)
        if i < len(painting) - 1:
            h = builder.function(SUBSTRATE_ACTIVATIONS[hidden_activation], h, name=f"act_{i}")
    module = builder.finish(h, "HyperNEATNetwork")
    module.meta["evonas"] = {"genome": genome.to_dict(), "substrate": substrate.to_dict(),
                             "hidden_activation": hidden_activation}
    return module
