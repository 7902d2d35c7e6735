"""Random search: independent uniform samples of the search space (the baseline to beat)."""

from __future__ import annotations

from typing import Any

from evonas.strategies.base import Candidate, Evaluated, Strategy, dag_space
from operators import random_genome


class RandomSearch(Strategy):
    """Draws every candidate with :func:`operators.random_genome`; results teach it nothing."""

    name = "random"

    def ask(self, n: int) -> list[Candidate]:
        return [Candidate(random_genome(dag_space(self.space), self.rng)) for _ in range(n)]

    def tell(self, results: list[Evaluated]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict()
