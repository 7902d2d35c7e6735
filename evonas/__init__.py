"""evonas: a neuroevolution engine for neural architecture search.

The Python API::

    import evonas
    run = evonas.run("examples/nb201_tabular.yaml", **{"budget.evaluations": 50})
    best = run.best()
    again = evonas.open_run(run.path)
"""

from evonas.api import open_run, resume, run
from evonas.run import Individual, Run

__version__ = "0.1.0"

__all__ = ["Individual", "Run", "__version__", "open_run", "resume", "run"]
