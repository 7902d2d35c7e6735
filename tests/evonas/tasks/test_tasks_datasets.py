"""Dataset tasks (idx, npz, image_folder, cifar, torch datasets): loading, splits, normalisation,
clear errors for bad files, and one end-to-end evaluation each.

Every test writes its own small files (the sklearn digits in each format, see
:mod:`evonas.tasks.datasets.samples`) into ``tmp_path``; the Fashion-MNIST test reads Debian's
``dataset-fashion-mnist`` files where they are installed and skips otherwise.
"""

from __future__ import annotations

import copyreg
import gzip
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evonas.config import validate
from evonas.tasks import TASK_DEFAULTS, DatasetTask, SplitPlan, TaskError, build_task
from evonas.tasks.datasets import arrays_from_torch_dataset, read_idx, restricted_load
from evonas.tasks.datasets.samples import (
    digits_uint8,
    write_digits_cifar,
    write_digits_idx,
    write_digits_npz,
    write_digits_png,
    write_idx,
    write_samples,
)
from genomes import DAGGenome, Edge, FreeSpace

SPACE = FreeSpace()
#: Two 3x3 convolutions (16 -> 32 -> 32 channels), as in the digits tests.
TWO_CONVS = DAGGenome("free", 3, (Edge(0, 1, "conv_3x3"), Edge(1, 2, "conv_3x3")), (16, 32, 32))
QUICK = {"epochs": 1, "batch_size": 64}
FASHION = Path("/usr/share/datasets/fashion-mnist")
DATASET_TASKS = ("idx", "npz", "image_folder", "cifar")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return write_samples(tmp_path_factory.mktemp("samples"))


def indexed_npz(path: Path, n: int = 400, classes: int = 4, **extra: np.ndarray) -> Path:
    """An npz whose image ``i`` holds the value ``i`` in every pixel (so splits can be traced)."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 4, 4)).copy()
    np.savez(path, x=x, y=np.arange(n) % classes, **extra)
    return path


def raw_ids(task: DatasetTask, x: np.ndarray) -> np.ndarray:
    """The sample ids of :func:`indexed_npz` images, undoing the task's normalisation."""
    return np.round(x[:, 0, 0, 0] * task.std[0] + task.mean[0]).astype(int)


# --------------------------------------------------------------------------- every format
@pytest.mark.parametrize("name", DATASET_TASKS)
def test_each_format_evaluates_a_genome_end_to_end(samples, name):
    task = build_task(samples[name], SPACE)
    assert task.name == name
    assert isinstance(task, DatasetTask)
    metrics = task.evaluate(TWO_CONVS, seed=1)
    assert 0.0 <= metrics["fitness"] <= 1.0
    assert metrics["fitness"] == metrics["val_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert task.num_classes == 10
    s = task.splits
    assert s.x_train.dtype == s.x_val.dtype == s.x_test.dtype == np.float32
    assert s.y_train.dtype == np.int64
    assert s.x_train.flags.c_contiguous and s.x_train.shape[1:] == task.input_shape
    assert len(s.y_train) == 300  # max_train of the sample configs
    assert name in task.describe()


@pytest.mark.parametrize("name", DATASET_TASKS)
def test_each_format_is_registered_and_checks_its_options(samples, name):
    defaults = TASK_DEFAULTS[name]
    assert defaults["split_seed"] == 0 and defaults["val_fraction"] == 0.1
    assert defaults["normalize"] is True and defaults["max_train"] == 0
    assert defaults["epochs"] == TASK_DEFAULTS["digits"]["epochs"]  # the recipe's options
    with pytest.raises(TaskError, match=r"task\.max_trian: unknown key .*did you mean 'max_train'"):
        build_task({**samples[name], "max_trian": 3}, SPACE)
    with pytest.raises(TaskError, match=r"task\.path: missing"):
        build_task({"name": name}, SPACE)
    with pytest.raises(TaskError, match=r"task\.path: .*/nowhere: not found"):
        build_task({"name": name, "path": "nowhere"}, SPACE)
    with pytest.raises(TaskError, match=r"task\.val_fraction: must be between 0 and 1"):
        build_task({**samples[name], "val_fraction": 1.5}, SPACE)
    with pytest.raises(TaskError, match=r"task\.max_val: must be 0 \(all\) or a positive"):
        build_task({**samples[name], "max_val": -1}, SPACE)


@pytest.mark.parametrize("name", DATASET_TASKS)
def test_the_config_layer_accepts_the_new_task_names(samples, name):
    config = {"space": {"name": "free"}, "task": samples[name],
              "strategy": {"name": "random"}, "budget": {"evaluations": 2}}
    checked = validate(config, "campaign.yaml")
    assert checked["task"]["name"] == name


# --------------------------------------------------------------------------- splits
def test_splits_are_disjoint_cover_the_data_and_are_fixed_by_split_seed(tmp_path):
    path = indexed_npz(tmp_path / "ids.npz")
    config = {"name": "npz", "path": str(path), **QUICK}
    task = build_task(config, SPACE)
    s = task.splits
    ids = [raw_ids(task, x) for x in (s.x_train, s.x_val, s.x_test)]
    assert [len(i) for i in ids] == [288, 32, 80]  # test 20% of 400, val 10% of the rest
    assert sorted(np.concatenate(ids).tolist()) == list(range(400))
    for part, labels in zip(ids, (s.y_train, s.y_val, s.y_test), strict=True):
        assert np.array_equal(part % 4, labels)  # labels travel with their images
        assert np.bincount(labels).tolist() == [len(labels) // 4] * 4  # stratified
    again = build_task(config, SPACE)
    assert all(np.array_equal(a, b) for a, b in zip(
        (s.x_train, s.x_val, s.x_test), (again.splits.x_train, again.splits.x_val,
                                         again.splits.x_test), strict=True))
    other = build_task({**config, "split_seed": 1}, SPACE)
    assert not np.array_equal(raw_ids(other, other.splits.x_test), ids[2])
    # the test split depends on test_fraction and the seed only, not on val_fraction
    wider = build_task({**config, "val_fraction": 0.3}, SPACE)
    assert np.array_equal(raw_ids(wider, wider.splits.x_test), ids[2])
    assert len(wider.splits.y_val) == 96


def test_normalisation_uses_the_train_split_only(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (600, 3, 6, 6)).astype(np.float32) * np.float32([1, 5, 20])[:, None, None]
    x[:300] += 100  # shifts the statistics of whatever lands in each split differently
    path = tmp_path / "rgb.npz"
    np.savez(path, x_train=x[300:], y_train=np.arange(300) % 3, x_test=x[:300],
             y_test=np.arange(300) % 3)
    task = build_task({"name": "npz", "path": str(path), **QUICK}, SPACE)
    s = task.splits
    np.testing.assert_allclose(s.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(s.x_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert task.mean.shape == task.std.shape == (3,)
    # the statistics are those of the train split (90% of x[300:]), not of all the data
    pool = x[300:]
    train_raw = s.x_train * task.std[:, None, None] + task.mean[:, None, None]
    np.testing.assert_allclose(task.mean, train_raw.mean(axis=(0, 2, 3)), rtol=1e-4)
    assert np.all(np.abs(task.mean - pool.mean(axis=(0, 2, 3))) < 0.3)
    assert np.all(task.mean < 20)  # the shifted test images did not count
    # ... and every split was transformed with them
    np.testing.assert_allclose(s.x_test * task.std[:, None, None] + task.mean[:, None, None],
                               x[:300], rtol=1e-4, atol=1e-3)
    assert s.x_test.mean() > 50
    raw = build_task({"name": "npz", "path": str(path), "normalize": False, **QUICK}, SPACE)
    assert raw.splits.x_test.max() > 100 and np.all(raw.mean == 0) and np.all(raw.std == 1)


def test_uint8_images_are_scaled_to_the_unit_range_without_normalize(tmp_path):
    path = write_digits_npz(tmp_path / "d.npz")
    task = build_task({"name": "npz", "path": str(path), "normalize": False}, SPACE)
    assert task.splits.x_train.min() == 0.0 and task.splits.x_train.max() == 1.0


def test_max_options_draw_stratified_seeded_subsets(tmp_path):
    path = indexed_npz(tmp_path / "ids.npz", n=1000, classes=5)
    config = {"name": "npz", "path": str(path), "max_train": 101, "max_val": 50,
              "max_test": 20, **QUICK}
    task = build_task(config, SPACE)
    s = task.splits
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (101, 50, 20)
    assert sorted(np.bincount(s.y_train).tolist()) == [20, 20, 20, 20, 21]
    assert np.bincount(s.y_test).tolist() == [4] * 5
    again = build_task(config, SPACE)
    assert np.array_equal(again.splits.x_train, s.x_train)
    full = build_task({"name": "npz", "path": str(path), **QUICK}, SPACE)
    assert set(raw_ids(task, s.x_train)) <= set(raw_ids(full, full.splits.x_train))


def test_from_arrays_builds_a_task_without_files():
    images, labels = digits_uint8(500)
    task = DatasetTask.from_arrays(SPACE, images, labels, plan=SplitPlan(max_train=200),
                                   name="mine")
    assert task.input_shape == (1, 8, 8) and len(task.splits.y_train) == 200
    assert task.name == "mine"
    with pytest.raises(TaskError, match=r"x_val and y_val must be given together"):
        DatasetTask.from_arrays(SPACE, images, labels, x_val=images)


# --------------------------------------------------------------------------- idx
@pytest.mark.parametrize("compress", [True, False])
def test_idx_reads_gzipped_and_plain_files(tmp_path, compress):
    folder = write_digits_idx(tmp_path, compress=compress)
    task = build_task({"name": "idx", "path": str(folder), "normalize": False, **QUICK}, SPACE)
    images, labels = digits_uint8()
    s = task.splits
    assert task.input_shape == (1, 8, 8)
    assert len(s.y_test) == 297 and len(s.y_train) + len(s.y_val) == 1500
    assert abs(len(s.y_val) - 150) <= 10
    np.testing.assert_array_equal(s.y_test, labels[1500:])  # t10k is the test split, in order
    np.testing.assert_allclose(s.x_test[:, 0], images[1500:] / 255, atol=1e-6)


def test_idx_files_may_be_named_one_by_one(tmp_path):
    folder = write_digits_idx(tmp_path / "a")
    (tmp_path / "b").mkdir()
    moved = folder / "t10k-images-idx3-ubyte.gz"
    moved.rename(tmp_path / "b" / "test-images.gz")
    with pytest.raises(TaskError, match=r"task\.path: .*/a: no t10k-images-idx3-ubyte\(\.gz\) "
                                        r"file \(or set task\.test_images\)"):
        build_task({"name": "idx", "path": str(folder)}, SPACE)
    task = build_task({"name": "idx", "path": str(folder), "test_images": "../b/test-images.gz",
                       **QUICK}, SPACE)
    assert len(task.splits.y_test) == 297
    explicit = {k: str(folder / f"{p}-idx{d}-ubyte.gz") for k, p, d in (
        ("train_images", "train-images", 3), ("train_labels", "train-labels", 1),
        ("test_labels", "t10k-labels", 1))}
    task = build_task({"name": "idx", "test_images": str(tmp_path / "b" / "test-images.gz"),
                       **explicit, **QUICK}, SPACE)
    assert len(task.splits.y_test) == 297


def test_read_idx_round_trips_every_type(tmp_path):
    for dtype in ("uint8", "int8", "int16", "int32", "float32", "float64"):
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        if dtype == "uint8":
            array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
        out = read_idx(write_idx(tmp_path / f"a.{dtype}", array))
        assert out.shape == (2, 3, 4) and np.array_equal(out, array)


@pytest.mark.parametrize(("damage", "message"), [
    ("magic", r"task\.path: .*/train-images-idx3-ubyte\.gz: not an idx file \(magic 0x12340803"),
    ("empty", r"task\.path: .*/train-images-idx3-ubyte\.gz: not an idx file \(magic 0x-"),
    ("truncated", r"task\.path: .*/train-images-idx3-ubyte\.gz: truncated: the header says "
                  r"1500x8x8 uint8 values \(96000 bytes\), the file holds 95999"),
    ("gzip", r"task\.path: .*/train-images-idx3-ubyte\.gz: corrupt gzip data"),
    ("labels", r"task\.path: .*/train-labels-idx1-ubyte\.gz: 1499 labels for 1500 images"),
    ("dims", r"task\.path: .*/train-images-idx3-ubyte\.gz: expected images \(N, rows, cols\), "
             r"got dimensions \(1500, 64\)"),
])
def test_malformed_idx_files_name_the_file(tmp_path, damage, message):
    folder = write_digits_idx(tmp_path)
    images = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    if damage == "magic":
        images.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + raw[4:]))
    elif damage == "empty":
        images.write_bytes(b"")
    elif damage == "truncated":
        images.write_bytes(gzip.compress(raw[:-1]))
    elif damage == "gzip":
        images.write_bytes(images.read_bytes()[:100])
    elif damage == "labels":
        labels = folder / "train-labels-idx1-ubyte.gz"
        write_idx(labels, read_idx(labels)[:-1])
    else:
        write_idx(images, read_idx(images).reshape(1500, 64))
    with pytest.raises(TaskError, match=message):
        build_task({"name": "idx", "path": str(folder)}, SPACE)


def test_explicit_idx_file_errors_name_the_option(tmp_path):
    folder = write_digits_idx(tmp_path)
    (folder / "junk").write_bytes(b"\x89PNG....")
    with pytest.raises(TaskError, match=r"task\.test_labels: .*/junk: not an idx file"):
        build_task({"name": "idx", "path": str(folder), "test_labels": "junk"}, SPACE)
    with pytest.raises(TaskError, match=r"task\.train_labels: .*/gone: not found"):
        build_task({"name": "idx", "path": str(folder), "train_labels": "gone"}, SPACE)


# --------------------------------------------------------------------------- npz
def test_npz_layouts_give_the_same_images(tmp_path):
    splits = {}
    for layout in ("nchw", "nhwc", "nhw"):
        path = write_digits_npz(tmp_path / f"{layout}.npz", layout=layout)
        task = build_task({"name": "npz", "path": str(path), **QUICK}, SPACE)
        assert task.input_shape == (1, 8, 8)
        splits[layout] = task.splits
    for layout in ("nhwc", "nhw"):
        assert np.array_equal(splits[layout].x_train, splits["nchw"].x_train)
        assert np.array_equal(splits[layout].y_test, splits["nchw"].y_test)


def test_npz_layout_option_and_ambiguous_shapes(tmp_path):
    path = tmp_path / "cube.npz"
    np.savez(path, x=np.zeros((40, 4, 6, 4), np.float32), y=np.arange(40) % 2)
    with pytest.raises(TaskError, match=r"task\.path: .*cube\.npz: x: cannot tell the channel "
                                        r"axis of shape \(40, 4, 6, 4\).*set task\.layout"):
        build_task({"name": "npz", "path": str(path)}, SPACE)
    assert build_task({"name": "npz", "path": str(path), "layout": "nhwc"},
                      SPACE).input_shape == (4, 4, 6)
    assert build_task({"name": "npz", "path": str(path), "layout": "nchw"},
                      SPACE).input_shape == (4, 6, 4)
    with pytest.raises(TaskError, match=r"task\.layout: must be one of"):
        build_task({"name": "npz", "path": str(path), "layout": "hwc"}, SPACE)


def test_npz_predefined_splits_are_kept(tmp_path):
    path = write_digits_npz(tmp_path / "s.npz", splits=True)
    task = build_task({"name": "npz", "path": str(path), **QUICK}, SPACE)
    s = task.splits
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (1078, 359, 360)
    _, labels = digits_uint8()
    assert np.array_equal(s.y_val, labels[1078:1437])
    # train and test only: validation is carved from train
    images, labels = digits_uint8()
    np.savez(tmp_path / "tt.npz", x_train=images[:1000], y_train=labels[:1000],
             x_test=images[1000:], y_test=labels[1000:])
    task = build_task({"name": "npz", "path": str(tmp_path / "tt.npz"), **QUICK}, SPACE)
    assert len(task.splits.y_test) == 797
    assert len(task.splits.y_train) + len(task.splits.y_val) == 1000
    assert abs(len(task.splits.y_val) - 100) <= 10


def test_npz_arbitrary_size_and_channels(tmp_path):
    path = tmp_path / "five.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(60, 12, 10, 5)).astype(np.float32),
             y=np.arange(60) % 3)
    task = build_task({"name": "npz", "path": str(path), **QUICK}, SPACE)
    assert task.input_shape == (5, 12, 10) and task.num_classes == 3
    assert 0 <= task.evaluate(TWO_CONVS, seed=0)["fitness"] <= 1


def test_npz_object_arrays_are_refused_without_running_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.zeros((10, 4, 4), np.float32),
             y=np.array([Exploit(f"touch {marker}")] * 10, dtype=object))
    with pytest.raises(TaskError, match=r"task\.path: .*evil\.npz: y: cannot read the array "
                                        r"\(.*allow_pickle"):
        build_task({"name": "npz", "path": str(path)}, SPACE)
    assert not marker.exists()


@pytest.mark.parametrize(("arrays", "message"), [
    ({"images": np.zeros((10, 4, 4)), "labels": np.zeros(10)},
     r"no x and y arrays \(nor x_train, y_train\); found \['images', 'labels'\]"),
    ({"x": np.zeros((10, 4, 4))}, r"x without y"),
    ({"x": np.zeros((10, 4, 4)), "y": np.zeros(9, int)}, r"y: 9 labels for 10 images"),
    ({"x": np.zeros((10, 16)), "y": np.zeros(10, int)}, r"x: expected images .*shape \(10, 16\)"),
    ({"x": np.full((10, 4, 4), np.nan), "y": np.zeros(10, int)}, r"x: images hold NaN"),
    ({"x": np.zeros((10, 4, 4)), "y": np.full(10, 0.5)}, r"y: labels must be whole numbers"),
    ({"x": np.zeros((10, 4, 4)), "y": -np.ones(10, int)}, r"y: labels must be class indices"),
    ({"x": np.zeros((10, 4, 4)), "x_train": np.zeros((10, 4, 4)), "y": np.zeros(10, int)},
     r"holds both x and x_train"),
    ({"x_train": np.zeros((10, 4, 4)), "y_train": np.arange(10) % 2,
      "x_test": np.zeros((5, 4, 5)), "y_test": np.zeros(5, int)},
     r"x_test: images 1x4x5, but x_train has 1x4x4"),
    ({"x": np.array(["a"] * 10), "y": np.zeros(10, int)}, r"x: images must be numbers"),
])
def test_malformed_npz_files_name_the_file_and_array(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(TaskError, match=r"task\.path: .*bad\.npz: " + message):
        build_task({"name": "npz", "path": str(path)}, SPACE)


def test_npz_that_is_not_an_archive(tmp_path):
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(TaskError, match=r"task\.path: .*text\.npz: not a readable \.npz file"):
        build_task({"name": "npz", "path": str(tmp_path / "text.npz")}, SPACE)
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(TaskError, match=r"a single array \(\.npy\)"):
        build_task({"name": "npz", "path": str(tmp_path / "single.npy")}, SPACE)


# --------------------------------------------------------------------------- image folders
def test_image_folder_split_by_fraction_resizes_and_converts(tmp_path):
    folder = write_digits_png(tmp_path / "png", per_class=20, rgb=True)
    task = build_task({"name": "image_folder", "path": str(folder), "size": [12, 10], **QUICK},
                      SPACE)
    assert task.input_shape == (3, 12, 10)
    assert task.class_names == tuple(f"digit_{d}" for d in range(10))
    s = task.splits
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (140, 20, 40)
    gray = build_task({"name": "image_folder", "path": str(folder), "size": [8, 8],
                       "channels": 1, "normalize": False, "split_seed": 3}, SPACE)
    assert gray.input_shape == (1, 8, 8)
    assert set(np.unique(gray.splits.y_train)) == set(range(10))
    # 8x8 gray PNGs read back exactly: every image is one of the digits of its class
    images, labels = digits_uint8()
    written = {(int(lb), im.tobytes()) for im, lb in zip(images, labels, strict=True)}
    read = gray.splits.x_test[:, 0] * 255
    assert np.allclose(read, np.round(read), atol=1e-3)
    assert all((int(lb), np.round(im).astype(np.uint8).tobytes()) in written
               for im, lb in zip(read, gray.splits.y_test, strict=True))


def test_image_folder_predefined_splits(tmp_path):
    folder = write_digits_png(tmp_path / "png", splits=True, per_class=10)
    task = build_task({"name": "image_folder", "path": str(folder), "size": [8, 8],
                       "channels": 1, **QUICK}, SPACE)
    s = task.splits
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (60, 20, 20)
    assert 0 <= task.evaluate(TWO_CONVS, seed=0)["fitness"] <= 1
    # no val/ folder: validation is carved from train/
    for png in (folder / "val").rglob("*.png"):
        png.unlink()
    for sub in sorted((folder / "val").glob("*")):
        sub.rmdir()
    (folder / "val").rmdir()
    task = build_task({"name": "image_folder", "path": str(folder), "size": [8, 8],
                       "val_fraction": 0.5}, SPACE)
    assert (len(task.splits.y_train), len(task.splits.y_val)) == (30, 30)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    folder = write_digits_png(tmp_path / "png", splits=True, per_class=5)
    (folder / "test" / "zebra").mkdir()
    with pytest.raises(TaskError, match=r"task\.path: .*/test/zebra: class 'zebra' has no "
                                        r"folder in .*/train"):
        build_task({"name": "image_folder", "path": str(folder)}, SPACE)
    (folder / "test" / "zebra").rmdir()
    bad = folder / "train" / "digit_3" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(TaskError, match=r"task\.path: .*/digit_3/broken\.png: cannot read the "
                                        r"image"):
        build_task({"name": "image_folder", "path": str(folder)}, SPACE)
    bad.unlink()
    (folder / "train" / "empty").mkdir()
    with pytest.raises(TaskError, match=r"task\.path: .*/train/empty: no images \(\.png"):
        build_task({"name": "image_folder", "path": str(folder)}, SPACE)
    with pytest.raises(TaskError, match=r"task\.size: must be \[height, width\]"):
        build_task({"name": "image_folder", "path": str(folder), "size": [8]}, SPACE)
    with pytest.raises(TaskError, match=r"task\.channels: must be 1 \(grayscale\) or 3"):
        build_task({"name": "image_folder", "path": str(folder), "channels": 2}, SPACE)
    lonely = tmp_path / "lonely" / "only_class"
    lonely.mkdir(parents=True)
    with pytest.raises(TaskError, match=r"needs a folder per class \(at least 2\)"):
        build_task({"name": "image_folder", "path": str(lonely.parent)}, SPACE)


# --------------------------------------------------------------------------- CIFAR
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches_load_at_every_pickle_protocol(tmp_path, protocol):
    folder = write_digits_cifar(tmp_path / "cifar-10-batches-py", batches=3, limit=600,
                                protocol=protocol)
    task = build_task({"name": "cifar", "path": str(tmp_path), "normalize": False}, SPACE)
    images, labels = digits_uint8(600)
    s = task.splits
    assert task.input_shape == (3, 32, 32) and task.num_classes == 10
    assert len(s.y_test) == 100 and len(s.y_train) + len(s.y_val) == 500
    np.testing.assert_array_equal(s.y_test, labels[500:])
    np.testing.assert_allclose(s.x_test[:, 1, ::4, ::4], images[500:] / 255, atol=1e-6)
    assert task.class_names == tuple(f"digit_{d}" for d in range(10))
    assert str(folder) in task.describe()


def test_cifar100_fine_and_coarse_labels(tmp_path):
    write_digits_cifar(tmp_path, cifar100=True, limit=600)
    fine = build_task({"name": "cifar", "path": str(tmp_path), **QUICK}, SPACE)
    coarse = build_task({"name": "cifar", "path": str(tmp_path), "label": "coarse"}, SPACE)
    assert fine.num_classes == 100 and coarse.num_classes == 20
    assert np.array_equal(coarse.splits.y_test, fine.splits.y_test // 2)
    assert coarse.class_names is not None and coarse.class_names[0] == "pair_0"
    with pytest.raises(TaskError, match=r"task\.label: must be one of \['fine', 'coarse'\]"):
        build_task({"name": "cifar", "path": str(tmp_path), "label": "medium"}, SPACE)
    ten = write_digits_cifar(tmp_path / "ten", limit=300)
    with pytest.raises(TaskError, match=r"task\.label: coarse labels exist only in CIFAR-100"):
        build_task({"name": "cifar", "path": str(ten), "label": "coarse"}, SPACE)


class Exploit:
    """Pickles as ``os.system(command)``: what a malicious batch file holds."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (self.command,)


@pytest.mark.parametrize("where", ["batch", "label", "meta"])
def test_a_malicious_cifar_pickle_is_refused_without_running_it(tmp_path, where):
    folder = write_digits_cifar(tmp_path, limit=300)
    marker = tmp_path / "pwned"
    evil = Exploit(f"touch {marker}")
    if where == "batch":
        payload: Any = evil
        target = folder / "data_batch_1"
    elif where == "label":
        payload = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, evil]}
        target = folder / "test_batch"
    else:
        payload = {b"label_names": evil}
        target = folder / "batches.meta"
    target.write_bytes(pickle.dumps(payload))
    if where == "meta":  # the names are optional: the task loads, without them
        assert build_task({"name": "cifar", "path": str(folder)}, SPACE).class_names is None
    else:
        with pytest.raises(TaskError, match=rf"task\.path: .*/{target.name}: not a CIFAR batch "
                                            r"\(UnpicklingError: refused global posix\.system"):
            build_task({"name": "cifar", "path": str(folder)}, SPACE)
    assert not marker.exists()


def test_restricted_unpickler_allows_only_numpy_array_reconstruction():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for protocol in range(6):
        assert np.array_equal(restricted_load(pickle.dumps({b"a": array}, protocol))[b"a"], array)
    for forbidden in (np.load, os.getcwd, print, Exploit, np.lib.npyio.NpzFile):
        with pytest.raises(pickle.UnpicklingError, match=r"refused global"):
            restricted_load(pickle.dumps(forbidden))
    # names registered as copyreg extensions (the EXT opcodes) go through the same table
    copyreg.add_extension("posix", "system", 240)
    try:
        with pytest.raises(pickle.UnpicklingError, match=r"refused global posix\.system"):
            restricted_load(pickle.dumps(os.system, protocol=2))
    finally:
        copyreg.remove_extension("posix", "system", 240)
    # _codecs.encode only turns a string into latin-1 bytes
    evil = b"c_codecs\nencode\n(Vx\nVrot13\ntR."
    with pytest.raises(pickle.UnpicklingError, match=r"refused _codecs\.encode"):
        restricted_load(evil)


@pytest.mark.parametrize(("batch", "message"), [
    ({b"labels": [0]}, r"data: missing"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, r"labels: missing"),
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"data: want shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072)), b"labels": [0, 1]}, r"data: want a uint8 array, got float64"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, r"labels: 1 labels for 2 images"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
     r"labels: label 10, but CIFAR-10 has 10 classes"),
    ([1, 2], r"not a CIFAR batch \(a pickled list"),
])
def test_malformed_cifar_batches_name_the_file_and_key(tmp_path, batch, message):
    folder = write_digits_cifar(tmp_path, limit=300)
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(TaskError, match=r"task\.path: .*/test_batch: " + message):
        build_task({"name": "cifar", "path": str(folder)}, SPACE)


def test_a_folder_without_cifar_batches(tmp_path):
    with pytest.raises(TaskError, match=r"task\.path: .*: no CIFAR batches \(CIFAR-10: "
                                        r"data_batch_1\.\.5 and test_batch"):
        build_task({"name": "cifar", "path": str(tmp_path)}, SPACE)


# --------------------------------------------------------------------------- torch datasets
def test_a_factory_named_by_import_path_builds_a_task_from_torch_datasets():
    task = build_task({"name": "tests.evonas.tasks.dataset_factory:make_task", "rows": 500,
                       "max_train": 200, **QUICK}, SPACE)
    assert isinstance(task, DatasetTask)
    assert task.name == "tests.evonas.tasks.dataset_factory:make_task"
    assert task.input_shape == (1, 8, 8) and len(task.splits.y_test) == 100
    assert len(task.splits.y_train) == 200
    assert 0 <= task.evaluate(TWO_CONVS, seed=0)["fitness"] <= 1
    with pytest.raises(TaskError, match=r"task\.rows: expected int"):
        build_task({"name": "tests.evonas.tasks.dataset_factory:make_task", "rows": "x"}, SPACE)
    with pytest.raises(TaskError, match=r"task\.epoch: unknown key"):
        build_task({"name": "tests.evonas.tasks.dataset_factory:make_task", "epoch": 1}, SPACE)


def test_arrays_from_torch_dataset_reads_tensors_pil_images_and_arrays():
    from PIL import Image

    images, labels = digits_uint8(20)
    as_tensors = [(torch.from_numpy(im[None] / 255.0).float(), torch.tensor(lb))
                  for im, lb in zip(images, labels, strict=True)]
    as_pil = [(Image.fromarray(im).convert("RGB"), int(lb))
              for im, lb in zip(images, labels, strict=True)]
    as_hwc = [(np.repeat(im[..., None], 3, axis=2), np.int64(lb))
              for im, lb in zip(images, labels, strict=True)]
    x, y = arrays_from_torch_dataset(as_tensors)
    assert x.shape == (20, 1, 8, 8) and x.dtype == np.float32 and np.array_equal(y, labels)
    x, _ = arrays_from_torch_dataset(as_pil)
    assert x.shape == (20, 3, 8, 8) and x.dtype == np.uint8
    assert np.array_equal(x[:, 0], images)
    x, _ = arrays_from_torch_dataset(as_hwc, limit=5)
    assert x.shape == (5, 3, 8, 8) and np.array_equal(x[:, 2], images[:5])
    task = DatasetTask.from_torch(SPACE, as_pil, test=as_pil[:5], plan=SplitPlan(val_fraction=0.5))
    assert task.input_shape == (3, 8, 8) and len(task.splits.y_test) == 5


def test_bad_torch_dataset_items_are_named():
    with pytest.raises(TaskError, match=r"task: train dataset: item 0: expected an \(image, "
                                        r"label\) pair"):
        DatasetTask.from_torch(SPACE, [torch.zeros(1, 4, 4)])
    items = [(torch.zeros(1, 4, 4), 0), (torch.zeros(1, 4, 5), 1)]
    with pytest.raises(TaskError, match=r"item 1: image shape \(1, 4, 5\) differs"):
        DatasetTask.from_torch(SPACE, items)
    with pytest.raises(TaskError, match=r"item 0: a class index, got 'cat'"):
        DatasetTask.from_torch(SPACE, [(torch.zeros(1, 4, 4), "cat")])
    with pytest.raises(TaskError, match=r"task: test dataset: is empty"):
        DatasetTask.from_torch(SPACE, items[:1] * 4, test=[])


# --------------------------------------------------------------------------- Fashion-MNIST
@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"Fashion-MNIST is not installed at {FASHION} (Debian package "
                           "dataset-fashion-mnist)")
def test_fashion_mnist_from_the_installed_files():
    task = build_task({"name": "idx", "path": str(FASHION)}, SPACE)
    s = task.splits
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (54000, 6000, 10000)
    assert task.input_shape == (1, 28, 28) and task.num_classes == 10
    assert np.bincount(s.y_val).tolist() == [600] * 10 and np.bincount(s.y_test).tolist() == \
        [1000] * 10
    np.testing.assert_allclose(task.mean, [0.2860], atol=1e-3)
    np.testing.assert_allclose(task.std, [0.3530], atol=1e-3)
    small = build_task({"name": "idx", "path": str(FASHION), "max_train": 500, "max_val": 200,
                        "max_test": 200, **QUICK}, SPACE)
    assert 0 <= small.evaluate(TWO_CONVS, seed=0)["fitness"] <= 1
