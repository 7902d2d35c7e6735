"""REINFORCE: decision plans, exact JSON state, learning on the NB201 table, campaign resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evonas.config import ConfigError
from evonas.strategies import Evaluated, Reinforce
from evonas.strategies.reinforce import (
    NO_EDGE,
    decision_plan,
    decode,
)
from evonas.strategies.tensor_json import decode_tensor, encode_tensor
from genomes import DAGGenome, FreeSpace, NB201Space
from tests.campaigns import interrupted_equals_uninterrupted
from tests.conftest import NB201_TABLE

TABLE = {row["arch"]: float(row["cifar10_test_acc"])
         for row in csv.DictReader(NB201_TABLE.open())}
FREE_SPACES = [FreeSpace(max_nodes=6, max_edges=10), FreeSpace(max_nodes=5, max_edges=3),
               FreeSpace(max_nodes=4, mode="cell", ops=("conv_3x3", "identity"))]


def toy_fitness(genome) -> float:
    return genome.describe().count("3x3") + int(genome.canonical_hash()[:4], 16) / 1e6


def drive(strategy: Reinforce, steps: int, start_id: int = 0, ahead: int = 1,
          queue: list | None = None) -> list[tuple]:
    """Keep ``ahead`` candidates in flight; tell in birth order; return what was asked.

    ``queue`` holds the candidates in flight, ``(id, genome)``, across calls.
    """
    asked, next_id = [], start_id
    queue = [] if queue is None else queue
    for _ in range(steps):
        for c in strategy.ask(ahead - len(queue)):
            asked.append((next_id, c.genome.canonical_hash(), c.operator["policy"]))
            queue.append((next_id, c.genome))
            next_id += 1
        i, genome = queue.pop(0)
        fitness = None if i % 11 == 0 else toy_fitness(genome)
        strategy.tell([Evaluated(i, genome, fitness)])
    return asked


def test_nb201_plan_is_one_op_per_edge() -> None:
    space = NB201Space()
    plan = decision_plan(space)
    assert [(d.src, d.node) for d in plan] == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    assert all(d.kind == "op" and d.options == space.ops for d in plan)
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|" \
           "nor_conv_3x3~2|"
    choices = [space.ops.index(op) for op in ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3",
                                              "skip_connect", "nor_conv_3x3", "nor_conv_3x3")]
    genome, used, repairs = decode(space, plan, choices)
    assert genome == DAGGenome.from_nb201(best) and all(used) and repairs == []


@pytest.mark.parametrize("space", FREE_SPACES)
def test_free_plan_decodes_every_sequence_to_a_valid_genome(space: FreeSpace) -> None:
    plan = decision_plan(space)
    kinds = [d.kind for d in plan]
    assert kinds.count("exists") == space.max_nodes - 2
    assert kinds.count("edge") == space.max_nodes * (space.max_nodes - 1) // 2
    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(300):
        choices = [int(rng.integers(len(d.options))) for d in plan]
        genome, used, _ = decode(space, plan, choices)
        space.validate(genome)
        sizes.add(genome.num_nodes)
        for d, u in zip(plan, used, strict=True):
            if d.kind == "edge" and not u:  # an ignored edge decision touches an absent node
                absent = {p.node for p, q in zip(plan, choices, strict=True)
                          if p.kind == "exists" and not p.options[q]}
                assert d.node in absent or d.src in absent
    assert sizes == set(range(2, space.max_nodes + 1))


def test_free_decode_repairs_a_missing_path() -> None:
    space = FreeSpace(max_nodes=3, max_edges=2)
    plan = decision_plan(space)
    choices = []
    for d in plan:  # node 1 exists and links to nothing; no edge reaches the output
        choices.append(1 if d.kind == "exists" else 0 if d.kind != "edge" else
                       d.options.index(NO_EDGE))
    genome, _, repairs = decode(space, plan, choices)
    assert repairs == ["added 0->2"] and genome.has_path()


def test_tensor_codec_is_exact() -> None:
    for t in (torch.randn(3, 4), torch.randn(5, dtype=torch.float64), torch.arange(6),
              torch.tensor(3.0)):
        back = decode_tensor(json.loads(json.dumps(encode_tensor(t))))
        assert back.dtype == t.dtype and back.shape == t.shape and torch.equal(back, t)


@pytest.mark.parametrize("space", [NB201Space(), FREE_SPACES[0]])
@pytest.mark.parametrize("options", [{}, {"batch_size": 3, "normalize": False}])
def test_state_round_trip_continues_identically(space, options) -> None:
    a = Reinforce(space, np.random.default_rng(3), hidden_size=16, **options)
    in_flight: list = []
    drive(a, 25, ahead=2, queue=in_flight)  # one still in flight; with batches, a part batch
    assert len(in_flight) == 1 and len(a.state_dict()["pending"]) == 1
    state = json.loads(json.dumps(a.state_dict(), allow_nan=False))
    b = Reinforce(space, np.random.default_rng(99), hidden_size=16, **options)
    b.load_state_dict(state)
    for (_, pa), (_, pb) in zip(a.controller.named_parameters(), b.controller.named_parameters(),
                                strict=True):
        assert torch.equal(pa, pb)
    assert drive(a, 30, 1000, 2, list(in_flight)) == drive(b, 30, 1000, 2, list(in_flight))


def test_tells_match_the_asks_in_any_order() -> None:
    """Told asynchronously, a result goes with the pending sample of its architecture; a
    genome never proposed (or told twice) is an error."""
    s = Reinforce(NB201Space(), np.random.default_rng(0), batch_size=10)
    first, second = s.ask(2)
    assert first.genome.canonical_hash() != second.genome.canonical_hash()
    s.tell([Evaluated(1, second.genome, 1.0)])
    assert [e["hash"] for e in s.state_dict()["pending"]] == [first.genome.canonical_hash()]
    with pytest.raises(RuntimeError, match="never proposed or was told already"):
        s.tell([Evaluated(1, second.genome, 1.0)])
    s.tell([Evaluated(0, first.genome, 2.0)])
    assert s.state_dict()["pending"] == []


def test_failed_evaluations_get_the_lowest_reward_and_threads_are_restored() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        s = Reinforce(NB201Space(), np.random.default_rng(0))
        for i, fitness in enumerate([50.0, 80.0, None]):
            c = s.ask(1)[0]
            s.tell([Evaluated(i, c.genome, fitness)])
        assert s.lowest == 50.0 and s.updates == 3
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="strategy.baseline_decay: must be in"):
        Reinforce(NB201Space(), np.random.default_rng(0), baseline_decay=1.0)


def test_learns_on_the_nb201_table() -> None:
    """Mean sampled accuracy rises well above uniform sampling within a few hundred samples."""
    uniform = float(np.mean(list(TABLE.values())))  # 87.06: what random search samples
    s = Reinforce(NB201Space(), np.random.default_rng(0))
    fitness = []
    for i in range(300):
        c = s.ask(1)[0]
        fitness.append(TABLE[c.genome.to_nb201()])
        s.tell([Evaluated(i, c.genome, fitness[-1])])
    first, last = np.mean(fitness[:20]), np.mean(fitness[-100:])
    assert last > uniform + 4.0 and last > first + 1.0, (uniform, first, last)


def test_resume_after_abrupt_stop_reproduces_the_journal(tmp_path: Path) -> None:
    interrupted_equals_uninterrupted(
        tmp_path, kill_at=16, budget__evaluations=30,
        strategy={"name": "reinforce", "hidden_size": 16, "batch_size": 4})


@pytest.mark.parametrize("redraws", [0, 20])
def test_redraw_in_flight_asks_for_architectures_not_out_already(redraws: int) -> None:
    """A controller peaked on few cells: with redraws, a batch of asks repeats none of what is
    out while other cells can still be drawn; without, samples are kept as drawn."""
    strategy = Reinforce(NB201Space(), np.random.default_rng(0), redraw_in_flight=redraws)
    with torch.no_grad():  # only two ops per edge (skip_connect, nor_conv_1x1) stay likely
        strategy.controller.heads.bias.fill_(-30.0)
        for start in range(0, strategy.controller.heads.bias.numel(), 5):
            strategy.controller.heads.bias[start + 1:start + 3] = 0.0
    asked = [c.genome.canonical_hash() for c in strategy.ask(24)]
    if redraws:
        assert len(set(asked)) == len(asked)
    else:
        assert len(set(asked)) < len(asked)


def test_numpy_policy_gradients_and_samples_match_the_torch_controller() -> None:
    from evonas.strategies.reinforce import Controller, NumpyPolicy, init_uniform

    ctrl = Controller([2, 3, 5, 5, 2, 4, 5], 16)
    init_uniform(ctrl, np.random.default_rng(1), 0.5)
    opt = torch.optim.Adam(ctrl.parameters(), lr=0.01)
    policy = NumpyPolicy(ctrl, opt)
    rng = np.random.default_rng(2)
    choices = np.stack([[rng.integers(c) for c in ctrl.option_counts] for _ in range(5)])
    used = rng.random(choices.shape) < 0.8
    adv = rng.normal(size=5).astype(np.float32)
    lp, ent = ctrl.evaluate(torch.tensor(choices), torch.tensor(used))
    (-(torch.tensor(adv) * lp).mean() - 0.1 * ent.mean()).backward()
    for p, g in zip(policy.params, policy.gradients(choices, used, adv, 0.1), strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), atol=1e-6)
    assert [ctrl.sample(np.random.default_rng(k)) for k in range(50)] == \
        [policy.sample(np.random.default_rng(k)) for k in range(50)]


@pytest.mark.parametrize("batch", [1, 3])
def test_adam_on_one_buffer_is_the_per_parameter_step_bit_for_bit(batch: int) -> None:
    """The update's Adam step runs on buffers that hold every parameter and moment
    (``link_optimizer_state``): the same numbers as the step taken parameter by parameter,
    across a state saved as JSON and loaded into a fresh controller, and close to torch's own
    Adam."""
    from evonas.strategies.reinforce import Controller, NumpyPolicy, init_uniform

    def policy() -> NumpyPolicy:
        ctrl = Controller([5] * 6, 16)
        init_uniform(ctrl, np.random.default_rng(1), 0.5)
        return NumpyPolicy(ctrl, torch.optim.Adam(ctrl.parameters(), lr=0.01))

    linked, per_parameter, reference = policy(), policy(), policy()
    rng = np.random.default_rng(2)
    for step in range(12):
        choices = rng.integers(5, size=(batch, 6))
        used = np.ones_like(choices, dtype=bool)
        adv = rng.normal(size=batch).astype(np.float32)
        linked.update(choices, used, adv, 0.1)
        per_parameter._adam(per_parameter._arrays(),
                            per_parameter.gradients(choices, used, adv, 0.1))
        for p, g in zip(reference.params, reference.gradients(choices, used, adv, 0.1),
                        strict=True):
            p.grad = torch.from_numpy(g)
        reference.optimizer.step()
        if step == 5:  # a resume: the controller's and optimizer's state through JSON
            s = Reinforce(NB201Space(), np.random.default_rng(0), hidden_size=16)
            s.controller.load_state_dict(linked.controller.state_dict())
            s.optimizer.load_state_dict(linked.optimizer.state_dict())
            state = json.loads(json.dumps(s.state_dict()))
            fresh = Reinforce(NB201Space(), np.random.default_rng(9), hidden_size=16)
            fresh.load_state_dict(state)
            assert fresh._policy._moments is not None  # loaded into the buffers
            linked = fresh._policy
        for a, b, c in zip(linked.params, per_parameter.params, reference.params, strict=True):
            assert torch.equal(a, b)
            torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-6)
    state_a, state_b = linked.optimizer.state, per_parameter.optimizer.state
    for a, b in zip(linked.params, per_parameter.params, strict=True):
        assert all(torch.equal(state_a[a][k], state_b[b][k]) for k in ("step", "exp_avg",
                                                                       "exp_avg_sq"))
