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
from genomes.space import FreeSpace, NB201Space, SearchSpace, space_from_dict


def genome_from_dict(data: Any) -> DAGGenome | CPPNGenome:
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
    "Edge",
    "FreeSpace",
    "GenomeError",
    "InnovationTracker",
    "NB201Space",
    "NEATSpace",
    "NodeGene",
    "SearchSpace",
    "genome_from_dict",
    "space_from_dict",
]
