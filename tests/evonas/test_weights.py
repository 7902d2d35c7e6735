"""Weights-only state files: nested states round-trip through safetensors, bad files are named,
and inheritance copies what the new network shares."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from evonas.weights import WeightsFileError, inherit_matching, load_state, save_state


def _trained_state() -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(2, 1, 4, 4)).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3,
            "note": None, "generators": {"shuffle": torch.Generator().manual_seed(1).get_state()}}


def test_a_nested_training_state_round_trips(tmp_path: Path) -> None:
    state = _trained_state()
    size = save_state(tmp_path / "s.safetensors", state)
    assert size == (tmp_path / "s.safetensors").stat().st_size
    back = load_state(tmp_path / "s.safetensors")
    assert back["epoch"] == 3 and back["note"] is None
    assert back["model"].keys() == state["model"].keys()
    for key, value in state["model"].items():
        assert torch.equal(back["model"][key], value)
    # optimizer: integer parameter keys and the betas tuple come back as they were
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(back["optimizer"]["state"]) == set(state["optimizer"]["state"])
    first = next(iter(state["optimizer"]["state"]))
    assert torch.equal(back["optimizer"]["state"][first]["exp_avg"],
                       state["optimizer"]["state"][first]["exp_avg"])
    restored = torch.optim.Adam(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                                              nn.Linear(16, 3)).parameters())
    restored.load_state_dict(back["optimizer"])  # torch accepts it
    assert torch.equal(back["generators"]["shuffle"], state["generators"]["shuffle"])


def test_the_file_is_plain_safetensors_with_no_pickle(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    save_state(tmp_path / "s.safetensors", _trained_state())
    data = (tmp_path / "s.safetensors").read_bytes()
    assert b"\x80\x04" not in data[:64] and not data.startswith(b"PK")  # not a pickle, not a zip
    assert load_file(tmp_path / "s.safetensors")  # any safetensors reader opens it


@pytest.mark.parametrize("content", [b"", b"not safetensors at all", b"\x08" + b"\x00" * 7 + b"{}"])
def test_a_file_that_is_not_a_state_is_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsFileError, match="bad.safetensors"):
        load_state(path)


def test_a_missing_file_or_a_link_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsFileError, match="cannot read"):
        load_state(tmp_path / "missing.safetensors")
    save_state(tmp_path / "real.safetensors", {"x": torch.ones(2)})
    (tmp_path / "link.safetensors").symlink_to(tmp_path / "real.safetensors")
    with pytest.raises(WeightsFileError, match="cannot read"):
        load_state(tmp_path / "link.safetensors")


def test_an_unstorable_leaf_is_a_type_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="set"):
        save_state(tmp_path / "s.safetensors", {"bad": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def test_inheritance_copies_same_shapes_slices_widened_layers_and_skips_kernels() -> None:
    torch.manual_seed(0)
    parent = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 3))
    child = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 12, 1), nn.Conv2d(12, 8, 5))
    fresh = {k: v.clone() for k, v in child.state_dict().items()}
    counts = inherit_matching(child, parent.state_dict())
    # 0.weight/0.bias whole; 1.weight/1.bias widened (a slice); 2.weight another kernel (fresh);
    # 2.bias same shape (whole)
    assert counts == {"inherited": 3, "sliced": 2, "fresh": 1}
    got = child.state_dict()
    assert torch.equal(got["0.weight"], parent.state_dict()["0.weight"])
    assert torch.equal(got["1.weight"][:8], parent.state_dict()["1.weight"])
    assert torch.equal(got["1.weight"][8:], fresh["1.weight"][8:])
    assert torch.equal(got["2.weight"], fresh["2.weight"])
