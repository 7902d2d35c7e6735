"""The compiler: genome -> torch.fx.GraphModule with straight-line forward code.

Public API:

* :func:`compile_genome` builds the network for a genome in its search space.
* :func:`count_params` counts a module's parameters.
* :func:`build_op` and the op classes in :mod:`evonas.compiler.ops` (shared with DARTS).
* :func:`export_python` / :func:`export_module` write a compiled network to ``.py``, ``.pt`` or
  ``.onnx``.
"""

from evonas.compiler.compile import compile_genome, count_params
from evonas.compiler.export import export_module, export_python, python_source
from evonas.compiler.ops import OP_NAMES, ReLUConvBN, ResNetBasicBlock, SepConv, Zero, build_op

__all__ = [
    "OP_NAMES",
    "ReLUConvBN",
    "ResNetBasicBlock",
    "SepConv",
    "Zero",
    "build_op",
    "compile_genome",
    "count_params",
    "export_module",
    "export_python",
    "python_source",
]
