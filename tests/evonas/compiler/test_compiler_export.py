"""Exports: a self-contained .py that round-trips the weights, a .pt tensor archive, ONNX."""

from __future__ import annotations

import ast
import importlib.util
import warnings

import pytest
import torch

from evonas.compiler import compile_genome, export_module, export_python, python_source
from genomes import DAGGenome, Edge, FreeSpace, NB201Space
from tests.evonas.compiler.weights import randomize

NB201_CELL = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
CASES = {
    "nb201": (DAGGenome.from_nb201(NB201_CELL), NB201Space(stem_channels=4, cells_per_stage=1)),
    "free_network": (
        DAGGenome("free", 4, (Edge(0, 1, "sep_conv_3x3"), Edge(0, 2, "max_pool_3x3"),
                              Edge(1, 3, "conv_5x5"), Edge(2, 3, "identity")), (8, 16, 8, 16)),
        FreeSpace(widths=(8, 16), stem_channels=8)),
    "free_cell": (
        DAGGenome("free", 3, (Edge(0, 1, "avg_pool_3x3"), Edge(1, 2, "sep_conv_5x5"),
                              Edge(0, 2, "identity")), (8, 16, 8)),
        FreeSpace(mode="cell", widths=(8, 16), stem_channels=8, stages=2)),
}
SHAPE = (3, 8, 8)


def load_source(path, class_name):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    return getattr(namespace, class_name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_python_export_round_trips(case, tmp_path):
    genome, space = CASES[case]
    compiled = compile_genome(genome, space, SHAPE, 6)
    randomize(compiled, seed=3)
    source = export_python(genome, space, SHAPE, 6)
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"torch"}
    path = tmp_path / f"{case}.py"
    path.write_text(source)
    rebuilt = load_source(path, type(compiled).__name__)()
    ours = {k: v.shape for k, v in compiled.state_dict().items()}
    theirs = {k: v.shape for k, v in rebuilt.state_dict().items()}
    assert list(theirs.items()) == list(ours.items())
    rebuilt.load_state_dict(compiled.state_dict())
    compiled.eval()
    rebuilt.eval()
    x = torch.randn(3, *SHAPE)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), compiled(x), rtol=0, atol=0)


def test_python_source_contains_the_generated_forward():
    genome, space = CASES["nb201"]
    compiled = compile_genome(genome, space, SHAPE, 6)
    source = python_source(compiled)
    assert source == export_python(genome, space, SHAPE, 6)
    for line in compiled.code.strip().splitlines():
        assert line in source
    assert "class NB201Network(nn.Module):" in source
    assert "genome: {" in source


def test_export_pt_is_a_plain_tensor_archive(tmp_path):
    genome, space = CASES["free_cell"]
    compiled = compile_genome(genome, space, SHAPE, 6)
    path = export_module(compiled, tmp_path / "model.pt", torch.randn(1, *SHAPE))
    state = torch.load(path, weights_only=True)
    assert list(state) == list(compiled.state_dict())
    for key, value in compiled.state_dict().items():
        assert torch.equal(state[key], value)


def test_export_py_writes_the_source(tmp_path):
    genome, space = CASES["free_network"]
    compiled = compile_genome(genome, space, SHAPE, 6)
    path = export_module(compiled, tmp_path / "model.py", torch.randn(1, *SHAPE))
    assert path.read_text() == python_source(compiled)


def test_export_onnx_passes_the_checker(tmp_path):
    onnx = pytest.importorskip("onnx")
    genome, space = CASES["nb201"]
    compiled = compile_genome(genome, space, SHAPE, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_module(compiled, tmp_path / "model.onnx", torch.randn(2, *SHAPE))
    assert path.exists() and path.stat().st_size > 0
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["x"]
    assert compiled.training  # export used eval mode and restored the mode


def test_export_rejects_unknown_formats(tmp_path):
    genome, space = CASES["nb201"]
    compiled = compile_genome(genome, space, SHAPE, 6)
    with pytest.raises(ValueError, match="unknown format"):
        export_module(compiled, tmp_path / "model.h5", torch.randn(1, *SHAPE))
