"""Write compiled networks out: a self-contained ``.py`` file, a ``.pt`` weights file, or ONNX.

The ``.py`` form is plain PyTorch a person can read and edit: the op classes it needs (copied from
:mod:`evonas.compiler.ops`), then one ``nn.Module`` class whose ``__init__`` builds the submodules
with ordinary constructors and whose ``forward`` is the compiler's generated code. Its state_dict
has the same keys and shapes as the compiled module's, so weights saved as ``.pt`` load into it.
Nothing here pickles a module.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import keyword
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import torch
from torch import fx, nn

from evonas.compiler import ops
from evonas.compiler.compile import compile_genome
from genomes.dag import DAGGenome
from genomes.space import SearchSpace

#: Op classes copied into an exported file when used, in dependency order.
_HELPER_CLASSES: tuple[type[nn.Module], ...] = (
    ops.ReLUConvBN,
    ops.SepConv,
    ops.FactorizedReduce,
    ops.Zero,
    ops.ResNetBasicBlock,
)
#: Names of the ONNX graph's input and output; both have a dynamic batch axis ``batch``.
ONNX_INPUT = "x"
ONNX_OUTPUT = "logits"
#: Names the generated forward may use from its globals.
_ALLOWED_GLOBALS = frozenset({"torch"})


def export_python(genome: DAGGenome, space: SearchSpace, input_shape: tuple[int, int, int],
                  num_classes: int) -> str:
    """Compile ``genome`` and return the network as a self-contained Python source file.

    The file imports only torch. Example::

        namespace = {}
        exec(export_python(genome, space, (3, 32, 32), 10), namespace)
        model = namespace["NB201Network"]()

    Args:
        genome: the architecture.
        space: its search space.
        input_shape: ``(channels, height, width)`` of one input.
        num_classes: outputs of the classifier.

    Returns:
        Python source defining the network class (named after the compiled module's class).
    """
    return python_source(compile_genome(genome, space, input_shape, num_classes))


def python_source(module: fx.GraphModule) -> str:
    """Python source for a module built by :func:`~evonas.compiler.compile_genome`.

    Args:
        module: a compiled network (a GraphModule whose submodules are ``torch.nn`` layers and the
            classes of :mod:`evonas.compiler.ops`).

    Returns:
        The source of a file defining ``type(module).__name__`` as a plain ``nn.Module``.

    Raises:
        TypeError: when a submodule has a type this exporter cannot write out.
        ValueError: when the generated forward needs a global other than ``torch``.
    """
    class_name = type(module).__name__
    used = {type(m) for m in module.modules()}
    helpers = [inspect.getsource(cls) for cls in _HELPER_CLASSES if cls in used]
    init_lines = []
    for name, child in module.named_children():
        init_lines.extend(_assignments(f"self.{name}", child))
    network = "\n".join([
        f"class {class_name}(nn.Module):",
        '    """The compiled network; ``forward`` is the compiler\'s generated code."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *(f"        {line}" for line in init_lines),
        "",
        _forward_source(module),
    ])
    parts = [_header(module, class_name), "import torch\nfrom torch import nn", *helpers, network]
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


def export_module(module: nn.Module, path: str | Path, example_input: torch.Tensor) -> Path:
    """Write a compiled network to ``path``; the suffix picks the format.

    * ``.onnx``: ``torch.onnx.export`` in eval mode (the dynamo exporter first, the TorchScript
      exporter if that fails), input ``x`` and output ``logits`` with a dynamic batch axis (any
      batch size runs on onnxruntime); the module's train/eval mode is restored afterwards.
    * ``.pt``: ``torch.save(module.state_dict())``, a tensor archive that loads with
      ``torch.load(path, weights_only=True)``; no module is pickled.
    * ``.py``: :func:`python_source` (the module must come from the compiler).

    The file is written under a temporary name in the same folder and renamed into place, so an
    interrupted export never leaves a partial file at ``path``.

    Args:
        module: the network.
        path: where to write.
        example_input: a batch of inputs (ONNX traces with it; other formats ignore it).

    Returns:
        The path written.

    Raises:
        ValueError: on an unknown suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    write: Callable[[Path], None]
    if suffix == ".pt":
        def write(tmp: Path) -> None:
            torch.save(module.state_dict(), tmp)
    elif suffix == ".py":
        if not isinstance(module, fx.GraphModule):
            raise TypeError("export: .py export needs a module built by compile_genome")
        source = python_source(module)

        def write(tmp: Path) -> None:
            tmp.write_text(source)
    elif suffix == ".onnx":
        def write(tmp: Path) -> None:
            _export_onnx(module, tmp, example_input)
    else:
        raise ValueError(f"export: unknown format {path.suffix!r}; use .onnx, .pt or .py")
    _write_atomically(path, write)
    return path


# --------------------------------------------------------------------------- internals
def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _export_onnx(module: nn.Module, path: Path, example_input: torch.Tensor) -> None:
    """Write ``module`` as ONNX with a dynamic batch axis (input ``x``, output ``logits``).

    The dynamo exporter runs first (its progress lines are kept off the console; the weights go
    inside the one file, no ``.data`` beside it), the TorchScript exporter if it fails. A batch
    of one is widened to two for tracing: ``torch.export`` specialises a dimension of size 1,
    which would fix the batch axis.
    """
    was_training = module.training
    module.eval()
    if example_input.shape[0] < 2:
        example_input = example_input.expand(2, *example_input.shape[1:]).contiguous()
    try:
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter), \
                    _quiet_logger("torch.onnx"):
                torch.onnx.export(module, (example_input,), str(path), dynamo=True,
                                  verbose=False, external_data=False, input_names=[ONNX_INPUT],
                                  output_names=[ONNX_OUTPUT],
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
        except Exception as exc:  # the dynamo path needs onnxscript and can reject a graph
            warnings.warn(f"export: dynamo ONNX export failed ({type(exc).__name__}: {exc}); "
                          "using the TorchScript exporter", stacklevel=3)
            torch.onnx.export(module, (example_input,), str(path), dynamo=False,
                              input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                              dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}})
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Keep the ``name`` logger's notices below errors off the console for the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _header(module: fx.GraphModule, class_name: str) -> str:
    info = getattr(module, "meta", {}).get("evonas", {})
    lines = [f'"""{class_name}: a network generated by the evonas compiler.', ""]
    for key in ("genome", "space", "input_shape", "num_classes"):
        if key in info:
            lines.append(f"{key}: {json.dumps(info[key], separators=(',', ':'))}")
    lines += ["", "Weights from ``export_module(module, 'model.pt', x)`` load with",
              "``model.load_state_dict(torch.load('model.pt', weights_only=True))``.", '"""']
    return "\n".join(lines)


def _forward_source(module: fx.GraphModule) -> str:
    code = module.graph.python_code(root_module="self")
    for name in code.globals:
        if name not in _ALLOWED_GLOBALS and re.search(rf"\b{re.escape(name)}\b", code.src):
            raise ValueError(f"export: generated forward needs the global {name!r}")
    body = code.src.strip("\n")
    return "\n".join(f"    {line}" if line.strip() else "" for line in body.splitlines())


def _assignments(target: str, module: nn.Module) -> list[str]:
    """``target = <constructor>`` lines; plain containers become ``nn.Module()`` plus children."""
    if type(module) is nn.Module:
        lines = [f"{target} = nn.Module()"]
        for name, child in module.named_children():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise TypeError(f"export: submodule name {name!r} is not an identifier")
            lines.extend(_assignments(f"{target}.{name}", child))
        return lines
    return [f"{target} = {_constructor(module)}"]


def _constructor(module: nn.Module) -> str:
    render = _RENDERERS.get(type(module))
    if render is None:
        raise TypeError(f"export: cannot write out a {type(module).__name__} module")
    return render(module)


def _kwargs(**pairs: tuple[object, object]) -> str:
    """``, key=value`` for every pair whose value differs from its default."""
    return "".join(f", {k}={v!r}" for k, (v, default) in pairs.items() if v != default)


def _conv2d(m: nn.Conv2d) -> str:
    return (f"nn.Conv2d({m.in_channels}, {m.out_channels}, {m.kernel_size[0]}"
            + _kwargs(stride=(m.stride[0], 1), padding=(m.padding[0], 0),
                      dilation=(m.dilation[0], 1), groups=(m.groups, 1),
                      bias=(m.bias is not None, True)) + ")")


def _batchnorm2d(m: nn.BatchNorm2d) -> str:
    return (f"nn.BatchNorm2d({m.num_features}"
            + _kwargs(eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1), affine=(m.affine, True),
                      track_running_stats=(m.track_running_stats, True)) + ")")


def _avgpool2d(m: nn.AvgPool2d) -> str:
    return (f"nn.AvgPool2d({m.kernel_size!r}"
            + _kwargs(stride=(m.stride, m.kernel_size), padding=(m.padding, 0),
                      count_include_pad=(m.count_include_pad, True)) + ")")


def _maxpool2d(m: nn.MaxPool2d) -> str:
    return (f"nn.MaxPool2d({m.kernel_size!r}"
            + _kwargs(stride=(m.stride, m.kernel_size), padding=(m.padding, 0)) + ")")


def _relu_conv_bn(m: ops.ReLUConvBN) -> str:
    conv, bn = cast(nn.Conv2d, m.op[1]), cast(nn.BatchNorm2d, m.op[2])
    return (f"ReLUConvBN({conv.in_channels}, {conv.out_channels}, {conv.kernel_size[0]}, "
            f"{conv.stride[0]}, {conv.padding[0]}"
            + _kwargs(dilation=(conv.dilation[0], 1), affine=(bn.affine, True)) + ")")


def _sep_conv(m: ops.SepConv) -> str:
    depthwise, pointwise = cast(nn.Conv2d, m.op[1]), cast(nn.Conv2d, m.op[2])
    bn = cast(nn.BatchNorm2d, m.op[3])
    return (f"SepConv({depthwise.in_channels}, {pointwise.out_channels}, "
            f"{depthwise.kernel_size[0]}, {depthwise.stride[0]}, {depthwise.padding[0]}"
            + _kwargs(dilation=(depthwise.dilation[0], 1), affine=(bn.affine, True)) + ")")


def _factorized_reduce(m: ops.FactorizedReduce) -> str:
    return (f"FactorizedReduce({m.conv_1.in_channels}, {m.bn.num_features}"
            + _kwargs(affine=(m.bn.affine, True)) + ")")


def _resnet_basic_block(m: ops.ResNetBasicBlock) -> str:
    conv = m.conv_a.op[1]
    return (f"ResNetBasicBlock({conv.in_channels}, {conv.out_channels}"
            + _kwargs(affine=(m.conv_a.op[2].affine, True)) + ")")


_RENDERERS: dict[type, Callable[..., str]] = {
    nn.Sequential: lambda m: "nn.Sequential(" + ", ".join(_constructor(c) for c in m) + ")",
    nn.Conv2d: _conv2d,
    nn.BatchNorm2d: _batchnorm2d,
    nn.ReLU: lambda m: f"nn.ReLU(inplace={m.inplace})",
    nn.Identity: lambda m: "nn.Identity()",
    nn.AvgPool2d: _avgpool2d,
    nn.MaxPool2d: _maxpool2d,
    nn.AdaptiveAvgPool2d: lambda m: f"nn.AdaptiveAvgPool2d({m.output_size!r})",
    nn.Linear: lambda m: (f"nn.Linear({m.in_features}, {m.out_features}"
                          + _kwargs(bias=(m.bias is not None, True)) + ")"),
    ops.ReLUConvBN: _relu_conv_bn,
    ops.SepConv: _sep_conv,
    ops.FactorizedReduce: _factorized_reduce,
    ops.Zero: lambda m: f"Zero({m.c_in}, {m.c_out}, {m.stride})",
    ops.ResNetBasicBlock: _resnet_basic_block,
}
