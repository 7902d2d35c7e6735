"""Genome types: pure data, invariants and JSON forms. This package never imports torch."""

from typing import Any

from genomes.cppn import (
    ACTIVATIONS,
    ConnectionGene,
    CPPNGenome,
    InnovationTracker,
    NEATSpace,
    NodeGene,
)
from genomes.dag import DAGGenome, Edge
from genomes.dag import genome_from_dict as _dag_from_dict
from genomes.errors import GenomeError
from genomes.space import DAGSpace, FreeSpace, NB201Space, SearchSpace, space_from_dict

#: Every genome kind: a DAG (``kind: dag``) or a CPPN (``kind: cppn``).
Genome = DAGGenome | CPPNGenome


def genome_from_dict(data: Any) -> Genome:
    """Parse any genome JSON form by its ``kind`` (``dag`` or ``cppn``).

    Raises:
        GenomeError: on an unknown kind or an invalid genome, naming the field.
    """
    if isinstance(data, dict) and data.get("kind") == "cppn":
        return CPPNGenome.from_dict(data)
    return _dag_from_dict(data)


__all__ = [
    "ACTIVATIONS",
    "CPPNGenome",
    "ConnectionGene",
    "DAGGenome",
    "DAGSpace",
    "Edge",
    "FreeSpace",
    "Genome",
    "GenomeError",
    "InnovationTracker",
    "NB201Space",
    "NEATSpace",
    "NodeGene",
    "SearchSpace",
    "genome_from_dict",
    "space_from_dict",
]
