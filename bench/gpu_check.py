"""One short GPU check (under 5 minutes on one GPU): a campaign, compiled-network throughput, and
the memory estimate against the real peak.

Three parts, in this order (the campaign first, so this process touches CUDA only after the
pool's workers have come and gone):

1. **Campaign**: :func:`evonas.api.run` on Fashion-MNIST, regularized evolution of free-space
   networks, ``precision: bf16`` and ``channels_last: auto``, with the evaluator
   ``{devices: [DEVICE], workers_per_device: 2}`` (two workers sharing one GPU): 8 evaluations
   of 2 epochs on a 10,000-image stratified training subset. Reports the wall time, the
   evaluations, the best validation and test accuracy, and the worker (hence device) each
   evaluation ran on, from the journal.
2. **Throughput**: the compiled NAS-Bench-201 network (a fixed cell, C=16, N=5, 3x32x32 input,
   10 classes) against the same network written by hand (``bench/compile_overhead.py``'s
   ``HandNetwork``), same weights; training steps (forward + backward + SGD step) at batch 256
   under autocast bf16 (and channels-last) on CUDA, fp32 on CPU, the two models alternating
   (ABBA), synchronised. Reports images/s of each and ``ratio = compiled / hand-written``
   (>= 1: the compiled network is at least as fast).
3. **Memory** (CUDA only): :func:`~evonas.evaluation.memory.estimate_peak_memory` (safety
   factor 1) against ``torch.cuda.max_memory_allocated`` over a few real training steps and
   one scoring batch, same batch sizes and optimizer, for four genomes (NB201 and free space):
   in fp32 (what the estimate models) and, for information, in bf16 + channels-last (how the
   campaign trains).

Data for part 1: ``--data`` (an idx folder or an ``.npz``), else
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``), else
``runs/fashion_mnist_subset.npz``; if none exists the part is skipped with a message. For a
machine without the Debian package, write a subset beforehand (x_train, y_train from the
training files, x_test, y_test from t10k; uint8, loadable with ``allow_pickle=False``)::

    .venv/bin/python bench/gpu_check.py --write-npz runs/fashion_mnist_subset.npz

(``runs/`` is git-ignored: carry that path to the GPU machine.) Then, on the GPU machine
(about 1-2 minutes; well under 5)::

    python bench/gpu_check.py --device cuda:0 --out $OUT/gpu_check.json

A CPU smoke test of the same code paths (CUDA-only calls skipped; 1-2 minutes on 2 cores)::

    .venv/bin/python bench/gpu_check.py --device cpu --quick

It prints a compact report and writes it as JSON to ``--out`` (default ``$OUT/gpu_check.json``
when ``$OUT`` is set, else ``./gpu_check.json``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/gpu_check.py` without an installed evonas
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.compile_overhead import (  # noqa: E402
    FREE_GENOME,
    FREE_SPACE,
    NB201_CELL,
    HandNetwork,
    copy_weights,
)
from evonas.compiler import compile_genome, count_params  # noqa: E402
from evonas.evaluation.memory import estimate_peak_memory, format_size  # noqa: E402
from genomes import DAGGenome, FreeSpace, NB201Space  # noqa: E402

IDX_PATH = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_NPZ = ROOT / "runs" / "fashion_mnist_subset.npz"
#: Images per class kept by --write-npz (training files, t10k files).
NPZ_TRAIN_PER_CLASS = 1200
NPZ_TEST_PER_CLASS = 200

NB201_ALL_CONV = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
                  "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
#: The free-space network of examples/fashion_mnist.yaml's space (network mode).
FMNIST_SPACE = FreeSpace(mode="network", max_nodes=5, max_edges=8, widths=(8, 16, 32),
                         stem_channels=16)
FMNIST_GENOME = DAGGenome.from_dict({
    "kind": "dag", "version": 1, "space": "free", "num_nodes": 5, "widths": [16, 8, 16, 8, 32],
    "edges": [[0, 1, "conv_5x5"], [0, 2, "identity"], [0, 3, "sep_conv_3x3"],
              [1, 3, "max_pool_3x3"], [2, 4, "conv_3x3"], [3, 4, "conv_3x3"]]})


def log(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- data
def write_npz(path: Path, source: Path, seed: int = 0) -> dict[str, Any]:
    """Save a stratified subset of the idx files in ``source`` to ``path`` (uint8 images)."""
    from evonas.tasks.datasets.idx import IDX_FILE_NAMES, read_idx

    def find(option: str) -> Path:
        for name in IDX_FILE_NAMES[option]:
            for candidate in (source / name, source / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
        raise SystemExit(f"--write-npz: no {IDX_FILE_NAMES[option][0]}[.gz] in {source}")

    rng = np.random.default_rng(seed)

    def subset(x: np.ndarray, y: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                               for c in np.unique(y)])
        keep.sort()
        return np.ascontiguousarray(x[keep], dtype=np.uint8), y[keep].astype(np.int64)

    x_train, y_train = subset(read_idx(find("train_images")), read_idx(find("train_labels")),
                              NPZ_TRAIN_PER_CLASS)
    x_test, y_test = subset(read_idx(find("test_images")), read_idx(find("test_labels")),
                            NPZ_TEST_PER_CLASS)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    with np.load(path, allow_pickle=False) as check:
        shapes = {key: list(check[key].shape) for key in check.files}
    return {"path": str(path), "bytes": path.stat().st_size, "shapes": shapes}


def find_data(arg: str | None) -> tuple[dict[str, Any] | None, str]:
    """The task's ``name`` and ``path`` for part 1, or None and why not."""
    candidates = [Path(arg)] if arg else [IDX_PATH, DEFAULT_NPZ]
    for path in candidates:
        if path.is_dir():
            return {"name": "idx", "path": str(path)}, str(path)
        if path.is_file() and path.suffix == ".npz":
            return {"name": "npz", "path": str(path)}, str(path)
    tried = ", ".join(str(p) for p in candidates)
    return None, (f"no Fashion-MNIST data ({tried} not found); pass --data DIR|FILE.npz, or "
                  "write one with --write-npz FILE where the idx files are")


# --------------------------------------------------------------------------- part 1: campaign
def campaign(args: argparse.Namespace) -> dict[str, Any]:
    import evonas
    from evonas.storage import JOURNAL_FILE, Journal

    data, where = find_data(args.data)
    if data is None:
        log(f"  skipped: {where}")
        return {"skipped": where}
    quick = args.quick
    evaluations = args.evaluations or (4 if quick else 8)
    task = {
        **data,
        "split_seed": 0, "val_fraction": 0.1,
        "max_train": 1000 if quick else 10000, "max_val": 500 if quick else 2000,
        "max_test": 500 if quick else 2000,
        "epochs": 1 if quick else 2, "lr": 0.01, "batch_size": 128,
        "precision": args.precision, "channels_last": "auto",
    }
    config = {
        "seed": 0,
        "space": {"name": "free", "mode": "network", "max_nodes": 5, "max_edges": 8,
                  "widths": [8, 16, 32], "stem_channels": 16},
        "task": task,
        "strategy": {"name": "regularized_evolution", "population": 4, "sample": 2},
        "evaluator": {"devices": [args.device], "workers_per_device": 2, "timeout": 600},
        "budget": {"evaluations": evaluations},
        "campaign": {"progress": False},
    }
    log(f"  data: {data['name']} {where}; {evaluations} evaluations x {task['epochs']} epochs, "
        f"max_train {task['max_train']}, {args.precision}, 2 workers on {args.device}")
    with tempfile.TemporaryDirectory(prefix="evonas-gpu-check-") as runs_dir:
        config["runs_dir"] = runs_dir
        start = time.perf_counter()
        run = evonas.run(config, name="gpu-check")
        wall = time.perf_counter() - start
        with run:
            status = run.status()
            best = run.best()
            individuals = run.individuals()
        with Journal.open(run.path / JOURNAL_FILE, readonly=True) as journal:
            rows = list(journal.evaluations())
    ok = [ind for ind in individuals if ind.status == "ok"]
    per_eval = []
    by_id = {row.individual_id: row for row in rows}
    for ind in individuals:
        row = by_id.get(ind.id)
        per_eval.append({
            "id": ind.id, "status": ind.status, "worker": row.worker if row else None,
            "seconds": row.seconds if row else None,
            "train_seconds": ind.metrics.get("train_seconds"),
            "val_accuracy": ind.metrics.get("val_accuracy"),
            "test_accuracy": ind.metrics.get("test_accuracy"),
            "params": ind.metrics.get("params"), "error": ind.error})
    workers: dict[str, int] = {}
    for item in per_eval:
        workers[str(item["worker"])] = workers.get(str(item["worker"]), 0) + 1
    result = {
        "data": where, "device": args.device, "workers_per_device": 2,
        "precision": args.precision,
        "evaluations_budget": evaluations, "epochs": task["epochs"],
        "max_train": task["max_train"], "wall_seconds": round(wall, 2),
        "individuals": len(individuals), "ok": len(ok),
        "failed": sum(ind.status == "failed" for ind in individuals),
        "best_id": best.id if best else None,
        "best_val_accuracy": best.metrics.get("val_accuracy") if best else None,
        "best_test_accuracy": best.metrics.get("test_accuracy") if best else None,
        "best_params": best.metrics.get("params") if best else None,
        "mean_train_seconds": (round(statistics.mean(e["train_seconds"] for e in per_eval
                                                     if e["train_seconds"] is not None), 3)
                               if ok else None),
        "workers": workers, "evaluations": per_eval, "status": status,
    }
    for item in per_eval:
        acc = item["val_accuracy"]
        log(f"    #{item['id']:<2} {item['status']:<6} {str(item['worker']):<20} "
            f"{item['seconds'] or 0:6.1f} s  val {acc if acc is None else f'{acc:.4f}'}"
            + (f"  {item['error']}" if item["error"] else ""))
    log(f"  wall {wall:.1f} s, {len(ok)}/{len(individuals)} ok, per worker {workers}")
    if best:
        log(f"  best #{best.id}: val {result['best_val_accuracy']:.4f}, test "
            f"{result['best_test_accuracy']:.4f}, {result['best_params']:,} params")
    return result


# --------------------------------------------------------------------------- part 2: throughput
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_for(device: torch.device, precision: str) -> Any:
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)


def throughput(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    cuda = device.type == "cuda"
    precision = "bf16" if cuda else "fp32"
    channels_last = cuda
    batch = args.batch or (8 if args.quick else 256)  # a CPU step at batch 32 takes seconds
    rounds = args.rounds or (2 if args.quick else 10)
    steps = 1 if args.quick else 10  # steps per timed block
    warmup = 1 if args.quick else 10
    torch.manual_seed(0)
    space = NB201Space()
    genome = DAGGenome.from_nb201(NB201_CELL)
    compiled = compile_genome(genome, space, (3, 32, 32), 10)
    hand = HandNetwork(genome, space.stem_channels, 3, space.cells_per_stage, 10)
    copy_weights(hand, compiled)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    models = {"compiled": compiled.to(device), "hand-written": hand.to(device)}
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        for name in models:
            models[name] = models[name].to(memory_format=torch.channels_last)
    for model in models.values():
        model.eval()
    with torch.no_grad():
        diff = (models["compiled"](x) - models["hand-written"](x)).abs().max().item()
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
                  for name, m in models.items()}
    for model in models.values():
        model.train()

    def block(name: str, n: int) -> float:
        model, opt = models[name], optimizers[name]
        sync(device)
        start = time.perf_counter()
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            with autocast_for(device, precision):
                loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        sync(device)
        return time.perf_counter() - start

    for name in models:
        block(name, warmup)
    times: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for name in order:  # ABBA order cancels drift within a round pair
            times[name].append(block(name, steps))
    rates = {name: batch * steps / statistics.median(ts) for name, ts in times.items()}
    ratio = rates["compiled"] / rates["hand-written"]
    result = {
        "network": f"NB201 {NB201_CELL} C=16 N=5", "params": count_params(compiled),
        "batch": batch, "precision": precision, "channels_last": channels_last,
        "rounds": rounds, "steps_per_round": steps, "warmup_steps": warmup,
        "max_abs_output_diff": diff,
        "images_per_s": {name: round(rate, 1) for name, rate in rates.items()},
        "median_step_ms": {name: round(statistics.median(ts) / steps * 1e3, 3)
                           for name, ts in times.items()},
        "ratio_compiled_over_hand": round(ratio, 4),
    }
    log(f"  {result['network']}, {result['params']:,} params, batch {batch}, {precision}"
        f"{', channels-last' if channels_last else ''}, {rounds} rounds x {steps} steps "
        f"(eval-mode output max |diff| {diff:.2e})")
    for name, rate in rates.items():
        log(f"    {name:>12}: {rate:10.1f} images/s  "
            f"({result['median_step_ms'][name]:.2f} ms/step)")
    log(f"  ratio (compiled / hand-written images/s) = {ratio:.3f}")
    return result


# --------------------------------------------------------------------------- part 3: memory
MEMORY_CASES: list[tuple[str, Any, Any, tuple[int, int, int], str]] = [
    # (label, space, genome, input shape, optimizer)
    ("NB201 best cell C=16 N=5", NB201Space(), DAGGenome.from_nb201(NB201_CELL), (3, 32, 32),
     "sgd"),
    ("NB201 all-conv cell C=16 N=5", NB201Space(), DAGGenome.from_nb201(NB201_ALL_CONV),
     (3, 32, 32), "adam"),
    ("free cell mode, 3 stages", FREE_SPACE, FREE_GENOME, (3, 32, 32), "adam"),
    ("free network (Fashion-MNIST)", FMNIST_SPACE, FMNIST_GENOME, (1, 28, 28), "adam"),
]


def measure_peak(space: Any, genome: Any, shape: tuple[int, int, int], batch: int,
                 eval_batch: int, optimizer: str, device: torch.device, precision: str,
                 channels_last: bool, steps: int) -> int:
    """Peak bytes allocated (above what was allocated before) over ``steps`` training steps and
    one scoring batch of a freshly compiled network on ``device``."""
    from evonas.tasks.recipe import Recipe
    from evonas.tasks.training import make_optimizer

    gc.collect()
    torch.cuda.empty_cache()
    sync(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    model = compile_genome(genome, space, shape, 10).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    opt = make_optimizer(model, Recipe(optimizer=optimizer))
    x = torch.randn(batch, *shape, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, 10, (batch,), device=device)
    model.train()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with autocast_for(device, precision):
            loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    del x, y, loss
    model.eval()
    with torch.no_grad(), autocast_for(device, precision):
        xe = torch.randn(eval_batch, *shape, device=device).contiguous(
            memory_format=memory_format)
        model(xe).argmax(1)
    sync(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del model, opt, xe
    gc.collect()
    torch.cuda.empty_cache()
    return peak


def memory(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    batch = args.batch or (32 if args.quick else 256)
    eval_batch = 1024
    steps = 3
    rows = []
    if device.type == "cuda":  # cuBLAS/cuDNN handles and workspaces: allocated once, up front
        warm = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
        warm = warm.to(device)
        for precision in ("fp32", "bf16"):
            with autocast_for(device, precision):
                out = warm(torch.randn(2, 3, 32, 32, device=device))
            out.float().sum().backward()
        del warm, out
        sync(device)
    log(f"  batch {batch}, scoring batch {eval_batch}, {steps} training steps; estimate with "
        "safety_factor 1.0")
    log(f"    {'network':<30} {'opt':<5} {'estimate':>10} {'fp32 peak':>10} {'est/real':>8} "
        f"{'bf16+cl peak':>12} {'est/real':>8}")
    for label, space, genome, shape, optimizer in MEMORY_CASES:
        start = time.perf_counter()
        est = estimate_peak_memory(genome, space, shape, 10, batch, optimizer,
                                   eval_batch_size=eval_batch, safety_factor=1.0)
        est_seconds = time.perf_counter() - start
        row: dict[str, Any] = {"network": label, "optimizer": optimizer, "input": list(shape),
                               "estimate": est.to_dict(), "estimate_seconds": round(est_seconds,
                                                                                    3)}
        if device.type == "cuda":
            fp32 = measure_peak(space, genome, shape, batch, eval_batch, optimizer, device,
                                "fp32", False, steps)
            mixed = measure_peak(space, genome, shape, batch, eval_batch, optimizer, device,
                                 "bf16", True, steps)
            row.update(measured_fp32=fp32, ratio_fp32=round(est.total / fp32, 3),
                       measured_bf16_channels_last=mixed,
                       ratio_bf16_channels_last=round(est.total / mixed, 3))
            log(f"    {label:<30} {optimizer:<5} {format_size(est.total):>10} "
                f"{format_size(fp32):>10} {est.total / fp32:>8.2f} {format_size(mixed):>12} "
                f"{est.total / mixed:>8.2f}")
        else:
            log(f"    {label:<30} {optimizer:<5} {format_size(est.total):>10} "
                f"{'skipped (no CUDA)':>10}")
        rows.append(row)
    if device.type != "cuda":
        log("  measured: skipped (no CUDA): torch.cuda.max_memory_allocated needs a GPU")
    return {"batch": batch, "eval_batch": eval_batch, "steps": steps,
            "measured": device.type == "cuda", "cases": rows}


# --------------------------------------------------------------------------- main
def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "device": str(device), "threads": torch.get_num_threads(),
                           "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory=props.total_memory, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   bf16_supported=torch.cuda.is_bf16_supported())
    return env


def default_out() -> Path:
    out = os.environ.get("OUT")
    return Path(out) / "gpu_check.json" if out else Path("gpu_check.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda:0", help="cuda:N (default cuda:0) or cpu")
    parser.add_argument("--quick", action="store_true",
                        help="smaller everything (a smoke test, not a result)")
    parser.add_argument("--data", help="Fashion-MNIST idx folder or .npz (default: "
                        f"{IDX_PATH}, else {DEFAULT_NPZ.relative_to(ROOT)})")
    parser.add_argument("--write-npz", metavar="FILE", type=Path,
                        help="only write a Fashion-MNIST subset from the idx files (--data or "
                        f"{IDX_PATH}) to FILE and exit")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report (default $OUT/gpu_check.json, else ./gpu_check.json)")
    parser.add_argument("--parts", default="campaign,throughput,memory",
                        help="comma-separated subset of campaign,throughput,memory")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "fp16"),
                        help="the campaign's task.precision (default bf16)")
    parser.add_argument("--evaluations", type=int, default=0, help="campaign budget (8; 4 quick)")
    parser.add_argument("--batch", type=int, default=0,
                        help="throughput and memory batch (256; with --quick 8 and 32)")
    parser.add_argument("--rounds", type=int, default=0, help="throughput rounds (10; 2 quick)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.write_npz:
        info = write_npz(args.write_npz, Path(args.data) if args.data else IDX_PATH)
        log(f"wrote {info['path']} ({info['bytes'] / 2**20:.1f} MiB): {info['shapes']}")
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available here (use --device cpu)")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"campaign", "throughput", "memory"}
    if unknown:
        raise SystemExit(f"--parts: unknown {sorted(unknown)}")
    out = args.out or default_out()
    total_start = time.perf_counter()
    report: dict[str, Any] = {"command": " ".join([sys.executable, *sys.argv]),
                              "quick": args.quick}
    log(f"gpu_check: {report['command']}")
    for name, part in (("campaign", campaign), ("throughput", throughput),
                       ("memory", memory)):
        if name not in parts:
            continue
        log(f"\n== {name}")
        start = time.perf_counter()
        try:
            result = part(args) if name == "campaign" else part(args, device)  # type: ignore
        except Exception as exc:  # noqa: BLE001 (report it, go on with the other parts)
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  FAILED: {result['error']}")
        result["part_seconds"] = round(time.perf_counter() - start, 2)
        report[name] = result
        log(f"  ({result['part_seconds']:.1f} s)")
    report["environment"] = environment(device)  # after the campaign: CUDA initialised last
    report["total_seconds"] = round(time.perf_counter() - total_start, 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    env = report["environment"]
    log(f"\n{env.get('gpu', 'CPU')}, torch {env['torch']}; total {report['total_seconds']:.1f} s;"
        f" report: {out}")
    return 1 if any("error" in report.get(p, {}) for p in parts) else 0


if __name__ == "__main__":
    raise SystemExit(main())
