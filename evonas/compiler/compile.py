"""The compiler's entry point: genome + search space + task shape -> torch.fx.GraphModule.

:func:`compile_genome` asks the space for its network emitter (``space.compile_hook``, a lazy
``"module:function"`` path, see :mod:`genomes.protocol`), so a new space brings its own network
without a change here. The emitters of the two DAG spaces are :func:`emit_nb201_network` and
:func:`emit_free_space_network`.
"""

from __future__ import annotations

from typing import Any

from torch import fx, nn

from evonas.compiler.graph import GraphBuilder
from evonas.compiler.networks import emit_free_cells, emit_free_network, emit_nb201
from genomes.dag import DAGGenome
from genomes.protocol import as_search_space, load_hook
from genomes.space import FreeSpace, NB201Space, SearchSpace


def compile_genome(genome: Any, space: SearchSpace, input_shape: tuple[int, int, int],
                   num_classes: int) -> fx.GraphModule:
    """Compile a genome into a network whose ``forward`` is straight-line generated code.

    The network depends on the space: the NAS-Bench-201 macro network for ``nb201``; for ``free``,
    the DAG as the whole body (``mode: network``) or stacked as cells in stages (``mode: cell``);
    for another space, whatever its compile hook emits. The genome is only read, never changed.
    ``module.code`` shows the generated forward, and ``module.meta["evonas"]`` records what was
    compiled (JSON-safe).

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
        TypeError: for a space without a compile hook (``neat``: CPPNs compile with
            :mod:`evonas.compiler.cppn`).
    """
    if (len(input_shape) != 3 or not all(isinstance(d, int) and d > 0 for d in input_shape)):
        raise ValueError(f"input_shape: expected (channels, height, width) of positive integers, "
                         f"got {input_shape!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {num_classes!r}")
    space.validate(genome)
    hook = as_search_space(space).compile_hook
    if hook is None:
        raise TypeError(f"space: cannot compile for {type(space).__name__}")
    emit = load_hook(hook)
    builder = GraphBuilder()
    x = builder.input("x")
    out, class_name = emit(builder, x, genome, space, input_shape[0], num_classes)
    module = builder.finish(out, class_name)
    module.meta["evonas"] = {
        "genome": genome.to_dict(),
        "space": space.to_dict(),
        "input_shape": list(input_shape),
        "num_classes": num_classes,
    }
    return module


def emit_nb201_network(builder: GraphBuilder, x: fx.Node, genome: DAGGenome, space: NB201Space,
                       in_channels: int, num_classes: int) -> tuple[fx.Node, str]:
    """The ``nb201`` space's compile hook: the NAS-Bench-201 macro network
    (:func:`evonas.compiler.networks.emit_nb201`), class ``NB201Network``."""
    return emit_nb201(builder, x, genome, space, in_channels, num_classes), "NB201Network"


def emit_free_space_network(builder: GraphBuilder, x: fx.Node, genome: DAGGenome,
                            space: FreeSpace, in_channels: int,
                            num_classes: int) -> tuple[fx.Node, str]:
    """The ``free`` space's compile hook: the DAG as the whole body (``mode: network``, class
    ``FreeNetwork``) or stacked as cells (``mode: cell``, class ``FreeCellNetwork``)."""
    if space.mode == "network":
        return emit_free_network(builder, x, genome, space, in_channels, num_classes), \
            "FreeNetwork"
    return emit_free_cells(builder, x, genome, space, in_channels, num_classes), "FreeCellNetwork"


def count_params(module: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in module.parameters())
