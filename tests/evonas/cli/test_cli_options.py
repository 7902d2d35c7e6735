"""``evonas options``: every section and registered name lists its declared options."""

from __future__ import annotations

import pytest

from evonas.cli.commands import main
from evonas.strategies import STRATEGIES, strategy_class
from genomes import space_names


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_lists_every_declared_option(name: str, capsys: pytest.CaptureFixture[str]
                                                ) -> None:
    assert main(["options", "strategy", name]) == 0
    out = capsys.readouterr().out
    for option in strategy_class(name).options.options:
        assert f"  {option.name}: {option.default!r}" in out
        assert option.doc in out


@pytest.mark.parametrize("section", ["evaluator", "budget", "campaign"])
def test_core_sections_list_their_options(section: str, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    assert main(["options", section]) == 0
    assert capsys.readouterr().out.startswith(section)


def test_spaces_and_the_overview(capsys: pytest.CaptureFixture[str]) -> None:
    for name in space_names():
        assert main(["options", "space", name]) == 0
    assert main(["options"]) == 0
    assert "strategy: " in capsys.readouterr().out


def test_an_unknown_name_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["options", "strategy", "nsga3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown name 'nsga3'; did you mean 'nsga2'?" in err[0]
