"""Genome types: pure data, invariants and JSON forms. This package never imports torch."""

from genomes.dag import DAGGenome, Edge, genome_from_dict
from genomes.errors import GenomeError
from genomes.space import FreeSpace, NB201Space, SearchSpace, space_from_dict

__all__ = [
    "DAGGenome",
    "Edge",
    "FreeSpace",
    "GenomeError",
    "NB201Space",
    "SearchSpace",
    "genome_from_dict",
    "space_from_dict",
]
