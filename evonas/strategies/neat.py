"""NEAT: NeuroEvolution of Augmenting Topologies (Stanley & Miikkulainen 2002) on CPPN genomes.

Generational: :meth:`NEAT.ask` hands out the current generation and then waits until all of it
has been told. When the last result of a generation arrives:

1. **Speciate.** Each genome joins the first species whose representative (a member of that
   species in the previous generation) lies within ``compatibility_threshold`` of it, by NEAT's
   compatibility distance ``c1*E/N + c2*D/N + c3*W``; otherwise it founds a new species. Species
   left empty go extinct; each survivor picks a random member as its next representative.
2. **Adjust the threshold** (with ``target_species``): up by ``threshold_step`` when there are more
   species than the target, down when fewer.
3. **Stagnation.** A species whose best fitness has not improved for ``stagnation`` generations
   gets no offspring, unless it is one of the ``species_elitism`` best species.

The next generation is then bred:

4. **Explicit fitness sharing.** Fitness is shifted and scaled to ``[0, 1]`` over the
   generation (failed evaluations count as the worst); a genome's shared fitness is that divided
   by its species' size, and each species gets offspring in proportion to the sum of its shared
   fitness (largest-remainder rounding, so the generation has exactly ``population`` members).
5. **Elitism.** Species of at least ``elitism_min_size`` members pass their ``elitism`` best
   genomes on unchanged (the campaign's cache answers them without a new evaluation).
6. **Selection within species.** The best ``survival_threshold`` fraction of a species
   (DEAP's :func:`~deap.tools.selBest`) are its parents; parents are drawn with
   :func:`~deap.tools.selRandom` (or :func:`~deap.tools.selTournament`). With probability
   ``crossover_prob`` a child is the crossover of two parents (the mate comes from another species
   with probability ``interspecies_prob``), fitter parent first; then NEAT's mutation step
   applies (:func:`operators.neat.mutate_neat`, rates from the ``*_prob`` options). A child made
   by mutation alone always differs from its parent: when no mutation fired, its weights are
   mutated (a plain copy would only repeat the parent's result).

The innovation tracker, the species (representatives, best fitness, age) and the threshold are
part of :meth:`NEAT.state_dict`, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from deap import tools

from evonas.options import MAX_POPULATION, Option, OptionSchema
from evonas.strategies import shared_options as shared
from evonas.strategies.base import Candidate, Evaluated, cppn_genome
from evonas.strategies.deap_bridge import Member, deap_random
from evonas.strategies.generation_loop import GenerationalStrategy
from genomes import CPPNGenome, GenomeError, InnovationTracker, NEATSpace, SearchSpace
from operators import OperatorNotApplicable
from operators.neat import (
    MutationRates,
    compatibility_distance,
    crossover_neat,
    genes_within,
    initial_genome,
    mutate_biases,
    mutate_neat,
    mutate_weights,
)


@dataclass
class Species:
    """A species of the current generation.

    Attributes:
        id: species id (creation order).
        representative: the genome new genomes are compared with.
        members: individual ids of this generation's members.
        best: the best fitness any member ever reached (None before any success).
        last_improved: the generation in which ``best`` last improved.
        created: the generation the species appeared in.
    """

    id: int
    representative: CPPNGenome
    members: list[int]
    best: float | None
    last_improved: int
    created: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; the representative as its genome's JSON text (see
        :meth:`NEAT.state_dict`)."""
        return {"id": self.id, "representative": self.representative.to_json(),
                "members": list(self.members), "best": self.best,
                "last_improved": self.last_improved, "created": self.created}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Species:
        """Rebuild a species from :meth:`to_dict` (the representative as JSON text, or as the
        genome's dict, as states saved before held it)."""
        return cls(data["id"], _cppn_from_state(data["representative"]),
                   list(data["members"]), data["best"], data["last_improved"], data["created"])


class NEAT(GenerationalStrategy):
    """NEAT with speciation, explicit fitness sharing, stagnation and elitism.

    Args:
        space: a :class:`~genomes.NEATSpace`.
        rng: the strategy's random generator.
        population: genomes per generation.
        c1: compatibility weight of excess genes.
        c2: compatibility weight of disjoint genes.
        c3: compatibility weight of the mean weight difference of matching genes.
        compatibility_threshold: the (initial) species radius.
        target_species: adjust the threshold each generation toward this many species (None:
            fixed threshold).
        threshold_step: how much the threshold moves per generation.
        min_threshold: the threshold never drops below this.
        stagnation: generations without improvement before a species stops reproducing.
        species_elitism: this many best species are never removed for stagnation.
        elitism: best genomes a species passes on unchanged.
        elitism_min_size: smallest species that keeps its elites.
        survival_threshold: fraction of each species allowed to reproduce.
        crossover_prob: chance a child comes from crossover (else from one mutated parent).
        interspecies_prob: chance that a crossover's mate comes from another species.
        parent_selection: ``random`` (NEAT, DEAP's selRandom) or ``tournament`` (selTournament).
        tournament_size: contestants per tournament.
        add_node_prob: chance of the add-node mutation.
        add_connection_prob: chance of the add-connection mutation.
        weight_prob: chance of mutating the weights (each with ``weight_rate``).
        weight_rate: per-connection mutation chance within a weight mutation.
        bias_prob: chance of mutating the biases.
        bias_rate: per-node mutation chance within a bias mutation.
        activation_prob: chance of changing one node's activation.
        toggle_prob: chance of flipping one connection's enabled flag.
        generations: stop after this many generations (None: the campaign budget decides).

    Raises:
        GenomeError: when ``space`` is not a neat space.
    """

    name = "neat"
    # The members are saved by state_dict itself, their genomes as JSON text.
    member_lists = ()
    prescreen_refusal = "waits for a whole generation of the candidates it hands out"
    warm_start_refusal = "breeds CPPN genomes from its own minimal random ones"
    options: ClassVar[OptionSchema] = OptionSchema(
        shared.population(150, "genomes per generation"),
        Option("c1", 1.0, "compatibility weight of excess genes", low=0),
        Option("c2", 1.0, "compatibility weight of disjoint genes", low=0),
        Option("c3", 0.4, "compatibility weight of the mean weight difference", low=0),
        Option("compatibility_threshold", 3.0, "distance below which genomes share a species",
               low=0),
        Option("target_species", None, "adjust the threshold towards this many species (null: "
               "fixed threshold)", kind=int, low=1, high=MAX_POPULATION),
        Option("threshold_step", 0.3, "threshold change per generation when targeting", low=0),
        Option("min_threshold", 0.3, "lowest threshold when targeting", low=0),
        Option("stagnation", 15, "generations without improvement before a species dies", low=1),
        Option("species_elitism", 2, "best species protected from stagnation", low=0,
               high=MAX_POPULATION),
        Option("elitism", 1, "best members of a species copied unchanged", low=0,
               high=MAX_POPULATION),
        Option("elitism_min_size", 5, "species size from which elitism applies", low=0),
        Option("survival_threshold", 0.2, "fraction of each species allowed to breed", low=0,
               low_open=True, high=1),
        shared.crossover_prob(0.75, "chance that a child is bred by crossover"),
        Option("interspecies_prob", 0.001, "chance that crossover takes a mate from another "
               "species", low=0, high=1),
        Option("parent_selection", "random", "how parents are picked within a species",
               choices=("random", "tournament")),
        shared.tournament_size(),
        Option("add_node_prob", 0.03, "chance of the add-node mutation", low=0, high=1),
        Option("add_connection_prob", 0.05, "chance of the add-connection mutation", low=0,
               high=1),
        Option("weight_prob", 0.8, "chance that a child's weights are perturbed", low=0, high=1),
        Option("weight_rate", 1.0, "fraction of weights perturbed", low=0, high=1),
        Option("bias_prob", 0.5, "chance that a child's biases are perturbed", low=0, high=1),
        Option("bias_rate", 0.5, "fraction of biases perturbed", low=0, high=1),
        Option("activation_prob", 0.0, "chance of an activation change", low=0, high=1),
        Option("toggle_prob", 0.0, "chance of enabling or disabling a connection", low=0, high=1),
        shared.generations(),
    )

    def __init__(self, space: SearchSpace, rng: np.random.Generator, *, population: int = 150,
                 c1: float = 1.0, c2: float = 1.0, c3: float = 0.4,
                 compatibility_threshold: float = 3.0, target_species: int | None = None,
                 threshold_step: float = 0.3, min_threshold: float = 0.3,
                 stagnation: int = 15, species_elitism: int = 2, elitism: int = 1,
                 elitism_min_size: int = 5, survival_threshold: float = 0.2,
                 crossover_prob: float = 0.75, interspecies_prob: float = 0.001,
                 parent_selection: str = "random", tournament_size: int = 3,
                 add_node_prob: float = 0.03, add_connection_prob: float = 0.05,
                 weight_prob: float = 0.8, weight_rate: float = 1.0, bias_prob: float = 0.5,
                 bias_rate: float = 0.5, activation_prob: float = 0.0, toggle_prob: float = 0.0,
                 generations: int | None = None) -> None:
        if not isinstance(space, NEATSpace):
            raise GenomeError(f"space.name: the neat strategy evolves CPPNs and needs "
                              f"space.name: neat, got {getattr(space, 'name', space)!r}")
        super().__init__(space, rng, generations)
        if parent_selection not in ("random", "tournament"):
            raise ValueError(f"parent_selection: 'random' or 'tournament', got "
                             f"{parent_selection!r}")
        if not 0 < survival_threshold <= 1:
            raise ValueError(f"survival_threshold: must be in (0, 1], got {survival_threshold}")
        self.space: NEATSpace = space
        self.population_size = population
        self.c1, self.c2, self.c3 = c1, c2, c3
        self.threshold = float(compatibility_threshold)
        self.target_species = target_species
        self.threshold_step = threshold_step
        self.min_threshold = min_threshold
        self.stagnation = stagnation
        self.species_elitism = species_elitism
        self.elitism = elitism
        self.elitism_min_size = elitism_min_size
        self.survival_threshold = survival_threshold
        self.crossover_prob = crossover_prob
        self.interspecies_prob = interspecies_prob
        self.parent_selection = parent_selection
        self.tournament_size = tournament_size
        self.rates = MutationRates(add_node=add_node_prob, add_connection=add_connection_prob,
                                   weights=weight_prob, weight_rate=weight_rate,
                                   biases=bias_prob, bias_rate=bias_rate,
                                   activation=activation_prob, toggle=toggle_prob)

        self.tracker = InnovationTracker()
        self.species: list[Species] = []
        self.next_species_id = 0
        self.members: list[Member] = []  # the last complete generation, evaluated
        self._fitness: dict[int, float | None] = {}  # members' fitness by id, while breeding


    def _member(self, result: Evaluated) -> Member:
        if not isinstance(result.genome, CPPNGenome):
            raise GenomeError(f"individual {result.id}: the neat strategy was told a "
                              f"{type(result.genome).__name__}")
        return super()._member(result)

    # ----------------------------------------------------------------- generation end
    def generation_size(self) -> int:
        return self.population_size

    def _close_generation(self) -> None:
        self.members = self._told
        self._told = []
        self._speciate(self.members)
        if self.target_species is not None:
            if len(self.species) > self.target_species:
                self.threshold += self.threshold_step
            elif len(self.species) < self.target_species:
                self.threshold = max(self.min_threshold, self.threshold - self.threshold_step)
        self.generation += 1

    def distance(self, a: CPPNGenome, b: CPPNGenome) -> float:
        """The compatibility distance with this strategy's coefficients."""
        return compatibility_distance(a, b, self.c1, self.c2, self.c3)

    def _speciate(self, members: list[Member]) -> None:
        generation = self.generation
        for s in self.species:
            s.members = []
        threshold = self.threshold
        species = self.species
        if type(self).distance is NEAT.distance and self.c3 >= 0:
            # Not overridden: compare each genome's genes, read once, with the representatives'
            # (genes_within: exactly ``self.distance(genome, rep) < threshold``).
            c1, c2, c3 = self.c1, self.c2, self.c3
            reps = [(s.representative.weight_map, s.representative.innovations)
                    for s in species]
            for m in members:
                genome = cppn_genome(m.genome, self.name)
                wg, ig = genome.weight_map, genome.innovations
                for s, (wr, ir) in zip(species, reps):  # noqa: B905 (reps grows with species)
                    if genes_within(wg, ig, wr, ir, threshold, c1, c2, c3):
                        s.members.append(m.id)
                        break
                else:
                    species.append(Species(self.next_species_id, genome, [m.id], None,
                                           generation, generation))
                    reps.append((wg, ig))
                    self.next_species_id += 1
        else:
            for m in members:
                genome = cppn_genome(m.genome, self.name)
                for s in species:
                    if self.distance(genome, s.representative) < threshold:
                        s.members.append(m.id)
                        break
                else:
                    species.append(Species(self.next_species_id, genome, [m.id], None,
                                           generation, generation))
                    self.next_species_id += 1
        self.species = [s for s in species if s.members]
        by_id = {m.id: m for m in members}
        for s in self.species:
            s.representative = cppn_genome(
                by_id[s.members[int(self.rng.integers(len(s.members)))]].genome, self.name)
            scores = [by_id[i].fitness_value for i in s.members]
            top = max((f for f in scores if f is not None), default=None)
            if top is not None and (s.best is None or top > s.best):
                s.best = top
                s.last_improved = generation

    # ----------------------------------------------------------------- breeding
    def _breed(self) -> list[Candidate]:
        if self.generation == 0:
            return [Candidate(initial_genome(self.space, self.rng, self.tracker),
                              generation=0) for _ in range(self.population_size)]
        by_id = {m.id: m for m in self.members}
        self._fitness = {m.id: m.fitness_value for m in self.members}  # read once, used often
        species = self._reproducing_species()
        shared = self._shared_fitness(species, by_id, self._fitness)
        counts = _apportion(shared, self.population_size)
        # DEAP's selBest (a stable sort on the fitness, best first), once per species: the
        # survivors are its head, the elites too.
        ranked = {s.id: _best_first([by_id[i] for i in s.members]) for s in species}
        parents_of = {s.id: ranked[s.id][:self._survivor_count(len(s.members))]
                      for s in species}
        out: list[Candidate] = []
        with deap_random(self.rng):  # DEAP's selection draws from a private, seeded `random`
            for s, count in zip(species, counts, strict=True):
                members = ranked[s.id]
                elites = members[:min(self.elitism, count)] \
                    if len(members) >= self.elitism_min_size else []
                for e in elites:
                    out.append(Candidate(e.genome, (e.id,), {"op": "elite", "species": s.id},
                                         self.generation))
                for _ in range(count - len(elites)):
                    out.append(self._offspring(s, parents_of, species))
        return out

    def _reproducing_species(self) -> list[Species]:
        """Species that may reproduce: not stagnant, or among the best ``species_elitism``."""
        last = self.generation - 1
        ranked = sorted(self.species, key=lambda s: -math.inf if s.best is None else s.best,
                        reverse=True)
        protected = {s.id for s in ranked[:self.species_elitism]}
        keep = [s for s in self.species
                if s.id in protected or last - s.last_improved < self.stagnation]
        return keep or ranked[:1]

    def _shared_fitness(self, species: list[Species], by_id: dict[int, Member],
                        fitness: dict[int, float | None] | None = None) -> list[float]:
        if fitness is None:
            fitness = {m.id: m.fitness_value for m in self.members}
        values = [fitness[m.id] for m in self.members]
        finite = [v for v in values if v is not None]
        if not finite:
            return [1.0] * len(species)
        low, high = min(finite), max(finite)
        scale = high - low if high > low else 1.0
        shares = []
        for s in species:
            adjusted = [0.0 if (f := fitness[i]) is None else (f - low) / scale
                        for i in s.members]
            shares.append(sum(a / len(s.members) for a in adjusted))
        return shares

    def _survivor_count(self, size: int) -> int:
        return max(1, math.ceil(self.survival_threshold * size))

    def _pick(self, pool: list[Member]) -> Member:
        """One parent from ``pool`` (inside :func:`deap_random`)."""
        if self.parent_selection == "tournament":
            return tools.selTournament(pool, 1, self.tournament_size)[0]
        return random.choice(pool)  # DEAP's selRandom(pool, 1), without the list

    def _offspring(self, s: Species, parents_of: dict[int, list[Member]],
                   species: list[Species]) -> Candidate:
        pool = parents_of[s.id]
        first = self._pick(pool)
        coins = self.rng.random(2).tolist()
        if coins[0] < self.crossover_prob:
            if len(species) > 1 and coins[1] < self.interspecies_prob:
                others = [o for o in species if o.id != s.id]
                mate = self._pick(parents_of[others[int(self.rng.integers(len(others)))].id])
            else:
                mate = self._pick(pool)
            a, b = (first, mate) if _fitter_or_equal(self._fitness[first.id],
                                                     self._fitness[mate.id]) else (mate, first)
            child, record = crossover_neat(cppn_genome(a.genome, self.name),
                                           cppn_genome(b.genome, self.name), self.rng, self.space)
            child, mutation = mutate_neat(child, self.rng, self.space, self.tracker, self.rates)
            record["mutations"] = mutation["steps"]
            record["species"] = s.id
            parents = (a.id, b.id) if a.id != b.id else (a.id,)
        else:
            first_genome = cppn_genome(first.genome, self.name)
            child, mutation = mutate_neat(first_genome, self.rng, self.space, self.tracker,
                                          self.rates)
            if not mutation["steps"]:  # a plain copy would only repeat its parent's result
                child, step = self._perturb(first_genome)
                mutation["steps"] = [step]
            record = mutation
            record["species"] = s.id
            parents = (first.id,)
        return Candidate(child, parents, record, self.generation)

    def _perturb(self, genome: CPPNGenome) -> tuple[CPPNGenome, dict[str, Any]]:
        """Mutate the weights (the biases when there is no connection yet)."""
        try:
            return mutate_weights(genome, self.rng, self.space, rate=self.rates.weight_rate)
        except OperatorNotApplicable:
            return mutate_biases(genome, self.rng, self.space, rate=self.rates.bias_rate)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The generation loop's state, the last generation's members, the species and the
        innovation tracker.

        A member's genome (and a species' representative) is saved as the genome's compact
        JSON text (:meth:`~genomes.CPPNGenome.to_json`, already made for the journal's row of
        that individual) rather than as its dict: the snapshot that follows every generation
        then copies one string per member instead of formatting every gene's numbers again.
        :meth:`load_state_dict` reads both forms.
        """
        state = super().state_dict()
        state.update(
            members=[_member_state(m) for m in self.members],
            threshold=self.threshold,
            tracker=self.tracker.to_dict(),
            species=[s.to_dict() for s in self.species],
            next_species_id=self.next_species_id,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.members = [_member_from_state(m) for m in state["members"]]
        self.threshold = state["threshold"]
        self.tracker = InnovationTracker.from_dict(state["tracker"])
        self.species = [Species.from_dict(s) for s in state["species"]]
        self.next_species_id = state["next_species_id"]

    def summary(self) -> dict[str, Any]:
        return {"generation": self.generation, "species": len(self.species),
                "threshold": round(self.threshold, 3)}


def _cppn_from_state(data: Any) -> CPPNGenome:
    """A genome saved in a NEAT state: its JSON text, or its dict (states saved before)."""
    if isinstance(data, str):
        return CPPNGenome.from_json(data)
    return CPPNGenome.from_dict(data)


def _member_state(member: Member) -> dict[str, Any]:
    """:meth:`Member.to_dict <evonas.strategies.deap_bridge.Member.to_dict>` with the genome as
    its JSON text."""
    return {"id": member.id, "genome": member.genome.to_json(), "parents": list(member.parents),
            "fitness": member.fitness_value}


def _member_from_state(data: dict[str, Any]) -> Member:
    """A member from :func:`_member_state` (or from ``Member.to_dict``: states saved before)."""
    genome = data["genome"]
    if not isinstance(genome, str):
        return Member.from_dict(data)
    member = Member(CPPNGenome.from_json(genome), data["id"], tuple(data["parents"]))
    member.set_fitness(data["fitness"])
    return member


def _wvalues(member: Member) -> tuple[float, ...]:
    return member.fitness.wvalues


def _best_first(members: list[Member]) -> list[Member]:
    """``tools.selBest(members, len(members))``: DEAP compares fitnesses by their ``wvalues``
    tuples, so sorting by those (stable, reversed) orders exactly as it does, without a Python
    call per comparison."""
    return sorted(members, key=_wvalues, reverse=True)


def _fitter_or_equal(fa: float | None, fb: float | None) -> bool:
    return fb is None or (fa is not None and fa >= fb)


def _apportion(shares: list[float], total: int) -> list[int]:
    """Split ``total`` in proportion to ``shares`` (largest remainder; ties to the first)."""
    if not shares:
        return []
    weight = sum(shares)
    if weight <= 0:
        shares, weight = [1.0] * len(shares), float(len(shares))
    raw = [total * s / weight for s in shares]
    counts = [int(math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts
