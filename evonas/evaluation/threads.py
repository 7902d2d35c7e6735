"""How many threads torch computes with, set for a block of code.

Torch-free at import: torch loads on the first call, in the process that evaluates (a worker, or
the campaign process with ``workers: 0``), never in one that only reads a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch intra-op threads, then restore the previous count.

    Programs over tiny tensors (XOR's four patterns) run fastest on one thread; on a busy machine
    extra threads cost more in synchronisation than they compute.

    Args:
        count: intra-op threads for the block (at least 1).
    """
    import torch  # local: this module stays importable without loading torch

    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            torch.set_num_threads(before)
