"""``evonas train RUN``: retrain found architectures with the full recipe and keep the weights.

Parsing and printing only; the work is :func:`evonas.retrain.retrain`. Each trained model is a
line on stdout (``--json``: one JSON document); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evonas.retrain import RetrainResult, TrainedModel, retrain

DESCRIPTION = """\
Retrain individuals of a run with the task's full recipe on the train and validation splits
together, report their test accuracy, and keep the trained weights (a tensors-only state dict,
RUN/trained/<id>-<key>.pt, with a JSON sidecar) journaled as a `trained` event. A rerun of the
same command skips every model trained already whose weight file is intact.
"""


def add_train_command(sub: Any) -> None:
    """Add ``train`` to the ``evonas`` subcommands ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("train", help="retrain found architectures on train+validation and keep "
                       "the weights", description=DESCRIPTION)
    p.add_argument("run", help="run folder, e.g. runs/NAME")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--id", type=int, action="append", dest="ids", metavar="N",
                       help="train individual N (repeat for several)")
    which.add_argument("--best", action="store_true",
                       help="train the best individual (the default)")
    which.add_argument("--top", type=int, metavar="K", help="train the K best individuals")
    p.add_argument("--epochs", type=int, metavar="E", help="epochs (sets task.epochs)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change a task option, e.g. --set task.lr=0.005")
    p.add_argument("--task", metavar="CONFIG",
                   help="train on the task: section of this campaign config instead (another "
                        "dataset: does the architecture transfer?)")
    p.add_argument("--output", metavar="DIR",
                   help="also export each trained model into DIR as .pt, .onnx and .py")
    p.add_argument("--device", default="auto",
                   help="torch device: auto (cuda when available), cpu, cuda, cuda:1")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``evonas train``; exit 1 when a model's training failed (a NaN loss)."""
    result = retrain(args.run, ids=args.ids or (), best=args.best, top=args.top,
                     epochs=args.epochs, overrides=args.set or (), task_file=args.task,
                     output=args.output, device=args.device,
                     report=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(_as_json(result), indent=2))
    else:
        for model in result.models:
            print(_line(model))
        for path in result.exports:
            print(f"exported {path}")
    for id_, reason in result.failures:
        print(f"evonas: individual {id_}: {reason}", file=sys.stderr)
    return 1 if result.failures else 0


def _line(model: TrainedModel) -> str:
    done = "already trained, skipped" if model.reused else "trained"
    return f"{model.summary()} ({done}; weights {model.weights})"


def _as_json(result: RetrainResult) -> dict[str, Any]:
    return {
        "task": result.task,
        "device": result.device,
        "models": [{"individual": m.individual_id, "key": m.key, "weights": str(m.weights),
                    "sidecar": str(m.sidecar), "sha256": m.sha256, "reused": m.reused,
                    "seed": m.seed, "input_shape": list(m.input_shape),
                    "num_classes": m.num_classes, "metrics": m.metrics, "recipe": m.recipe}
                   for m in result.models],
        "failures": [{"individual": i, "reason": r} for i, r in result.failures],
        "exports": [str(p) for p in result.exports],
    }
