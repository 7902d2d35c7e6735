"""Variation operators on DAG genomes: pure functions of ``(genome, rng, space)``.

* :func:`random_genome` draws a genome of a search space;
* mutations ``(genome, rng, space) -> (child, record)``: :func:`mutate_op`, :func:`add_edge`,
  :func:`remove_edge`, :func:`add_node`, :func:`remove_node`, :func:`mutate_width`, and
  :func:`mutate`, which picks an applicable one by weight (registry: :data:`MUTATIONS`);
* crossover ``(a, b, rng, space) -> (child, record)``: :func:`crossover_dag`
  (registry: :data:`CROSSOVERS`).

Every child passes ``space.validate``; ``record`` is a small JSON-safe dict whose ``"op"`` key names
the operator, kept in the lineage. An operator that cannot apply raises
:class:`OperatorNotApplicable`. Randomness comes only from the ``numpy.random.Generator`` passed
in. Selection comes from ``deap.tools``. This package imports only ``genomes`` and numpy.
"""

from operators._common import Record
from operators.crossover import CROSSOVERS, Crossover, crossover_dag
from operators.errors import OperatorNotApplicable
from operators.mutation import (
    MUTATIONS,
    Mutation,
    add_edge,
    add_node,
    mutate,
    mutate_op,
    mutate_width,
    remove_edge,
    remove_node,
)
from operators.sampling import random_genome

__all__ = [
    "CROSSOVERS",
    "MUTATIONS",
    "Crossover",
    "Mutation",
    "OperatorNotApplicable",
    "Record",
    "add_edge",
    "add_node",
    "crossover_dag",
    "mutate",
    "mutate_op",
    "mutate_width",
    "random_genome",
    "remove_edge",
    "remove_node",
]
