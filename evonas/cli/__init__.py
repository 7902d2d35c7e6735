"""The ``evonas`` command line: ``evonas run | resume | status | best | report | lineage ...``.

:func:`main` is the console entry point (``evonas = "evonas.cli:main"``). Each module here holds
the commands of one area and only parses arguments and prints; the logic they call lives in the
engine (:mod:`evonas.api`, :mod:`evonas.analysis`, :mod:`evonas.report`):

* :mod:`evonas.cli.commands`: the parser, ``run``, ``resume``, ``status``, ``best``, ``compile``.
* :mod:`evonas.cli.lineage`: ``lineage`` and ``report``.
* :mod:`evonas.cli.compare`: ``compare``.
* :mod:`evonas.cli.train`: ``train`` (retrain found architectures, keep their weights).
* :mod:`evonas.cli.options`: ``options`` (what a config section may set).
* :mod:`evonas.cli.export`: ``best --export``: a run's individual written as ``.py``, ``.pt`` or
  ``.onnx`` (the file formats themselves are :mod:`evonas.compiler.export`).
"""

from evonas.cli.commands import main

__all__ = ["main"]
