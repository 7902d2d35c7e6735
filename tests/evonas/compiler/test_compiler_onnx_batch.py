"""ONNX exports have a dynamic batch axis and compute what the torch module computes."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from evonas.compiler import compile_genome, export_module
from evonas.compiler.export import ONNX_INPUT, ONNX_OUTPUT
from genomes import DAGGenome, Edge, FreeSpace, NB201Space
from tests.evonas.compiler.weights import randomize

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

NB201_CELL = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
CASES = {
    "nb201": (DAGGenome.from_nb201(NB201_CELL), NB201Space(stem_channels=4, cells_per_stage=1)),
    "free_network": (
        DAGGenome("free", 4, (Edge(0, 1, "sep_conv_3x3"), Edge(0, 2, "max_pool_3x3"),
                              Edge(1, 3, "conv_5x5"), Edge(2, 3, "identity")), (8, 16, 8, 16)),
        FreeSpace(widths=(8, 16), stem_channels=8)),
}
SHAPE = (3, 8, 8)


def _session(path: Path) -> object:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("traced_batch", [1, 3])
def test_onnx_runs_any_batch_and_matches_torch(case: str, traced_batch: int,
                                               tmp_path: Path) -> None:
    genome, space = CASES[case]
    module = compile_genome(genome, space, SHAPE, 6)
    randomize(module, seed=5)
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_module(module, path, torch.randn(traced_batch, *SHAPE))
    fallbacks = [w for w in caught if "TorchScript exporter" in str(w.message)]
    assert not fallbacks, fallbacks[0].message  # the dynamo exporter itself succeeded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no .data, no temp
    session = _session(path)
    (given,), (produced,) = session.get_inputs(), session.get_outputs()
    assert (given.name, produced.name) == (ONNX_INPUT, ONNX_OUTPUT)
    assert isinstance(given.shape[0], str) and isinstance(produced.shape[0], str)  # symbolic
    assert given.shape[1:] == list(SHAPE)
    module.eval()
    for batch in (1, 4):
        x = torch.randn(batch, *SHAPE, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            expected = module(x).numpy()
        (logits,) = session.run(None, {ONNX_INPUT: x.numpy()})
        assert logits.shape == (batch, 6)
        assert abs(logits - expected).max() < 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter says it is legacy
def test_the_torchscript_fallback_has_a_dynamic_batch_too(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    genome, space = CASES["free_network"]
    module = compile_genome(genome, space, SHAPE, 6)
    randomize(module, seed=2)
    real_export = torch.onnx.export

    def no_dynamo(*args: object, **kwargs: object) -> object:
        if kwargs.get("dynamo"):
            raise RuntimeError("dynamo unavailable")
        return real_export(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.onnx, "export", no_dynamo)
    path = tmp_path / "model.onnx"
    with pytest.warns(UserWarning, match="TorchScript exporter"):
        export_module(module, path, torch.randn(1, *SHAPE))
    session = _session(path)
    module.eval()
    for batch in (1, 4):
        x = torch.randn(batch, *SHAPE)
        with torch.no_grad():
            expected = module(x).numpy()
        (logits,) = session.run(None, {ONNX_INPUT: x.numpy()})
        assert abs(logits - expected).max() < 1e-4


def test_a_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    genome, space = CASES["nb201"]
    module = compile_genome(genome, space, SHAPE, 6)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="exporter broke"):
            export_module(module, tmp_path / "model.onnx", torch.randn(2, *SHAPE))
    assert list(tmp_path.iterdir()) == []
