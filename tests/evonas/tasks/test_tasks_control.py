"""CPPN tasks: XOR, cart-pole balancing and HyperNEAT digits (scores, batching, config)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evonas.compiler.hyperneat import compile_substrate, forward_population, paint_population
from evonas.tasks import TaskError, build_task
from evonas.tasks.control import CartPole, PoleTask, XORTask, pole_inputs
from genomes import (
    ConnectionGene,
    CPPNGenome,
    InnovationTracker,
    NEATSpace,
    NodeGene,
    space_from_dict,
)
from operators.neat import MutationRates, initial_genome, mutate_neat

CPPN_ACTS = ("sigmoid", "tanh", "sin", "gauss", "abs", "identity")


def population(space: NEATSpace, n: int, seed: int = 0, steps: int = 8) -> list[CPPNGenome]:
    """``n`` genomes grown by NEAT mutations with a high structural rate."""
    rng = np.random.default_rng(seed)
    tracker = InnovationTracker()
    rates = MutationRates(add_node=0.4, add_connection=0.4, activation=0.5)
    out = []
    for _ in range(n):
        g = initial_genome(space, rng, tracker)
        for _ in range(steps):
            g, _ = mutate_neat(g, rng, space, tracker, rates)
        out.append(g)
    return out


# --------------------------------------------------------------------------- XOR
def test_xor_scores_a_hand_made_solution_perfectly() -> None:
    space = NEATSpace(output_activations=("abs",))
    task = build_task({"name": "xor"}, space)
    solution = CPPNGenome(2, 1, (NodeGene(2, "abs", 0.0),),
                          (ConnectionGene(0, 0, 2, 1.0), ConnectionGene(1, 1, 2, -1.0)))
    metrics = task.evaluate(solution, 0)
    assert metrics["fitness"] == 4.0 and metrics["solved"] == 1.0 and metrics["sse"] == 0.0
    assert task.target == 3.9
    constant = CPPNGenome(2, 1, (NodeGene(2, "abs", 0.5),), ())
    assert task.evaluate(constant, 0)["fitness"] == pytest.approx(3.0)


def test_xor_batch_equals_one_by_one() -> None:
    space = NEATSpace(activations=CPPN_ACTS)
    genomes = population(space, 25)
    task = XORTask()
    batch = task.evaluate_batch(genomes, [0] * len(genomes))
    for g, m in zip(genomes, batch, strict=True):
        single = task.evaluate(g, 0)
        assert m.keys() == single.keys()
        assert m["fitness"] == pytest.approx(single["fitness"], abs=1e-9)


def test_tasks_check_the_space() -> None:
    with pytest.raises(TaskError, match="space.name: neat"):
        build_task({"name": "xor"}, {"name": "nb201"})
    with pytest.raises(TaskError, match="num_inputs: 2"):
        build_task({"name": "xor"}, {"name": "neat", "num_inputs": 3})
    with pytest.raises(TaskError, match="num_inputs: 6"):
        build_task({"name": "pole"}, {"name": "neat", "num_inputs": 4})
    with pytest.raises(TaskError, match="task.poles"):
        build_task({"name": "pole", "poles": 3}, {"name": "neat", "num_inputs": 6})
    with pytest.raises(TaskError, match="task.target"):
        build_task({"name": "pole", "target": "all"}, {"name": "neat", "num_inputs": 6})
    with pytest.raises(TaskError, match="num_outputs: 4"):
        build_task({"name": "digits_hyperneat"}, {"name": "neat", "num_inputs": 4})


# --------------------------------------------------------------------------- pole
def test_pole_inputs_per_variant() -> None:
    assert pole_inputs(2, True) == 6 and pole_inputs(2, False) == 3
    assert pole_inputs(1, True) == 4 and pole_inputs(1, False) == 2
    cart = CartPole(2)
    assert len(cart.observation(True)) == 6 and len(cart.observation(False)) == 3


def test_cart_physics_without_force_lets_the_pole_fall() -> None:
    cart = CartPole(1)
    steps = 0
    while not cart.failed():
        cart.step(0.0)
        steps += 1
    x, _, theta, *_ = cart.state
    assert 10 < steps < 200 and theta > 0 and abs(x) < 2.4  # it falls the way it leaned
    pushed = CartPole(1)
    for _ in range(5):
        pushed.step(10.0)
    assert pushed.state[1] > 0 and pushed.state[3] < 0  # the cart goes right, the pole back


def test_a_hand_made_controller_balances_one_pole() -> None:
    controller = CPPNGenome(4, 1, (NodeGene(4, "sigmoid", 0.0),), (
        ConnectionGene(0, 0, 4, 0.5), ConnectionGene(1, 1, 4, 1.0),
        ConnectionGene(2, 2, 4, 4.0), ConnectionGene(3, 3, 4, 1.0)))
    space = space_from_dict({"name": "neat", "num_inputs": 4})
    task = build_task({"name": "pole", "poles": 1, "max_steps": 1000, "target": 1000}, space)
    metrics = task.evaluate(controller, 0)
    assert metrics["steps"] == 1000 and metrics["solved"] == 1.0 and task.target == 1000
    backwards = CPPNGenome(4, 1, controller.nodes, tuple(
        ConnectionGene(c.innovation, c.src, c.dst, -c.weight) for c in controller.connections))
    assert task.evaluate(backwards, 0)["steps"] < 50
    assert task.evaluate(controller, 1) == metrics  # deterministic, the seed is unused


def test_double_pole_without_velocities_needs_memory_and_runs() -> None:
    space = space_from_dict({"name": "neat", "num_inputs": 3, "recurrent": True})
    task = build_task({"name": "pole", "velocities": False, "max_steps": 500}, space)
    for genome in population(space, 5, steps=10):
        steps = task.evaluate(genome, 0)["steps"]
        assert 0 <= steps <= 500
    assert isinstance(task, PoleTask) and task.target is None


# --------------------------------------------------------------------------- HyperNEAT
@pytest.fixture(scope="module")
def hyperneat() -> tuple:
    space = space_from_dict({"name": "neat", "num_inputs": 4, "num_outputs": 4,
                             "activations": list(CPPN_ACTS), "output_activations": ["tanh"]})
    task = build_task({"name": "digits_hyperneat", "hidden": [3, 3]}, space)
    return space, task


def test_hyperneat_batch_equals_single_and_metrics(hyperneat: tuple) -> None:
    space, task = hyperneat
    genomes = population(space, 6, steps=6)
    batch = task.evaluate_batch(genomes, [0] * 6)
    for g, m in zip(genomes, batch, strict=True):
        single = task.evaluate(g, 0)
        for key in ("fitness", "train_accuracy", "val_accuracy", "test_accuracy"):
            assert m[key] == pytest.approx(single[key], abs=1e-5)
        assert 0 <= m["test_accuracy"] <= 1 and m["fitness"] == m["train_likelihood"]
        assert 0 <= m["expressed"] <= 64 * 9 + 9 * 10


def test_compiled_substrate_matches_the_population_program(hyperneat: tuple) -> None:
    space, task = hyperneat
    genome = population(space, 1, seed=4, steps=6)[0]
    module = compile_substrate(genome, task.substrate)
    x = torch.rand(7, 1, 8, 8)
    painting = paint_population([genome], task.substrate)
    expected = forward_population(painting, x)[0]
    assert torch.allclose(module(x), expected, atol=1e-5)
    assert "layer_0" in module.code and "layer_1" in module.code
    assert module.meta["evonas"]["substrate"]["layers"][0][0] == [-1.0, -1.0]
    with pytest.raises(ValueError, match="inputs"):
        compile_substrate(initial_genome(NEATSpace(), np.random.default_rng(0)),
                          task.substrate)
