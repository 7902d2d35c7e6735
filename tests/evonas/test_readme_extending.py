"""The README's "Extending evonas" section runs as written.

Its Python block is written to ``my_extensions.py`` in a temporary folder put on ``sys.path`` (as
the folder a user runs ``evonas`` from would be), and its YAML block is the campaign: a search
space, a task, a strategy and an evaluator backend, none of them built in.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import evonas
from evonas.evaluation import BACKENDS
from evonas.strategies import STRATEGIES
from genomes import space_from_dict, unregister_space
from tests.campaigns import interrupted_equals_uninterrupted, with_changes

README = Path(__file__).resolve().parents[2] / "README.md"


def _section_blocks(kind: str) -> list[str]:
    text = README.read_text()
    section = text[text.index("## Extending evonas"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def extensions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_extensions.py").write_text(_section_blocks("python")[0])
    sys.path.insert(0, str(folder))
    try:
        import my_extensions

        yield my_extensions
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("my_extensions", None)
        unregister_space("chain")
        BACKENDS.pop("serial", None)


def _config(tmp_path: Path, name: str = "ext", **changes: object) -> dict[str, Any]:
    config = yaml.safe_load(_section_blocks("yaml")[0])
    config.update(name=name, runs_dir=str(tmp_path / "runs"), seed=3)
    config.setdefault("campaign", {})["progress"] = False
    return with_changes(config, dict(changes))


def test_the_readme_extensions_run_a_campaign(extensions: Any, tmp_path: Path) -> None:
    run = evonas.run(_config(tmp_path))
    assert "chain" in repr(space_from_dict({"name": "chain"}))
    individuals = run.individuals()
    evaluated = [i for i in individuals if i.status == "ok"]  # the rest repeat a genome
    assert len(evaluated) == 40
    assert {i.status for i in individuals} == {"ok", "cached"}
    assert any(i.parents for i in individuals)  # the hill climber bred from its best
    first = max(i.fitness for i in individuals[:1])
    assert run.best().fitness >= first
    assert run.best().fitness == 1.0  # five links, all 3x3 convolutions, within 40 evaluations
    assert "my_extensions:HillClimber" not in STRATEGIES  # named by path, not registered


def test_the_readme_extensions_run_on_the_worker_pool(extensions: Any, tmp_path: Path) -> None:
    """Each worker process builds the space and the task from the module the task names."""
    pooled = evonas.run(_config(tmp_path, "pool", evaluator={"workers": 2}))
    individuals = pooled.individuals()
    assert sum(i.status == "ok" for i in individuals) == 40
    assert {i.status for i in individuals} == {"ok", "cached"}
    assert pooled.best().fitness == 1.0


def test_the_readme_strategy_resumes_exactly(extensions: Any, tmp_path: Path) -> None:
    def make_config(path: Path, name: str, **changes: object) -> dict[str, Any]:
        return _config(path, name, **changes)

    assert interrupted_equals_uninterrupted(tmp_path, 17, make_config) >= 40
