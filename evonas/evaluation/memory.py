"""An estimate of the device memory one training evaluation needs, from the genome's shapes alone.

:func:`estimate_peak_memory` compiles the genome on the ``meta`` device (parameters and tensors
have shapes but no storage, so nothing is allocated and no weight is initialised), traces it down
to its ``torch.nn`` leaves with :func:`torch.fx.symbolic_trace` and propagates a ``meta`` input
batch through it, summing the size of every tensor the forward pass creates. The model::

    peak = safety_factor * (params + buffers + grads + optimizer state
                            + max(training activations, scoring activations) + workspace)

* ``params``: parameter count times its element size (4 bytes for float32), exactly
  :func:`~evonas.compiler.count_params` times 4 for the compiled network; ``buffers``: batch
  norm running statistics.
* ``grads``: one gradient per parameter (the same bytes as ``params``).
* optimizer state: Adam and AdamW keep two moments per parameter, SGD one momentum buffer.
* training activations: the input batch plus every output of every node of the flattened graph at
  the training batch size (views and in-place ops, which allocate nothing, are left out). Autograd
  keeps most of them until the backward pass; counting all of them over-counts a little, which
  stands in for the gradients of activations that the backward pass allocates on the way.
* scoring activations: scoring runs without autograd, so only a few tensors live at once; the
  model charges three times the largest single output at the scoring batch size.
* ``workspace``: a fixed margin (:data:`WORKSPACE_BYTES`) for the loss, labels, batch indices and
  small temporaries.

It is an estimate, and it ignores: cuDNN / cuBLAS workspaces (algorithm dependent, they can reach
hundreds of MiB for large convolutions), the CUDA caching allocator's rounding and fragmentation,
the CUDA context of each worker process (~300-500 MiB) and the task's dataset copied onto the
device (the pool reserves those per worker, see :mod:`evonas.evaluation.dispatch`), mixed
precision, and kernels that need temporaries larger than their output. The ``safety_factor``
(``evaluator.memory_safety_factor``, default :data:`DEFAULT_SAFETY_FACTOR`) scales the whole sum to
cover them; raise it when evaluations still run out of memory (they are then retried at half batch,
see :mod:`evonas.evaluation.execute`).

Importing this module does not import torch; :func:`estimate_peak_memory` does, on first use. It
takes 0.1-0.25 s for a full NAS-Bench-201 network on one CPU core, and 10-70 ms for small
networks: building the modules and tracing them dominate, while ``meta`` tensors cost nothing per
element, so batch size and image size do not change the time (`bench/memory_estimate.py`). The
pool caches it per architecture.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from dataclasses import asdict, dataclass
from typing import Any, cast

#: Fixed margin of every estimate, in bytes (loss, labels, batch indices, small temporaries).
WORKSPACE_BYTES = 32 * 2**20
#: The default multiplier of the whole estimate (``evaluator.memory_safety_factor``).
DEFAULT_SAFETY_FACTOR = 1.2
#: Optimizer state per parameter, in units of the parameter's size.
OPTIMIZER_STATE: dict[str, int] = {"adam": 2, "adamw": 2, "sgd": 1}
#: Live tensors charged while scoring, in units of the largest single activation.
SCORING_LIVE_TENSORS = 3

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak device memory of one training evaluation, in bytes, by part.

    Attributes:
        params: parameter bytes.
        buffers: buffer bytes (batch norm running statistics).
        grads: gradient bytes.
        optimizer: optimizer state bytes.
        activations: tensors of the training forward pass at ``batch_size``.
        scoring: tensors live at once while scoring at the scoring batch size (0 if not given).
        workspace: the fixed margin.
        batch_size: the training batch size the estimate is for.
        safety_factor: the multiplier applied to the sum in :attr:`total`.
        param_count: number of parameters.
    """

    params: int
    buffers: int
    grads: int
    optimizer: int
    activations: int
    scoring: int
    workspace: int
    batch_size: int
    safety_factor: float = DEFAULT_SAFETY_FACTOR
    param_count: int = 0

    @property
    def raw(self) -> int:
        """The sum of the parts, before the safety factor."""
        return (self.params + self.buffers + self.grads + self.optimizer
                + max(self.activations, self.scoring) + self.workspace)

    @property
    def total(self) -> int:
        """The estimate the pool dispatches by: :attr:`raw` times the safety factor."""
        return math.ceil(self.raw * self.safety_factor)

    def to_dict(self) -> dict[str, Any]:
        """The parts and the total as plain numbers (JSON-safe)."""
        return {**asdict(self), "total": self.total}


def estimate_peak_memory(genome: Any, space: Any, input_shape: tuple[int, int, int],
                         num_classes: int, batch_size: int, optimizer: str = "adam", *,
                         eval_batch_size: int | None = None,
                         safety_factor: float = DEFAULT_SAFETY_FACTOR) -> MemoryEstimate:
    """Estimate the peak device memory of training ``genome`` (see the module docstring).

    This is the ``memory_hook`` of the DAG spaces (:mod:`genomes.protocol`); it works for any
    space with a ``compile_hook``, since it measures the network :func:`compile_genome` builds.

    Args:
        genome: a genome of ``space`` (a :class:`~genomes.DAGGenome` for ``nb201`` and ``free``).
        space: its search space; it must have a compile hook.
        input_shape: ``(channels, height, width)`` of one input.
        num_classes: outputs of the classifier.
        batch_size: the training batch size.
        optimizer: ``adam``, ``adamw`` or ``sgd``.
        eval_batch_size: the scoring batch size (None: scoring is not charged).
        safety_factor: multiplies the sum of the parts (must be positive).

    Returns:
        The estimate; ``.total`` is what to compare with a device's capacity.

    Raises:
        ValueError: on a batch size below 1, an unknown optimizer or a bad safety factor.
        GenomeError: when the genome does not belong to the space.
        TypeError: for a space without a compile hook.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: must be at least 1, got {batch_size}")
    if eval_batch_size is not None and eval_batch_size < 1:
        raise ValueError(f"eval_batch_size: must be at least 1, got {eval_batch_size}")
    if optimizer not in OPTIMIZER_STATE:
        raise ValueError(f"optimizer: unknown optimizer {optimizer!r}; "
                         f"choose one of {list(OPTIMIZER_STATE)}")
    if not safety_factor > 0:
        raise ValueError(f"safety_factor: must be positive, got {safety_factor}")
    import torch

    from evonas.compiler import compile_genome, count_params

    with torch.device("meta"):
        module = compile_genome(genome, space, cast("tuple[int, int, int]", tuple(input_shape)),
                                num_classes)
    param_count = count_params(module)
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    buffers = sum(b.numel() * b.element_size() for b in module.buffers())
    batch = torch.empty((batch_size, *input_shape), device="meta")
    activations, largest = activation_bytes(module, batch)
    scoring = 0
    if eval_batch_size is not None:
        scoring = SCORING_LIVE_TENSORS * math.ceil(largest * eval_batch_size / batch_size)
    return MemoryEstimate(params=params, buffers=buffers, grads=params,
                          optimizer=OPTIMIZER_STATE[optimizer] * params,
                          activations=activations, scoring=scoring, workspace=WORKSPACE_BYTES,
                          batch_size=batch_size, safety_factor=safety_factor,
                          param_count=param_count)


def activation_bytes(module: Any, batch: Any) -> tuple[int, int]:
    """Bytes of every tensor the forward pass of ``module`` on ``batch`` creates, and the largest.

    ``module`` (on the ``meta`` device) is traced down to its ``torch.nn`` leaves; the input and
    each node's output count once, except outputs that allocate nothing (views such as slicing
    and ``flatten``, and in-place modules). Equal to the sum of the output sizes that
    :class:`torch.fx.passes.shape_prop.ShapeProp` records for those nodes.

    Args:
        module: a network on the ``meta`` device.
        batch: its input, a ``meta`` tensor with the batch dimension first.
    """
    import torch
    from torch import fx

    traced = fx.symbolic_trace(module)
    counter = _counter_class()(traced)
    with torch.no_grad():
        counter.run(batch)
    return counter.total, counter.largest


@functools.cache
def _counter_class() -> type:
    """The fx interpreter that counts output bytes (defined lazily: it subclasses a torch class)."""
    import torch
    from torch import fx, nn

    shape_preserving = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid,
                        nn.Tanh, nn.Hardswish, nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout,
                        nn.LayerNorm, nn.GroupNorm)
    elementwise = {operator.add, operator.mul, operator.sub, torch.add, torch.mul}

    class ActivationCounter(fx.Interpreter):
        """Runs a traced graph on ``meta`` tensors, adding up the bytes each node allocates.

        ``meta`` kernels of normalisations and element-wise ops are slow (milliseconds), so
        shape-preserving modules and element-wise sums produce an empty tensor of the right shape
        instead of running.
        """

        def __init__(self, gm: fx.GraphModule) -> None:
            super().__init__(gm)
            self.total = 0
            self.largest = 0

        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            if n.op in ("get_attr", "output") or not isinstance(result, torch.Tensor):
                return result
            if n.op == "call_module" and getattr(self.module.get_submodule(str(n.target)),
                                                 "inplace", False):
                return result
            if result._base is not None:  # a view shares its base's storage
                return result
            if any(result is self.env.get(arg) for arg in n.all_input_nodes):
                return result  # an input passed through (nn.Identity)
            size = result.numel() * result.element_size()
            self.total += size
            self.largest = max(self.largest, size)
            return result

        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            module = self.module.get_submodule(target)
            if (isinstance(module, shape_preserving) and len(args) == 1 and not kwargs
                    and isinstance(args[0], torch.Tensor)):
                return args[0].new_empty(args[0].shape)
            return super().call_module(target, args, kwargs)

        def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
            if (target in elementwise and len(args) == 2 and not kwargs
                    and all(isinstance(a, torch.Tensor) for a in args)):
                shape = torch.broadcast_shapes(args[0].shape, args[1].shape)
                return args[0].new_empty(shape)
            return super().call_function(target, args, kwargs)

    return ActivationCounter


def parse_bytes(value: Any) -> int:
    """A memory size in bytes from a number of bytes or a string such as ``"8GiB"``, ``"512MB"``.

    Units: ``B``, ``KB``/``MB``/``GB``/``TB`` (powers of 1000), ``KiB``/``MiB``/``GiB``/``TiB``
    (powers of 1024), case-insensitive; a bare number is bytes.

    Raises:
        ValueError: on anything else, or a size below one byte.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 8GiB or a number of bytes, got {value!r}")
    if isinstance(value, int | float):
        number, unit = float(value), ""
    elif isinstance(value, str) and (match := _SIZE_RE.match(value)):
        number, unit = float(match.group(1)), match.group(2).lower()
    else:
        raise ValueError(f"expected a size such as 8GiB or a number of bytes, got {value!r}")
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r} in {value!r}; use B, MB, GB, MiB, GiB...")
    size = int(number * _UNITS[unit])
    if not math.isfinite(number) or size < 1:
        raise ValueError(f"must be at least one byte, got {value!r}")
    return size


def format_size(size: float) -> str:
    """``size`` bytes for a message: GiB with two decimals from 1 GiB (``"1.50 GiB"``), else MiB
    with one (``"61.2 MiB"``)."""
    if size >= 2**30:
        return f"{size / 2**30:.2f} GiB"
    return f"{size / 2**20:.1f} MiB"
