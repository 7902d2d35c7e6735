"""Weight inheritance: a mutated child starts from its parent's trained weights, trains the
shorter recipe, and the journal says what it inherited from whom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import evonas
from evonas.api import start_campaign
from evonas.config import ConfigError, load_config
from evonas.inheritance import INHERITED_EVENT, PARENTS_DIR
from evonas.kept_weights import WEIGHTS_DIR
from evonas.storage import JOURNAL_FILE, Journal
from tests.campaigns import Kill, untimed_journal_rows, with_changes

KEEP = 6


def inherit_config(tmp_path: Path, name: str, **changes: object) -> dict[str, Any]:
    config = {
        "name": name, "seed": 2, "runs_dir": str(tmp_path / "runs"),
        "space": {"name": "free", "mode": "network", "max_nodes": 4, "max_edges": 5,
                  "widths": [8, 16], "stem_channels": 8,
                  "ops": ["conv_3x3", "max_pool_3x3", "identity"]},
        "task": {"name": "digits", "epochs": 3, "data_fraction": 0.3},
        "strategy": {"name": "regularized_evolution", "population": 3, "sample": 2},
        "evaluator": {"workers": 0},
        "budget": {"evaluations": 9},
        "inherit_weights": {"enabled": True, "epochs": 1, "keep": KEEP},
        "campaign": {"progress": False, "checkpoint_every": 2},
    }
    return with_changes(config, changes)


def inherited_from(run_dir: Path) -> dict[int, int]:
    with Journal.open(run_dir / JOURNAL_FILE, readonly=True) as journal:
        return {i: d["from"] for _, _, i, d in journal.events(INHERITED_EVENT)}


def test_mutated_children_inherit_and_train_the_short_recipe(tmp_path: Path) -> None:
    run = evonas.run(inherit_config(tmp_path, "inherit"))
    try:
        individuals = {ind.id: ind for ind in run.individuals()}
    finally:
        run.close()
    sources = inherited_from(run.path)
    assert sources  # regularized evolution's children found their parents' states
    for ind in individuals.values():
        if ind.status != "ok" or ind.source_id is not None:
            continue
        if ind.id in sources:
            assert sources[ind.id] == ind.parents[0]
            assert ind.metrics["epochs"] == 1 and ind.metrics["inherited_tensors"] > 0
        else:
            assert ind.metrics["epochs"] == 3 and "inherited_tensors" not in ind.metrics
    assert 0 < len(list((run.path / PARENTS_DIR).iterdir())) <= KEEP


def test_inherit_weights_true_is_the_default_section(tmp_path: Path) -> None:
    config = load_config(inherit_config(tmp_path, "short", inherit_weights=True))
    assert config.data["inherit_weights"] == {"enabled": True, "epochs": None, "keep": 64}


def test_a_killed_inheriting_campaign_resumes_exactly(tmp_path: Path) -> None:
    full = evonas.run(inherit_config(tmp_path, "full", campaign__keep_weights=2))
    full.close()
    config = load_config(inherit_config(tmp_path, "cut", campaign__keep_weights=2))

    def kill(counters: dict) -> None:
        if counters["told"] == 5:
            raise Kill

    with pytest.raises(Kill):
        start_campaign(config, None, kill)
    cut = Path(config.runs_dir) / "cut"
    evonas.resume(cut).close()

    assert untimed_journal_rows(cut) == untimed_journal_rows(full.path)
    assert inherited_from(cut) == inherited_from(full.path)
    assert sorted(p.name for p in (cut / WEIGHTS_DIR).iterdir()) == \
        sorted(p.name for p in (full.path / WEIGHTS_DIR).iterdir())


@pytest.mark.parametrize(("changes", "message"), [
    ({"fidelity": {"scheduler": "asha", "rungs": [1, 3]}}, "does not combine"),
    ({"inherit_weights": {"enabled": True, "keep": 0}}, "inherit_weights.keep"),
])
def test_bad_inheritance_is_one_line_naming_the_field(tmp_path: Path, changes: dict,
                                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(inherit_config(tmp_path, "bad", **changes))


def test_a_task_without_weights_refuses_inheritance(tmp_path: Path) -> None:
    config = load_config(inherit_config(tmp_path, "tab", task={"name": "tabular"},
                                        space={"name": "nb201"},
                                        inherit_weights={"enabled": True, "epochs": 1}))
    with pytest.raises(ConfigError, match="inherit_weights.enabled: the tabular task"):
        start_campaign(config)
