"""What one evaluation does with weights, and how far it trains: the job's :class:`TrainingPlan`.

Plain data (no torch), carried by an :class:`~evonas.evaluation.base.EvalJob` to the worker as
JSON. Tasks that train (their ``accepts_plan`` is true) honour it; the campaign builds plans for
kept weights (``campaign.keep_weights``), rungs of a fidelity ladder and weight inheritance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainingPlan:
    """Weight files and fidelity of one evaluation, for tasks that train (``accepts_plan``).

    Paths are absolute; every file is weights-only safetensors (:mod:`evonas.weights`).

    Attributes:
        save_to: write the trained state here when training ends (model weights, and the
            optimizer and schedule state a continuation needs).
        resume_from: a state written by an earlier evaluation of the same genome: load model,
            optimizer and schedule and continue training from its epoch (a promotion to a
            higher rung) instead of starting over.
        inherit_from: a parent's state: before training, copy every tensor whose name and shape
            the new network shares (weight inheritance); the optimizer starts fresh.
        epochs: train until this epoch of the recipe's schedule (a fidelity below the recipe's
            full ``epochs``); None: the recipe's own.
        schedule_epochs: the epochs the learning-rate schedule spans (the top rung of a
            ladder), so that rungs of one ladder share one schedule; None: ``epochs``.
        data_fraction: train on this fraction of the task's training data (a rung of a
            ``data_fraction`` ladder; it multiplies the recipe's own ``data_fraction``, and the
            subsets of one seed nest); None: all of it.
    """

    save_to: str | None = None
    resume_from: str | None = None
    inherit_from: str | None = None
    epochs: int | None = None
    schedule_epochs: int | None = None
    data_fraction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingPlan:
        return cls(**data)

