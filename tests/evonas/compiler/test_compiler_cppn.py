"""The three compiled forms of a CPPN compute the same function (recurrent ones included)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from evonas.compiler.cppn import PopulationCPPN, compile_cppn, cppn_function
from evonas.evaluation.threads import torch_threads
from genomes import ACTIVATIONS, CPPNGenome, InnovationTracker, NEATSpace
from operators import OperatorNotApplicable
from operators.neat import (
    add_connection,
    add_node,
    initial_genome,
    mutate_activation,
    mutate_biases,
    toggle_connection,
)


def grown(recurrent: bool, n: int = 12, seed: int = 0) -> list[CPPNGenome]:
    space = NEATSpace(num_inputs=3, num_outputs=2, activations=ACTIVATIONS,
                      output_activations=("tanh", "sigmoid"), recurrent=recurrent,
                      weight_range=(-2.0, 2.0))
    rng = np.random.default_rng(seed)
    tracker = InnovationTracker()
    out = []
    for _ in range(n):
        g = initial_genome(space, rng, tracker)
        for _ in range(25):
            op = (add_node, add_connection, mutate_biases, mutate_activation,
                  toggle_connection)[int(rng.integers(5))]
            with contextlib.suppress(OperatorNotApplicable):
                g, _ = op(g, rng, space, tracker)
        out.append(g)
    return out


@pytest.mark.parametrize("recurrent", [False, True])
def test_module_function_and_population_agree(recurrent: bool) -> None:
    genomes = grown(recurrent)
    assert recurrent == any(not g.is_feed_forward for g in genomes)
    x = torch.randn(5, 3, dtype=torch.float64)
    program = PopulationCPPN(genomes, dtype=torch.float64)
    assert program.recurrent == recurrent
    state = None
    batched = []
    for _ in range(3):  # three activation steps: recurrent state carries over
        out, state = program.step(x, state)
        batched.append(out)
    for p, genome in enumerate(genomes):
        module = compile_cppn(genome)
        size = module.meta["evonas"]["state_size"]
        module_state = torch.zeros(5, size, dtype=torch.float64)
        functions = [cppn_function(genome) for _ in range(5)]
        for step in range(3):
            if size:
                from_module, module_state = module(x, module_state)
            else:
                from_module = module(x)
            from_floats = torch.tensor([f(row) for f, row in zip(functions, x.tolist(),
                                                                  strict=True)],
                                       dtype=torch.float64)
            assert torch.allclose(from_module, from_floats, atol=1e-9)
            assert torch.allclose(batched[step][p], from_floats, atol=1e-9)


def test_generated_code_is_straight_line_and_readable() -> None:
    genome = grown(False, n=1)[0]
    module = compile_cppn(genome)
    assert "for " not in module.code and "in_0 = " in module.code
    assert module.meta["evonas"]["genome"] == genome.to_dict()
    f = cppn_function(genome)
    assert f.source.startswith("def cppn_step(x, s):")
    assert list(module.parameters()) == []


def test_dead_nodes_are_not_computed_and_float_function_resets() -> None:
    genome = grown(True, n=3, seed=1)[2]
    f = cppn_function(genome)
    first = f([0.1, 0.2, 0.3])
    for _ in range(3):
        f([0.1, 0.2, 0.3])
    f.reset()
    assert f([0.1, 0.2, 0.3]) == first
    live = genome.live_nodes()
    for node in genome.node_map:
        assert (f"n{node} =" in f.source) == (node in live)


def test_torch_threads_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
