"""Random search: independent uniform samples of the search space (the baseline to beat)."""

from __future__ import annotations

from typing import Any

from evonas.strategies.base import Candidate, Evaluated, Strategy


class RandomSearch(Strategy):
    """Draws every candidate with the space's own sampler (``space.sample``: for the DAG spaces
    :func:`operators.random_genome`); results teach it nothing. Works in any search space."""

    name = "random"

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(self.space.sample(self.rng)) for _ in range(n)]

    def tell(self, results: list[Evaluated]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict()
