"""Genome types and search spaces: pure data, invariants and JSON forms. This package never
imports torch.

Every genome satisfies :class:`Genome` and every search space :class:`SearchSpace` (protocols in
:mod:`genomes.protocol`); :func:`genome_from_dict` and :func:`space_from_dict` resolve JSON forms
and configs through registries (:func:`register_genome_kind`, :func:`register_space`).
"""

from genomes.cppn import (
    ACTIVATIONS,
    ConnectionGene,
    CPPNGenome,
    NodeGene,
)
from genomes.dag import DAGGenome, Edge
from genomes.errors import GenomeError
from genomes.innovations import InnovationTracker
from genomes.neat_space import NEATSpace
from genomes.protocol import (
    Decision,
    Decoded,
    Encoding,
    Genome,
    SearchSpace,
    as_search_space,
    genome_from_dict,
    genome_kind_of,
    genome_kinds,
    load_hook,
    register_genome_kind,
    register_space,
    space_from_dict,
    space_names,
    space_options,
    unregister_space,
)
from genomes.space import DAGSpace, FreeSpace, NB201Space

register_genome_kind("dag", DAGGenome, label="DAG")
register_genome_kind("cppn", CPPNGenome, label="CPPN")

__all__ = [
    "ACTIVATIONS",
    "CPPNGenome",
    "ConnectionGene",
    "DAGGenome",
    "DAGSpace",
    "Decision",
    "Decoded",
    "Edge",
    "Encoding",
    "FreeSpace",
    "Genome",
    "GenomeError",
    "InnovationTracker",
    "NB201Space",
    "NEATSpace",
    "NodeGene",
    "SearchSpace",
    "as_search_space",
    "genome_from_dict",
    "genome_kind_of",
    "genome_kinds",
    "load_hook",
    "register_genome_kind",
    "register_space",
    "space_from_dict",
    "space_names",
    "space_options",
    "unregister_space",
]
