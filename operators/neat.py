"""NEAT operators on CPPN genomes: pure functions of ``(genome, rng, space[, tracker])``.

Mutations return ``(child, record)`` where ``record`` is a small JSON-safe dict whose ``"op"`` key
names the operator; they never modify the parent (genomes are frozen), draw randomness only from
``rng``, and raise :class:`OperatorNotApplicable` (before drawing anything) when they cannot apply.
Every child passes ``space.validate``.

Structural operators (:func:`add_node`, :func:`add_connection`) take the run's
:class:`~genomes.InnovationTracker` so the same change gets the same innovation number in every
genome. Without one they number after the parent's own genes, which is fine for a single lineage
but does not align genes across genomes.

* :func:`initial_genome`: NEAT's minimal start, every input wired to every output.
* :func:`add_node` (split a connection), :func:`add_connection` (feed-forward, or recurrent where
  the space allows), :func:`mutate_weights`, :func:`mutate_biases` (perturb or replace),
  :func:`mutate_activation`, :func:`toggle_connection`.
* :func:`mutate_neat`: NEAT's mutation step, each operator applied with its probability
  (:class:`MutationRates`).
* :func:`crossover_neat`: genes aligned by innovation number; matching genes from either parent,
  disjoint and excess genes from the fitter one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from genomes import ConnectionGene, CPPNGenome, GenomeError, InnovationTracker, NEATSpace, NodeGene
from operators._common import Record
from operators.errors import OperatorNotApplicable

#: The signature of the NEAT mutations (``tracker`` may be None).
NEATMutation = Callable[..., tuple[CPPNGenome, Record]]

#: ``tuple.__new__``: builds a gene from its fields without the named tuple's Python-level
#: ``__new__`` (the operators make genes by the thousand; the fields are in order).
_new_gene = tuple.__new__


def _check(genome: CPPNGenome, space: NEATSpace) -> None:
    if genome.__dict__.get("_valid_in") is space:  # checked against this space before
        return
    if not isinstance(space, NEATSpace):
        raise TypeError(f"space: NEAT operators need a NEATSpace, got {type(space).__name__}")
    space.validate(genome)


def _child(genome: CPPNGenome, space: NEATSpace, nodes: Any = None, conns: Any = None, *,
           same_structure: bool = False) -> CPPNGenome:
    nodes = tuple(genome.nodes if nodes is None else nodes)
    conns = tuple(genome.connections if conns is None else conns)
    if same_structure:
        # Only values changed, and every new value was drawn inside the space's ranges (clipped)
        # or copied from a parent already checked against this space: the child is valid by
        # construction. Structural checks and caches carry over (the property tests re-check
        # such children from their JSON form).
        child = genome._derive(nodes, conns)  # genes built position by position from genome's
        child.__dict__["_valid_in"] = space
        return child
    child = CPPNGenome(genome.num_inputs, genome.num_outputs, nodes, conns)
    space.validate(child)
    return child


def new_weight(rng: np.random.Generator, space: NEATSpace) -> float:
    """A fresh weight: normal(0, ``weight_init_std``) clipped to the weight range."""
    low, high = space.weight_range
    return float(np.clip(rng.normal(0.0, space.weight_init_std), low, high))


def new_bias(rng: np.random.Generator, space: NEATSpace) -> float:
    """A fresh bias: normal(0, ``bias_init_std``) clipped to the bias range."""
    low, high = space.bias_range
    return float(np.clip(rng.normal(0.0, space.bias_init_std), low, high))


def initial_genome(space: NEATSpace, rng: np.random.Generator,
                   tracker: InnovationTracker | None = None) -> CPPNGenome:
    """NEAT's minimal starting genome: no hidden node, inputs wired to outputs.

    With ``initial_connection: full`` every input connects to every output with a fresh weight;
    with ``none`` there is no connection. Output activations are drawn from
    ``space.output_activations`` and biases from ``new_bias``.

    Args:
        space: the search space.
        rng: the only source of randomness.
        tracker: the run's innovation tracker (a fresh one when None).
    """
    tracker = tracker if tracker is not None else InnovationTracker()
    first = space.num_inputs
    nodes = []
    for o in range(first, first + space.num_outputs):
        act = space.output_activations[int(rng.integers(len(space.output_activations)))]
        nodes.append(NodeGene(o, act, new_bias(rng, space)))
    conns = []
    if space.initial_connection == "full":
        for o in range(first, first + space.num_outputs):
            for i in range(space.num_inputs):
                conns.append(ConnectionGene(tracker.connection(i, o), i, o, new_weight(rng, space)))
    genome = CPPNGenome(space.num_inputs, space.num_outputs, tuple(nodes), tuple(conns))
    tracker.observe(genome)
    space.validate(genome)
    return genome


# --------------------------------------------------------------------------- structural
def add_node(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
             tracker: InnovationTracker | None = None) -> tuple[CPPNGenome, Record]:
    """Split an enabled connection ``a -> b`` into ``a -> new -> b``.

    The old connection is disabled; ``a -> new`` gets weight 1 and ``new -> b`` the old weight,
    so the network's function barely changes (NEAT). The new node has bias 0 and an activation
    drawn from ``space.activations``.

    Returns:
        The child and ``{"op": "add_node", "node": id, "split": innovation}``.

    Raises:
        OperatorNotApplicable: with no enabled connection, or at ``max_nodes`` /
            ``max_connections``.
    """
    _check(genome, space)
    enabled = genome.enabled_connections
    if not enabled:
        raise OperatorNotApplicable("add_node: no enabled connection to split")
    if len(genome.nodes) >= space.max_nodes:
        raise OperatorNotApplicable(f"add_node: already at max_nodes={space.max_nodes}")
    if len(genome.connections) + 2 > space.max_connections:
        raise OperatorNotApplicable(f"add_node: max_connections={space.max_connections} "
                                    "leaves no room for two more genes")
    tracker = tracker if tracker is not None else InnovationTracker.for_genome(genome)
    old = enabled[int(rng.integers(len(enabled)))]
    act = space.activations[int(rng.integers(len(space.activations)))]
    node = tracker.split_node(old.innovation, [*genome.input_ids, *genome.node_map])
    into = ConnectionGene(tracker.connection(old.src, node), old.src, node, 1.0)
    out = ConnectionGene(tracker.connection(node, old.dst), node, old.dst, old.weight)
    if {into.innovation, out.innovation} & genome.connection_map.keys():  # a foreign tracker
        top = max(genome.connection_map)
        into, out = into._replace(innovation=top + 1), out._replace(innovation=top + 2)
    if not space.weight_range[0] <= 1.0 <= space.weight_range[1]:
        into = into._replace(weight=float(np.clip(1.0, *space.weight_range)))
    conns = [c._replace(enabled=False) if c.innovation == old.innovation else c
             for c in genome.connections]
    child = _child(genome, space, [*genome.nodes, NodeGene(node, act, 0.0)],
                   [*conns, into, out])
    return child, {"op": "add_node", "node": node, "split": old.innovation}


def _descendants(genome: CPPNGenome) -> dict[int, set[int]]:
    """For every node, the nodes reachable from it along any connection gene (enabled or not)."""
    succ: dict[int, list[int]] = {}
    for c in genome.connections:
        succ.setdefault(c.src, []).append(c.dst)
    out: dict[int, set[int]] = {}
    for start in [*genome.input_ids, *genome.node_map]:
        seen = {start}
        stack = [start]
        while stack:
            for nxt in succ.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        out[start] = seen
    return out


def add_connection(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                   tracker: InnovationTracker | None = None) -> tuple[CPPNGenome, Record]:
    """Connect two unconnected nodes with a fresh weight.

    In a feed-forward space (``recurrent: false``) the new connection never closes a cycle, even
    through disabled genes (so re-enabling a gene stays safe); in a recurrent space any pair
    qualifies, self-loops and backward connections included.

    Returns:
        The child and ``{"op": "add_connection", "connection": [src, dst], "innovation": i,
        "recurrent": bool}``.

    Raises:
        OperatorNotApplicable: at ``max_connections`` or when every allowed pair is connected.
    """
    _check(genome, space)
    if len(genome.connections) >= space.max_connections:
        raise OperatorNotApplicable(
            f"add_connection: already at max_connections={space.max_connections}")
    present = {(c.src, c.dst) for c in genome.connections}
    sources = [*genome.input_ids, *genome.node_map]
    targets = list(genome.node_map)
    reach = _descendants(genome)
    candidates = []
    for src in sources:
        for dst in targets:
            if (src, dst) in present:
                continue
            if not space.recurrent and (src == dst or src in reach[dst]):
                continue
            candidates.append((src, dst))
    if not candidates:
        raise OperatorNotApplicable("add_connection: every allowed node pair is connected")
    src, dst = candidates[int(rng.integers(len(candidates)))]
    tracker = tracker if tracker is not None else InnovationTracker.for_genome(genome)
    gene = ConnectionGene(tracker.connection(src, dst), src, dst, new_weight(rng, space))
    if gene.innovation in genome.connection_map:  # a foreign tracker reused a number: renumber
        gene = gene._replace(innovation=max(genome.connection_map) + 1)
    child = _child(genome, space, conns=[*genome.connections, gene])
    return child, {"op": "add_connection", "connection": [src, dst],
                   "innovation": gene.innovation,
                   "recurrent": gene.innovation in child.recurrent_innovations}


# --------------------------------------------------------------------------- parametric
def mutate_weights(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                   tracker: InnovationTracker | None = None, *, rate: float = 1.0
                   ) -> tuple[CPPNGenome, Record]:
    """Perturb or replace connection weights.

    Each gene is mutated with probability ``rate`` (at least one is); a mutated weight is redrawn
    with probability ``space.weight_replace_rate``, else moved by normal(0,
    ``weight_perturb_std``); all clipped to the weight range.

    Returns:
        The child and ``{"op": "mutate_weights", "perturbed": n, "replaced": m}``.

    Raises:
        OperatorNotApplicable: when the genome has no connection.
    """
    _check(genome, space)
    n = len(genome.connections)
    if n == 0:
        raise OperatorNotApplicable("mutate_weights: the genome has no connection")
    new, perturbed, replaced = _mutate_values(
        [c.weight for c in genome.connections], rng, rate, space.weight_perturb_std,
        space.weight_init_std, space.weight_replace_rate, space.weight_range)
    conns = [_new_gene(ConnectionGene, (c[0], c[1], c[2], w, c[4]))
             for c, w in zip(genome.connections, new, strict=True)]
    child = _child(genome, space, conns=conns, same_structure=True)
    return child, {"op": "mutate_weights", "perturbed": perturbed, "replaced": replaced}


def mutate_biases(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                  tracker: InnovationTracker | None = None, *, rate: float = 1.0
                  ) -> tuple[CPPNGenome, Record]:
    """Perturb or replace node biases, as :func:`mutate_weights` does weights.

    Returns:
        The child and ``{"op": "mutate_biases", "perturbed": n, "replaced": m}``.
    """
    _check(genome, space)
    new, perturbed, replaced = _mutate_values(
        [g.bias for g in genome.nodes], rng, rate, space.bias_perturb_std, space.bias_init_std,
        space.bias_replace_rate, space.bias_range)
    nodes = [_new_gene(NodeGene, (g[0], g[1], b)) for g, b in zip(genome.nodes, new, strict=True)]
    child = _child(genome, space, nodes=nodes, same_structure=True)
    return child, {"op": "mutate_biases", "perturbed": perturbed, "replaced": replaced}


def _mutate_values(old: list[float], rng: np.random.Generator, rate: float, perturb_std: float,
                   init_std: float, replace_rate: float, bounds: tuple[float, float]
                   ) -> tuple[list[float], int, int]:
    n = len(old)
    u = rng.random(2 * n).tolist()
    z = rng.standard_normal(n).tolist()
    # A draw in [0, 1) is always below a rate of 1: every value is chosen.
    chosen = None if rate >= 1.0 else [x < rate for x in u[:n]]
    if chosen is not None and True not in chosen:
        chosen[int(rng.integers(n))] = True
    low, high = bounds
    new, perturbed, replaced = [], 0, 0
    for i, value in enumerate(old):
        if chosen is None or chosen[i]:
            if u[n + i] < replace_rate:
                value = z[i] * init_std
                replaced += 1
            else:
                value = value + z[i] * perturb_std
                perturbed += 1
            value = low if value < low else high if value > high else value
        new.append(value if type(value) is float else float(value))
    return new, perturbed, replaced


def mutate_activation(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                      tracker: InnovationTracker | None = None) -> tuple[CPPNGenome, Record]:
    """Give one node another activation its role allows.

    Returns:
        The child and ``{"op": "mutate_activation", "node": id, "from": a, "to": b}``.

    Raises:
        OperatorNotApplicable: when no node has an alternative activation.
    """
    _check(genome, space)
    first_hidden = genome.num_inputs + genome.num_outputs
    options = []
    for g in genome.nodes:
        allowed = space.output_activations if g.id < first_hidden else space.activations
        others = [a for a in dict.fromkeys(allowed) if a != g.activation]
        if others:
            options.append((g, others))
    if not options:
        raise OperatorNotApplicable("mutate_activation: no node has another allowed activation")
    target, others = options[int(rng.integers(len(options)))]
    act = others[int(rng.integers(len(others)))]
    nodes = [g._replace(activation=act) if g.id == target.id else g for g in genome.nodes]
    child = _child(genome, space, nodes=nodes, same_structure=True)
    return child, {"op": "mutate_activation", "node": target.id, "from": target.activation,
                   "to": act}


def toggle_connection(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                      tracker: InnovationTracker | None = None) -> tuple[CPPNGenome, Record]:
    """Enable a disabled connection or disable an enabled one.

    A gene whose re-enabling would close a cycle in a feed-forward space is skipped.

    Returns:
        The child and ``{"op": "toggle_connection", "innovation": i, "enabled": bool}``.

    Raises:
        OperatorNotApplicable: when the genome has no connection that can flip.
    """
    _check(genome, space)
    if not genome.connections:
        raise OperatorNotApplicable("toggle_connection: the genome has no connection")
    order = rng.permutation(len(genome.connections))
    for index in order:
        target = genome.connections[int(index)]
        conns = [c._replace(enabled=not c.enabled) if c.innovation == target.innovation else c
                 for c in genome.connections]
        try:
            child = _child(genome, space, conns=conns)
        except GenomeError:
            continue
        return child, {"op": "toggle_connection", "innovation": target.innovation,
                       "enabled": not target.enabled}
    raise OperatorNotApplicable("toggle_connection: no connection can flip in this space")


# --------------------------------------------------------------------------- NEAT mutation step
@dataclass(frozen=True)
class MutationRates:
    """Probabilities of NEAT's mutation step.

    Structural and weight rates are the NEAT paper's (Stanley & Miikkulainen 2002). The paper has
    a bias input instead of node biases; ``biases = 0.5`` was the best of 0.2, 0.5 and 0.8 on XOR
    (mean evaluations to solve over 100 seeds; see ``bench/xor_neat.py``).

    A structural mutation (add node, else add connection) excludes the parametric ones, as in the
    original NEAT; otherwise weights, biases, activations and enable flags mutate independently.

    Attributes:
        add_node: chance to split a connection.
        add_connection: chance to add a connection (when no node was added).
        weights: chance to mutate the weights.
        weight_rate: per-gene chance within a weight mutation.
        biases: chance to mutate the biases.
        bias_rate: per-node chance within a bias mutation.
        activation: chance to change one node's activation.
        toggle: chance to flip one connection's enable flag.
    """

    add_node: float = 0.03
    add_connection: float = 0.05
    weights: float = 0.8
    weight_rate: float = 1.0
    biases: float = 0.5
    bias_rate: float = 0.5
    activation: float = 0.0
    toggle: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) \
                    or not 0 <= value <= 1:
                raise ValueError(f"{f.name}: a probability between 0 and 1, got {value!r}")


_DEFAULT_RATES = MutationRates()


def mutate_neat(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                tracker: InnovationTracker | None = None,
                rates: MutationRates | None = None) -> tuple[CPPNGenome, Record]:
    """NEAT's mutation step: each operator with its probability (see :class:`MutationRates`).

    The child may equal the parent when no operator fires or applies.

    Returns:
        The child and ``{"op": "mutate_neat", "steps": [record, ...]}``.
    """
    rates = rates or _DEFAULT_RATES
    steps: list[Record] = []
    child = genome
    coins = rng.random(6).tolist()  # one draw for all six decisions
    ops: list[tuple[NEATMutation, dict[str, Any]]]
    if coins[0] < rates.add_node:
        ops = [(add_node, {})]
    elif coins[1] < rates.add_connection:
        ops = [(add_connection, {})]
    elif coins[4] >= rates.activation and coins[5] >= rates.toggle:
        return _mutate_values_step(genome, rng, space, rates, coins[2] < rates.weights,
                                   coins[3] < rates.biases)
    else:
        ops = []
        if coins[2] < rates.weights:
            ops.append((mutate_weights, {"rate": rates.weight_rate}))
        if coins[3] < rates.biases:
            ops.append((mutate_biases, {"rate": rates.bias_rate}))
        if coins[4] < rates.activation:
            ops.append((mutate_activation, {}))
        if coins[5] < rates.toggle:
            ops.append((toggle_connection, {}))
    if ops and tracker is None and ops[0][0] in (add_node, add_connection):
        tracker = InnovationTracker.for_genome(genome)
    for op, kwargs in ops:
        try:
            child, record = op(child, rng, space, tracker, **kwargs)
        except OperatorNotApplicable:
            continue
        steps.append(record)
    if not steps:
        _check(genome, space)
    return child, {"op": "mutate_neat", "steps": steps}


def _mutate_values_step(genome: CPPNGenome, rng: np.random.Generator, space: NEATSpace,
                        rates: MutationRates, weights: bool, biases: bool
                        ) -> tuple[CPPNGenome, Record]:
    """:func:`mutate_neat`'s step when only weights and/or biases mutate: what
    :func:`mutate_weights` then :func:`mutate_biases` do (the same draws, values and records),
    in one child instead of two."""
    _check(genome, space)
    steps: list[Record] = []
    nodes, conns = genome.nodes, genome.connections
    if weights and conns:  # without a connection, mutate_weights does not apply
        new, perturbed, replaced = _mutate_values(
            [c[3] for c in conns], rng, rates.weight_rate, space.weight_perturb_std,
            space.weight_init_std, space.weight_replace_rate, space.weight_range)
        conns = tuple([_new_gene(ConnectionGene, (c[0], c[1], c[2], w, c[4]))
                       for c, w in zip(conns, new, strict=True)])
        steps.append({"op": "mutate_weights", "perturbed": perturbed, "replaced": replaced})
    if biases:
        new, perturbed, replaced = _mutate_values(
            [g[2] for g in nodes], rng, rates.bias_rate, space.bias_perturb_std,
            space.bias_init_std, space.bias_replace_rate, space.bias_range)
        nodes = tuple([_new_gene(NodeGene, (g[0], g[1], b))
                       for g, b in zip(nodes, new, strict=True)])
        steps.append({"op": "mutate_biases", "perturbed": perturbed, "replaced": replaced})
    if not steps:
        return genome, {"op": "mutate_neat", "steps": steps}
    child = genome._derive(nodes, conns)  # values drawn inside the space's ranges: valid
    child.__dict__["_valid_in"] = space
    return child, {"op": "mutate_neat", "steps": steps}


# --------------------------------------------------------------------------- crossover
@dataclass(frozen=True)
class GeneAlignment:
    """Connection genes of two genomes aligned by innovation number.

    Attributes:
        matching: innovations both genomes have.
        disjoint: innovations one genome has, within the other's innovation range.
        excess: innovations beyond the other genome's largest innovation number.
    """

    matching: tuple[int, ...]
    disjoint: tuple[int, ...]
    excess: tuple[int, ...]


def align_genes(a: CPPNGenome, b: CPPNGenome) -> GeneAlignment:
    """Align the connection genes of ``a`` and ``b`` by innovation number."""
    ka, kb = a.connection_map.keys(), b.connection_map.keys()
    matching = sorted(ka & kb)
    max_a = max(ka, default=-1)
    max_b = max(kb, default=-1)
    disjoint: list[int] = []
    excess: list[int] = []
    for i in sorted(ka ^ kb):
        limit = max_b if i in ka else max_a
        (excess if i > limit else disjoint).append(i)
    return GeneAlignment(tuple(matching), tuple(disjoint), tuple(excess))


def compatibility_distance(a: CPPNGenome, b: CPPNGenome, c1: float = 1.0, c2: float = 1.0,
                           c3: float = 0.4, normalize_below: int = 20) -> float:
    """NEAT's compatibility distance ``c1*E/N + c2*D/N + c3*W``.

    ``E`` and ``D`` count excess and disjoint connection genes, ``W`` is the mean absolute weight
    difference of matching genes and ``N`` the larger genome's gene count (1 when both have fewer
    than ``normalize_below`` genes, as in the NEAT paper).
    """
    return genes_distance(a.weight_map, a.innovations, b.weight_map, b.innovations, c1, c2, c3,
                          normalize_below)


def genes_distance(wa: dict[int, float], ia: tuple[int, ...], wb: dict[int, float],
                   ib: tuple[int, ...], c1: float = 1.0, c2: float = 1.0, c3: float = 0.4,
                   normalize_below: int = 20) -> float:
    """:func:`compatibility_distance` of two genomes given as their
    :attr:`~genomes.CPPNGenome.weight_map` and :attr:`~genomes.CPPNGenome.innovations`
    (speciation compares every genome with several representatives: it reads those once)."""
    la, lb = len(ia), len(ib)
    n = la if la > lb else lb
    if n < normalize_below:
        n = 1
    if not la or not lb:
        return c1 * (la + lb) / n  # every gene is excess
    excess = _excess(ia, ib)
    small, large = (wa, wb) if la <= lb else (wb, wa)
    get = large.get
    matching = 0
    diff = 0.0
    for i, weight in small.items():  # innovation order, as the sum's order
        other = get(i)
        if other is not None:
            matching += 1
            d = weight - other
            diff += d if d > 0.0 else -d
    disjoint = la + lb - 2 * matching - excess
    return c1 * excess / n + c2 * disjoint / n + c3 * (diff / matching if matching else 0.0)


def _excess(ia: tuple[int, ...], ib: tuple[int, ...]) -> int:
    """Excess genes of two non-empty sorted innovation lists: they sit at the end of the genome
    with the larger innovation number."""
    top_a, top_b = ia[-1], ib[-1]
    if top_a > top_b:
        return len(ia) - bisect_right(ia, top_b)
    if top_b > top_a:
        return len(ib) - bisect_right(ib, top_a)
    return 0


def genes_within(wa: dict[int, float], ia: tuple[int, ...], wb: dict[int, float],
                 ib: tuple[int, ...], threshold: float, c1: float = 1.0, c2: float = 1.0,
                 c3: float = 0.4, normalize_below: int = 20) -> bool:
    """``genes_distance(wa, ia, wb, ib, c1, c2, c3, normalize_below) < threshold``, exactly, but
    without the weight term when the gene counts alone reach the threshold (the weight term
    is never negative, and adding it cannot lower a float sum): what speciation asks of most
    genome and representative pairs. Needs ``c3 >= 0``."""
    la, lb = len(ia), len(ib)
    n = la if la > lb else lb
    if n < normalize_below:
        n = 1
    if not la or not lb:
        return c1 * (la + lb) / n < threshold
    excess = _excess(ia, ib)
    matching = len(wa.keys() & wb.keys())
    disjoint = la + lb - 2 * matching - excess
    structural = c1 * excess / n + c2 * disjoint / n
    if structural >= threshold or not matching:
        return structural + c3 * 0.0 < threshold
    small, large = (wa, wb) if la <= lb else (wb, wa)
    get = large.get
    diff = 0.0
    for i, weight in small.items():  # innovation order, as genes_distance sums
        other = get(i)
        if other is not None:
            d = weight - other
            diff += d if d > 0.0 else -d
    return structural + c3 * (diff / matching) < threshold


def crossover_neat(a: CPPNGenome, b: CPPNGenome, rng: np.random.Generator,
                   space: NEATSpace, *, disable_rate: float = 0.75
                   ) -> tuple[CPPNGenome, Record]:
    """NEAT crossover; ``a`` is the fitter parent (callers order the parents).

    Genes align by innovation number. A matching gene takes its weight and enable flag from
    either parent by a fair coin, and is disabled with probability ``disable_rate`` when either
    parent disables it. Disjoint and excess genes come from ``a`` only, as do the node genes
    (a node both parents have takes its bias and activation from either by a coin), so the child
    has ``a``'s structure and stays valid. Crossing a genome with itself gives that genome.

    Returns:
        The child and ``{"op": "crossover_neat", "matching": m, "disjoint": d, "excess": e,
        "from_b": k}`` (``k``: genes whose values came from ``b``).

    Raises:
        GenomeError: when a parent is not a valid member of ``space``.
    """
    for name, parent in (("a", a), ("b", b)):
        try:
            _check(parent, space)
        except GenomeError as exc:
            raise GenomeError(f"parent {name}: {exc}") from None
    if a == b:
        return a, {"op": "crossover_neat", "matching": len(a.connections), "disjoint": 0,
                   "excess": 0, "from_b": 0}
    wb, nb = b.connection_map, b.node_map
    n_conns, n_nodes = len(a.connections), len(a.nodes)
    u = rng.random(2 * n_conns + n_nodes).tolist()  # one draw for every coin this may need
    conns = []
    matching = from_b = 0
    for k, c in enumerate(a.connections):
        other = wb.get(c.innovation)
        if other is None:
            conns.append(c)
            continue
        matching += 1
        # Count by the coin, never by identity: genes equal in value may or may not be one
        # object (a resumed run rebuilds genomes from JSON), and the record must not tell.
        take_b = u[k] < 0.5
        pick = other if take_b else c
        from_b += take_b
        enabled = pick.enabled
        if not c.enabled or not other.enabled:
            enabled = not u[n_conns + k] < disable_rate
        if not take_b and enabled == c.enabled:
            conns.append(c)
        else:
            conns.append(ConnectionGene(c.innovation, c.src, c.dst, pick.weight, enabled))
    nodes = []
    for k, g in enumerate(a.nodes):
        other_node = nb.get(g.id)
        if other_node is not None and u[2 * n_conns + k] < 0.5:
            nodes.append(NodeGene(g.id, other_node.activation, other_node.bias))
            from_b += 1
        else:
            nodes.append(g)
    same = all(c.enabled == g.enabled for c, g in zip(conns, a.connections, strict=True))
    try:
        child = _child(a, space, nodes, conns, same_structure=same)
    except GenomeError:  # an enable flag from b closed a cycle through a's disabled genes
        conns = [c._replace(enabled=a.connection_map[c.innovation].enabled) for c in conns]
        child = _child(a, space, nodes, conns)
    cut = b.max_innovation
    from_a_only = [i for i in a.connection_map if i not in wb]
    return child, {"op": "crossover_neat", "matching": matching,
                   "disjoint": sum(i <= cut for i in from_a_only),
                   "excess": sum(i > cut for i in from_a_only),
                   "from_b": from_b}

