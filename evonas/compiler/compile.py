"""The compiler's entry point: genome + search space + task shape -> torch.fx.GraphModule."""

from __future__ import annotations

from torch import fx, nn

from evonas.compiler.graph import GraphBuilder
from evonas.compiler.networks import emit_free_cells, emit_free_network, emit_nb201
from genomes.dag import DAGGenome
from genomes.space import FreeSpace, NB201Space, SearchSpace


def compile_genome(genome: DAGGenome, space: SearchSpace, input_shape: tuple[int, int, int],
                   num_classes: int) -> fx.GraphModule:
    """Compile a genome into a network whose ``forward`` is straight-line generated code.

    The network depends on the space: the NAS-Bench-201 macro network for ``nb201``; for ``free``,
    the DAG as the whole body (``mode: network``) or stacked as cells in stages (``mode: cell``).
    The genome is only read, never changed. ``module.code`` shows the generated forward, and
    ``module.meta["evonas"]`` records what was compiled (JSON-safe).

    Args:
        genome: the architecture; it must belong to ``space``.
        space: its search space.
        input_shape: ``(channels, height, width)`` of one input image.
        num_classes: outputs of the classifier.

    Returns:
        The compiled module, in training mode, on the CPU.

    Raises:
        GenomeError: when the genome does not belong to the space.
        ValueError: on a bad input shape or class count.
    """
    if (len(input_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in input_shape)):
        raise ValueError(f"input_shape: expected (channels, height, width) of positive integers, "
                         f"got {input_shape!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {num_classes!r}")
    space.validate(genome)
    builder = GraphBuilder()
    x = builder.input("x")
    in_channels = input_shape[0]
    if isinstance(space, NB201Space):
        out = emit_nb201(builder, x, genome, space, in_channels, num_classes)
        class_name = "NB201Network"
    elif isinstance(space, FreeSpace) and space.mode == "network":
        out = emit_free_network(builder, x, genome, space, in_channels, num_classes)
        class_name = "FreeNetwork"
    elif isinstance(space, FreeSpace):
        out = emit_free_cells(builder, x, genome, space, in_channels, num_classes)
        class_name = "FreeCellNetwork"
    else:
        raise TypeError(f"space: cannot compile for {type(space).__name__}")
    module = builder.finish(out, class_name)
    module.meta["evonas"] = {
        "genome": genome.to_dict(),
        "space": space.to_dict(),
        "input_shape": list(input_shape),
        "num_classes": num_classes,
    }
    return module


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in module.parameters())
