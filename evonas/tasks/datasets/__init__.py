"""Dataset tasks: image classification on the files people have, a few config lines each.

=================  ==========================================================================
``name``           data
=================  ==========================================================================
``idx``            MNIST-format files, gzipped or not: MNIST, Fashion-MNIST, KMNIST (:mod:`.idx`)
``npz``            a numpy archive with ``x, y`` or ``x_train, y_train, ...`` (:mod:`.npz`)
``image_folder``   one folder of PNG/JPEG images per class, resized (:mod:`.image_folder`)
``cifar``          CIFAR-10 / CIFAR-100 python batches, read without unpickling code
                   (:mod:`.cifar`)
``pkg.mod:f``      a factory of yours handing ``torch.utils.data.Dataset`` objects to
                   :func:`torch_dataset_task` (:mod:`.torch_dataset`)
=================  ==========================================================================

Every one gives a :class:`DatasetTask`: train, validation and test splits (validation carved
from the training data with ``split_seed`` where the data has none; test never used for
selection), ``float32`` NCHW arrays standardised per channel with the train split's mean and
std, fitness = validation accuracy. Shared options (:data:`DATASET_DEFAULTS`): ``split_seed``,
``val_fraction`` (0.1), ``test_fraction`` (0.2, formats that may lack a test split),
``normalize`` (true), ``max_train`` / ``max_val`` / ``max_test`` (0 = all: a stratified, seeded
subset for proxy runs) and the recipe (``epochs``, ``lr``, ``batch_size``...). Nothing downloads;
nothing is cached on disk. A missing or malformed file raises :class:`~evonas.tasks.TaskError`
naming the option and the file: ``task.path: /x/train-images-idx3-ubyte.gz: not an idx file
(magic 0x...)``.
"""

from evonas.tasks.datasets.base import (
    DATASET_DEFAULTS,
    DataArrays,
    DatasetTask,
    SplitPlan,
    prepare_splits,
    read_dataset_options,
)
from evonas.tasks.datasets.cifar import CIFAR_DEFAULTS, make_cifar_task, restricted_load
from evonas.tasks.datasets.idx import IDX_DEFAULTS, make_idx_task, read_idx
from evonas.tasks.datasets.image_folder import IMAGE_FOLDER_DEFAULTS, make_image_folder_task
from evonas.tasks.datasets.npz import NPZ_DEFAULTS, make_npz_task
from evonas.tasks.datasets.torch_dataset import arrays_from_torch_dataset, torch_dataset_task

__all__ = [
    "CIFAR_DEFAULTS",
    "DATASET_DEFAULTS",
    "IDX_DEFAULTS",
    "IMAGE_FOLDER_DEFAULTS",
    "NPZ_DEFAULTS",
    "DataArrays",
    "DatasetTask",
    "SplitPlan",
    "arrays_from_torch_dataset",
    "make_cifar_task",
    "make_idx_task",
    "make_image_folder_task",
    "make_npz_task",
    "prepare_splits",
    "read_dataset_options",
    "read_idx",
    "restricted_load",
    "torch_dataset_task",
]
