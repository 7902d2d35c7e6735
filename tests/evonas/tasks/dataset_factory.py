"""A task factory named by import path that hands torch datasets to evonas (used by the tests).

``task: {name: "tests.evonas.tasks.dataset_factory:make_task", rows: 600}`` builds a task on the
first ``rows`` digits, wrapped as ``torch.utils.data.TensorDataset`` objects: what a user's
``my_project.data:make_task`` does with torchvision's datasets.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from evonas.tasks.datasets import DatasetTask, read_dataset_options, torch_dataset_task
from evonas.tasks.digits import load_digits_arrays
from genomes import SearchSpace

#: The factory's own options (besides the dataset and recipe options every dataset task has).
OPTIONS: dict[str, Any] = {"rows": 600}


def make_task(task_config: dict[str, Any], space: SearchSpace) -> DatasetTask:
    """The digits as a torch train dataset (first 80% of ``rows``) and test dataset (the rest)."""
    options = read_dataset_options(task_config["name"], task_config, OPTIONS)  # checks every key
    rows = options["rows"]
    x, y = load_digits_arrays()
    x_t, y_t = torch.from_numpy(x[:rows]), torch.from_numpy(y[:rows])
    cut = int(rows * 0.8)
    train = TensorDataset(x_t[:cut], y_t[:cut])
    test = TensorDataset(x_t[cut:], y_t[cut:])
    return torch_dataset_task(task_config, space, train, test, extra_defaults=OPTIONS)
