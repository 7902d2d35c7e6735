"""DARTS: the supernet, the derivation, first/second-order updates, state, and its campaigns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

import evonas
import evonas.strategies.darts as darts_module
from evonas.analysis.compare import load_curve
from evonas.cli import main
from evonas.compiler.supernet import NB201_EDGES, MixedOp, Supernet, derive_genome
from evonas.config import ConfigError, validate
from evonas.storage import JOURNAL_FILE, Journal
from evonas.strategies import DARTS, Evaluated
from evonas.tasks import build_task
from genomes import FreeSpace, NB201Space
from genomes.space import NB201_OPS
from tests.conftest import tabular_config

SPACE = NB201Space(stem_channels=4, cells_per_stage=1)
TASK = {"name": "digits", "epochs": 1, "batch_size": 128}


def darts_config(tmp_path: Path, **changes: object) -> dict:
    """A tiny DARTS campaign on digits (4-channel supernet, one cell per stage)."""
    base = {"space": {"name": "nb201", "stem_channels": 4, "cells_per_stage": 1},
            "task": dict(TASK), "strategy": {"name": "darts", "epochs": 2, "batch_size": 128},
            "budget__evaluations": 10}
    return tabular_config(tmp_path, **{**base, **changes})


def bound_darts(seed: int = 0, **options: object) -> DARTS:
    strategy = DARTS(SPACE, np.random.default_rng(seed), batch_size=128, **options)
    strategy.bind_task(TASK)
    return strategy


# --------------------------------------------------------------------------- supernet
def test_mixed_op_with_one_hot_weights_is_that_op() -> None:
    torch.manual_seed(0)
    mixed = MixedOp(NB201_OPS, 4).eval()
    x = torch.randn(2, 4, 6, 6)
    for index, name in enumerate(NB201_OPS):
        weights = torch.zeros(len(NB201_OPS))
        weights[index] = 1.0
        expected = torch.zeros_like(x) if name == "none" else mixed.ops[index](x)
        assert torch.allclose(mixed(x, weights), expected), name


def test_supernet_shares_alphas_across_cells_and_maps_images_to_logits() -> None:
    net = Supernet(NB201Space(stem_channels=4, cells_per_stage=2), 1, 10)
    alphas = torch.zeros(len(NB201_EDGES), len(NB201_OPS), requires_grad=True)
    logits = net(torch.randn(3, 1, 8, 8), alphas)
    assert logits.shape == (3, 10)
    logits.sum().backward()
    assert alphas.grad is not None and alphas.grad.abs().sum() > 0
    cells = [m for m in net.modules() if type(m).__name__ == "SearchCell"]
    assert len(cells) == 6  # 3 stages x 2 cells, all driven by the one alphas tensor


def test_derived_genome_takes_the_argmax_but_never_none() -> None:
    alphas = torch.zeros(6, len(NB201_OPS))
    none, skip, conv3 = (NB201_OPS.index(n) for n in ("none", "skip_connect", "nor_conv_3x3"))
    alphas[:, none] = 10.0  # none dominates every edge...
    alphas[:, skip] = 1.0  # ... and skip comes second
    alphas[5, conv3] = 2.0
    genome = derive_genome(alphas, NB201_OPS)
    assert genome.to_nb201() == ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|"
                                 "skip_connect~0|skip_connect~1|nor_conv_3x3~2|")


# --------------------------------------------------------------------------- updates
def test_second_order_gradient_matches_exact_differentiation_through_the_virtual_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DARTS' second-order gradient equals the exact gradient of
    ``L_val(w - lr * (dL_train/dw + wd * w), alpha)`` up to the finite difference's error.

    In float64 with a small difference step the two agree to 1e-6. (DARTS' own step, 0.01 of
    the gradient's norm, is coarse for a 4-channel supernet: ReLU and max-pool kinks then
    dominate, so it is the formula that is checked here, not the paper's step size.)"""
    monkeypatch.setattr(darts_module, "FINITE_DIFFERENCE_SCALE", 1e-5)
    strategy = bound_darts(order=2, weight_decay=0.0003)
    net = strategy.net = strategy.net.double()
    strategy.alphas = nn.Parameter(strategy.alphas.detach().double())
    generator = torch.Generator().manual_seed(0)
    xt, xv = (torch.randn(32, 1, 8, 8, generator=generator, dtype=torch.float64)
              for _ in range(2))
    yt, yv = (torch.randint(0, 10, (32,), generator=generator) for _ in range(2))
    loss_fn = nn.CrossEntropyLoss()
    lr = 0.025
    strategy._unrolled_alpha_grad(xt, yt, xv, yv, lr, loss_fn)  # noqa: SLF001
    approx = strategy.alphas.grad.clone()

    names, params = zip(*net.named_parameters(), strict=True)
    buffers = {n: b.clone() for n, b in net.named_buffers()}

    def call(weights: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(net, {**weights, **buffers}, (x, strategy.alphas))

    train_loss = loss_fn(call(dict(zip(names, params, strict=True)), xt), yt)
    grads = torch.autograd.grad(train_loss, params, create_graph=True)
    unrolled = {n: p - lr * (g + 0.0003 * p)
                for n, p, g in zip(names, params, grads, strict=True)}
    exact, = torch.autograd.grad(loss_fn(call(unrolled, xv), yv), [strategy.alphas])
    frozen = {n: w.detach().requires_grad_() for n, w in unrolled.items()}
    first_order, = torch.autograd.grad(loss_fn(call(frozen, xv), yv), [strategy.alphas])
    assert float((approx - exact).norm() / exact.norm()) < 1e-4
    # and the second-order term is a real correction, not a rounding error
    assert float((first_order - exact).norm() / exact.norm()) > 1e-3


@pytest.mark.parametrize("order", [1, 2])
def test_an_epoch_learns_and_logs_alphas(order: int) -> None:
    strategy = bound_darts(order=order, epochs=3)
    before = strategy.alphas.detach().clone()
    candidates = strategy.ask(1)
    assert len(candidates) == 1
    record = candidates[0].operator
    assert record["op"] == "darts" and record["order"] == order and record["epoch"] == 1
    assert record["search_seconds"] > 0
    (epoch,) = record["history"]
    assert np.array(epoch["alphas"]).shape == (6, len(NB201_OPS))
    assert not torch.allclose(strategy.alphas.detach(), before)  # the alphas moved
    assert 0 <= epoch["train_accuracy"] <= 1 and epoch["train_loss"] > 0
    second = strategy.ask(1)[0].operator["history"][0]
    assert second["train_loss"] < epoch["train_loss"]  # the supernet trains
    assert second["lr"] < epoch["lr"]  # cosine annealing


def test_derive_every_groups_epochs_and_the_search_ends_after_its_epochs() -> None:
    strategy = bound_darts(epochs=3, derive_every=2)
    first = strategy.ask(4)
    assert [c.operator["epoch"] for c in first] == [2]
    assert [h["epoch"] for h in first[0].operator["history"]] == [1, 2]
    strategy.tell([Evaluated(0, first[0].genome, 0.5)])
    last = strategy.ask(1)
    assert [c.operator["epoch"] for c in last] == [3] and last[0].parents == (0,)
    assert strategy.done and strategy.ask(1) == []


def test_skip_collapse_is_flagged() -> None:
    strategy = bound_darts(epochs=1, alpha_lr=1e-6)
    with torch.no_grad():
        strategy.alphas[:, NB201_OPS.index("skip_connect")] = 5.0
    record = strategy.ask(1)[0].operator
    assert record["skips"] == 6 and record["skip_collapse"] is True
    fine = bound_darts(epochs=1).ask(1)[0].operator
    assert fine["skip_collapse"] is (fine["skips"] > 3)


def test_a_diverging_supernet_ends_the_search_with_a_record() -> None:
    strategy = bound_darts(epochs=5, lr=1e12, lr_min=1e12, grad_clip=1e12)
    candidates = []
    while not strategy.done:
        candidates += strategy.ask(1)
    last = candidates[-1].operator
    assert last["diverged"] is True and last["history"][-1]["diverged"] is True
    assert torch.isfinite(strategy.alphas).all()
    assert strategy.ask(1) == []


def test_state_round_trip_through_json_continues_identically() -> None:
    original = bound_darts(seed=3, epochs=3)
    original.ask(1)
    state = json.loads(json.dumps(original.state_dict()))
    restored = bound_darts(seed=99, epochs=3)  # a different seed: everything must come from state
    restored.load_state_dict(state)
    a, b = original.ask(1)[0], restored.ask(1)[0]
    assert a.genome == b.genome
    assert a.operator["history"] == b.operator["history"]


# --------------------------------------------------------------------------- config and task
def test_config_errors_name_the_field(tmp_path: Path) -> None:
    def check(match: str, **changes: object) -> None:
        with pytest.raises(ConfigError, match=match):
            validate(darts_config(tmp_path, **changes), "x.yaml")

    check(r"x.yaml: strategy.name: darts searches the nb201 cell space",
          space=FreeSpace().to_dict())
    check(r"strategy.order: must be 1 \(first order\) or 2",
          strategy={"name": "darts", "order": 3})
    check(r"strategy.batch_size: must be at least 2",
          strategy={"name": "darts", "batch_size": 1})
    check(r"strategy.device: unknown torch device 'gpu7'",
          strategy={"name": "darts", "device": "gpu7"})
    check(r"strategy.epochs: must be at least 1", strategy={"name": "darts", "epochs": 0})


def test_a_task_without_data_is_rejected_before_any_run_folder(tmp_path: Path) -> None:
    config = tabular_config(tmp_path, strategy={"name": "darts"})
    with pytest.raises(ConfigError, match="darts trains a supernet on the task's train and "
                                          "validation splits; task 'tabular' has none"):
        evonas.run(config)
    assert not (tmp_path / "runs").exists()
    assert build_task(TASK, SPACE).splits is not None


# --------------------------------------------------------------------------- campaigns
def test_campaign_counts_supernet_time_as_device_seconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = evonas.run(darts_config(tmp_path))
    individuals = run.individuals()
    assert [ind.operator["epoch"] for ind in individuals] == [1, 2]
    assert individuals[1].parents == (0,)  # each derivation descends from the last one told
    search = sum(ind.operator["search_seconds"] for ind in individuals)
    with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
        evaluation = sum(ev.seconds or 0.0 for ev in journal.evaluations()
                         if ev.status == "ok")
    status = run.status()
    assert status["device_seconds"] == pytest.approx(search + evaluation, abs=2e-3)
    assert status["search"]["epoch"] == 2
    assert status["search"]["seconds"] == pytest.approx(search, abs=2e-3)
    collapsed = [ind.operator["epoch"] for ind in individuals if ind.operator["skip_collapse"]]
    assert status["search"]["skip_collapse_epoch"] == (collapsed[0] if collapsed else None)
    history = run.search_history()
    assert [(h["epoch"], h["individual"]) for h in history] == [(1, 0), (2, 1)]
    assert np.array(history[1]["alphas"]).shape == (6, len(NB201_OPS))
    curve = load_curve(run.path)
    assert curve.strategy == "darts-1st"
    capsys.readouterr()
    assert main(["status", str(run.path)]) == 0
    assert "search: epoch 2, supernet " in capsys.readouterr().out
    assert curve.total_seconds == pytest.approx(search + evaluation, abs=2e-3)
    assert all(0 <= ind.metrics["test_accuracy"] <= 1 for ind in individuals)


def test_other_strategies_have_no_search_log(tmp_path: Path) -> None:
    run = evonas.run(tabular_config(tmp_path, budget__evaluations=5))
    assert run.status()["search"] is None and run.search_history() == []
    assert run.status()["device_seconds"] == pytest.approx(0.0, abs=0.5)


def test_device_seconds_budget_stops_the_search(tmp_path: Path) -> None:
    run = evonas.run(darts_config(tmp_path, strategy={"name": "darts", "epochs": 50,
                                                      "batch_size": 128},
                                  budget={"evaluations": 50, "device_seconds": 0.5}))
    status = run.status()
    assert status["individuals"] == 1  # the first epoch alone spends the budget
    assert status["state"] == "completed" and status["device_seconds"] >= 0.5


def test_report_shows_the_search(tmp_path: Path) -> None:
    from evonas.report import write_report
    from tests.evonas.report.report_page import ReportPage, png_of

    run = evonas.run(darts_config(tmp_path))
    text = write_report(run).read_text()
    page = ReportPage(text)
    width, height = png_of(page.figures["fig-alphas"]).size
    assert width > 600 and height > 300  # six edge panels
    assert "search-epochs" in page.tables
    assert "<td>#1</td>" in text  # epoch 2's derived individual
    assert page.external == []
