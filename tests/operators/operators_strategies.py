"""Hypothesis strategies shared by the operator tests: search spaces and seeds."""

from __future__ import annotations

import hypothesis.strategies as st

from genomes import FreeSpace, NB201Space, SearchSpace
from genomes.space import FREE_OPS

seeds = st.integers(min_value=0, max_value=2**63 - 1)


@st.composite
def free_spaces(draw: st.DrawFn, *, min_nodes: int = 2, min_ops: int = 1) -> FreeSpace:
    """Free spaces of both modes with varied limits, op subsets and width menus."""
    ops = draw(st.lists(st.sampled_from(FREE_OPS), min_size=min_ops, max_size=len(FREE_OPS),
                        unique=True))
    return FreeSpace(
        ops=tuple(ops),
        max_nodes=draw(st.integers(min_value=min_nodes, max_value=10)),
        max_edges=draw(st.integers(min_value=1, max_value=24)),
        widths=tuple(draw(st.lists(st.sampled_from([8, 16, 24, 32, 64]), min_size=1, max_size=4,
                                   unique=True))),
        mode=draw(st.sampled_from(["cell", "network"])),
        stem_channels=draw(st.sampled_from([8, 16, 32])),
    )


def spaces() -> st.SearchStrategy[SearchSpace]:
    """The nb201 space (a quarter of the draws) or a free space."""
    return st.one_of(st.just(NB201Space()), free_spaces(), free_spaces(), free_spaces())
