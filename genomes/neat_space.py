"""The ``neat`` search space behind the :class:`~genomes.protocol.SearchSpace` protocol.

:class:`genomes.cppn.NEATSpace` holds the CPPN space's data and rules (``validate``, ``to_dict``).
:class:`NEATSpace` here adds the protocol's other members (sampling and mutation by
:mod:`operators.neat`; no compile or memory hook; no decision encoding); it is the class
``genomes.NEATSpace`` exports and ``space_from_dict({"name": "neat"})`` builds, so every NEAT space
the engine makes satisfies the protocol. It equals (and hashes like) a plain
:class:`genomes.cppn.NEATSpace` with the same fields, and
:func:`~genomes.protocol.as_search_space` turns a plain one into this class.

(The members live here, not in :mod:`genomes.cppn`, only so that module's owners can change it
independently; moving them into :class:`genomes.cppn.NEATSpace` leaves this module one
registration.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, ClassVar

from evonas.options import Option, OptionSchema
from genomes import cppn
from genomes.cppn import CPPNGenome
from genomes.protocol import Encoding, Record, register_space

if TYPE_CHECKING:
    import numpy as np


class NEATSpace(cppn.NEATSpace):
    """:class:`genomes.cppn.NEATSpace` with the search-space protocol's members.

    Genomes are CPPNs (``genome_kind: cppn``). They are not compiled into image classifiers (the
    NEAT tasks build their own networks with :mod:`evonas.compiler.cppn`), so there is no compile
    or memory hook, and no decision encoding.
    """

    genome_kind: ClassVar[str] = "cppn"
    compile_hook: ClassVar[str | None] = None
    memory_hook: ClassVar[str | None] = None

    @property
    def genome_type(self) -> type[CPPNGenome]:
        """:class:`~genomes.CPPNGenome`."""
        return CPPNGenome

    def sample(self, rng: np.random.Generator) -> CPPNGenome:
        """NEAT's minimal start genome, biases, weights and output activations drawn from ``rng``
        (:func:`operators.neat.initial_genome`, with a fresh innovation tracker)."""
        from operators.neat import initial_genome

        return initial_genome(self, rng)

    def mutation_names(self) -> tuple[str, ...]:
        """The probabilities of NEAT's mutation step (:class:`operators.neat.MutationRates`)."""
        from operators.neat import MutationRates

        return tuple(f.name for f in fields(MutationRates))

    def mutate(self, genome: CPPNGenome, rng: np.random.Generator,
               weights: Mapping[str, float] | None = None) -> tuple[CPPNGenome, Record]:
        """NEAT's mutation step (:func:`operators.neat.mutate_neat`), numbering new genes after
        the parent's own.

        Args:
            genome: the parent.
            rng: the only source of randomness.
            weights: :class:`~operators.neat.MutationRates` to override (NEAT's defaults
                otherwise).

        Raises:
            ValueError: on an unknown rate or one outside [0, 1].
            GenomeError: when ``genome`` is not a CPPN of this space.
        """
        from operators.neat import MutationRates, mutate_neat

        rates = None
        if weights:
            known = self.mutation_names()
            for key in weights:
                if key not in known:
                    raise ValueError(f"weights.{key}: unknown NEAT mutation rate; choose from "
                                     f"{list(known)}")
            rates = MutationRates(**weights)
        return mutate_neat(genome, rng, self, None, rates)

    def encoding(self) -> Encoding | None:
        """None: CPPNs have no fixed decision sequence."""
        return None

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, cppn.NEATSpace):
            return _values(self) == _values(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_values(self))


def _values(space: cppn.NEATSpace) -> tuple[Any, ...]:
    """The space's field values (cached: the space is frozen; genome checks compare spaces)."""
    values = space.__dict__.get("_values")
    if values is None:
        values = tuple(getattr(space, f.name) for f in fields(cppn.NEATSpace))
        space.__dict__["_values"] = values
    return values


#: ``space: {name: neat, ...}`` options.
NEAT_OPTIONS = OptionSchema(
    Option("num_inputs", 2, "input nodes", low=1, high=100_000),
    Option("num_outputs", 1, "output nodes", low=1, high=100_000),
    Option("activations", ["sigmoid"], "activations hidden nodes may take", items=str),
    Option("output_activations", ["sigmoid"], "activations output nodes may take", items=str),
    Option("recurrent", False, "allow recurrent connections"),
    Option("initial_connection", "full", "how the first genomes connect inputs to outputs"),
    Option("max_nodes", 200, "most nodes a genome may have", low=1, high=1_000_000),
    Option("max_connections", 2000, "most connections a genome may have", low=1,
           high=10_000_000),
    Option("weight_range", [-8.0, 8.0], "lowest and highest connection weight", items=float),
    Option("bias_range", [-8.0, 8.0], "lowest and highest bias", items=float),
    Option("weight_init_std", 1.0, "standard deviation of new weights", low=0),
    Option("weight_perturb_std", 0.5, "standard deviation of a weight perturbation", low=0),
    Option("weight_replace_rate", 0.1, "chance that a mutated weight is drawn anew", low=0,
           high=1),
    Option("bias_init_std", 1.0, "standard deviation of new biases", low=0),
    Option("bias_perturb_std", 0.5, "standard deviation of a bias perturbation", low=0),
    Option("bias_replace_rate", 0.1, "chance that a mutated bias is drawn anew", low=0, high=1),
)
register_space("neat", NEATSpace, options=NEAT_OPTIONS)
