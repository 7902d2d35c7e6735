"""The search-space and genome protocols: every registered space against the contract, and a toy
space added in one module with one registration.

The contract checks are parametrized over the registry itself (:func:`genomes.space_names`), so a
newly registered space is tested by registering it. :class:`ChainSpace` below is the "new space is
one module and one registration" proof: defined here, registered by one ``register_space`` call
(in a fixture, so other tests never see it), it is built from a config, searched by random search
and REINFORCE, and compiled and memory-estimated through its own hooks, with no change anywhere
else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

import genomes
from genomes import (
    CPPNGenome,
    DAGGenome,
    Decision,
    Decoded,
    Edge,
    Encoding,
    FreeSpace,
    Genome,
    GenomeError,
    NB201Space,
    NEATSpace,
    SearchSpace,
    as_search_space,
    genome_from_dict,
    genome_kind_of,
    genome_kinds,
    load_hook,
    register_space,
    space_from_dict,
    space_names,
    unregister_space,
)
from genomes import cppn as cppn_module

#: Extra configs per registered space (the default config is always tested).
SPACE_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "nb201": [{}],
    "free": [{}, {"mode": "cell", "max_nodes": 5, "max_edges": 6, "widths": [8, 16]},
             {"max_nodes": 3, "max_edges": 2, "ops": ["conv_3x3", "identity"]}],
    "neat": [{}, {"num_inputs": 4, "num_outputs": 2, "activations": ["tanh", "relu"],
                  "recurrent": True}],
}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    return [(name, options) for name in space_names()
            for options in SPACE_CONFIGS.get(name, [{}])]


def check_space_contract(space: SearchSpace, samples: int = 25) -> None:
    """Everything a search space promises: sample -> validate -> JSON -> mutate stays valid."""
    assert isinstance(space, SearchSpace)
    assert space.genome_kind in genome_kinds()
    assert genome_kind_of(space.genome_type).kind == space.genome_kind
    assert space_from_dict(json.loads(json.dumps(space.to_dict()))) == space
    assert space.to_dict()["name"] == space.name
    for hook in (space.compile_hook, space.memory_hook):
        assert hook is None or (isinstance(hook, str) and hook.count(":") == 1)
    names = space.mutation_names()
    assert names and all(isinstance(n, str) for n in names)
    encoding = space.encoding()
    rng = np.random.default_rng(0)
    for i in range(samples):
        genome = space.sample(rng)
        assert isinstance(genome, space.genome_type) and isinstance(genome, Genome)
        space.validate(genome)
        back = genome_from_dict(json.loads(genome.to_json()))
        assert back == genome and back.canonical_hash() == genome.canonical_hash()
        weights = None if i % 2 else dict.fromkeys(names, 1.0)
        child, record = space.mutate(genome, rng, weights)
        space.validate(child)
        assert isinstance(record["op"], str)
        json.dumps(record, allow_nan=False)
        if encoding is not None:
            choices = encoding.encode(genome)
            assert len(choices) == len(encoding.decisions)
            assert all(0 <= c < len(d.options) for c, d in zip(choices, encoding.decisions,
                                                              strict=True))
            decoded = encoding.decode(choices)
            assert decoded.genome == genome and decoded.repairs == []


# --------------------------------------------------------------------------- registered spaces
@pytest.mark.parametrize(("name", "options"), _cases())
def test_every_registered_space_satisfies_the_protocol(name: str, options: dict[str, Any]) -> None:
    check_space_contract(space_from_dict({"name": name, **options}))


def test_every_registered_space_has_a_config_case() -> None:
    missing = [name for name in space_names() if name not in SPACE_CONFIGS]
    assert not missing, f"add the spaces {missing} to SPACE_CONFIGS"


def test_the_shipped_spaces_and_genomes_are_registered() -> None:
    assert space_names()[:3] == ("nb201", "free", "neat")
    assert genome_kinds()[:2] == ("dag", "cppn")
    assert genome_kind_of(DAGGenome).label == "DAG" and genome_kind_of(CPPNGenome).label == "CPPN"
    assert type(space_from_dict({"name": "neat"})) is NEATSpace
    with pytest.raises(KeyError):
        genome_kind_of(int)


def test_unknown_names_and_keys_are_named() -> None:
    with pytest.raises(GenomeError, match=r"^space\.name: unknown search space 'nb301'; choose "
                                          r"'nb201', 'free' or 'neat'"):
        space_from_dict({"name": "nb301"})
    with pytest.raises(GenomeError, match=r"space\.name: unknown search space None"):
        space_from_dict({})
    with pytest.raises(GenomeError, match=r"space\.depth: unknown key for the free space; "
                                          r"allowed: \["):
        space_from_dict({"name": "free", "depth": 3})
    with pytest.raises(GenomeError, match=r"space\.ops: unknown key for the nb201 space"):
        space_from_dict({"name": "nb201", "ops": ["none"]})
    with pytest.raises(GenomeError, match=r"space\.depth: unknown key for the neat space"):
        space_from_dict({"name": "neat", "depth": 3})
    with pytest.raises(GenomeError, match=r"^kind: unknown genome kind 'tree'"):
        genome_from_dict({"kind": "tree"})
    with pytest.raises(GenomeError, match=r"^kind: unknown genome kind None"):
        genome_from_dict([1, 2])


def test_lists_in_configs_become_tuples() -> None:
    space = space_from_dict({"name": "free", "ops": ["conv_3x3"], "widths": [8]})
    assert space == FreeSpace(ops=("conv_3x3",), widths=(8,))
    neat = space_from_dict({"name": "neat", "weight_range": [-2, 2]})
    assert neat.weight_range == (-2, 2)


def test_a_name_registers_once() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register_space("nb201", NB201Space)


def test_a_plain_neat_space_becomes_a_search_space() -> None:
    plain = cppn_module.NEATSpace(num_inputs=3)
    assert not isinstance(plain, SearchSpace)
    space = as_search_space(plain)
    assert isinstance(space, NEATSpace) and isinstance(space, SearchSpace)
    assert space == plain and plain == space and hash(space) == hash(plain)
    assert space != NEATSpace(num_inputs=4)
    nb201 = NB201Space()
    assert as_search_space(nb201) is nb201
    with pytest.raises(TypeError, match="expected a search space, got object"):
        as_search_space(object())


def test_the_dag_spaces_sample_and_mutate_with_the_operators_random_stream() -> None:
    """``space.sample`` / ``space.mutate`` are the operators, drawing the same numbers: runs made
    before the protocol replay identically."""
    from operators import mutate, random_genome

    for space in (NB201Space(), FreeSpace(), FreeSpace(mode="cell", max_nodes=5)):
        a, b = np.random.default_rng(11), np.random.default_rng(11)
        for _ in range(30):
            genome = space.sample(a)
            assert genome == random_genome(space, b)
            assert space.mutate(genome, a) == mutate(genome, b, space)
        assert a.bit_generator.state == b.bit_generator.state


def test_random_search_asks_the_space() -> None:
    from evonas.strategies import build_strategy
    from operators import random_genome

    space = FreeSpace(max_nodes=6)
    strategy = build_strategy({"name": "random"}, space, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    assert [c.genome for c in strategy.ask(8)] == [random_genome(space, rng) for _ in range(8)]
    neat = build_strategy({"name": "random"}, NEATSpace(num_inputs=3), np.random.default_rng(5))
    for c in neat.ask(3):
        assert isinstance(c.genome, CPPNGenome)


def test_the_dag_hooks_resolve() -> None:
    for space in (NB201Space(), FreeSpace(), FreeSpace(mode="cell")):
        assert space.compile_hook is not None and space.memory_hook is not None
        assert callable(load_hook(space.compile_hook))
        assert callable(load_hook(space.memory_hook))
    with pytest.raises(ValueError, match="module:attribute"):
        load_hook("no_colon")


def test_the_free_encoding_decodes_any_choices_and_inverts_on_genomes() -> None:
    space = FreeSpace(max_nodes=5, max_edges=4)
    encoding = space.encoding()
    rng = np.random.default_rng(3)
    for _ in range(200):
        choices = [int(rng.integers(len(d.options))) for d in encoding.decisions]
        decoded = encoding.decode(choices)
        space.validate(decoded.genome)
        assert encoding.decode(encoding.encode(decoded.genome)).genome == decoded.genome
    with pytest.raises(GenomeError):
        encoding.encode(NB201Space().sample(rng))


# --------------------------------------------------------------------------- a toy space
class ChainEncoding:
    """One op decision per chain edge."""

    def __init__(self, space: ChainSpace) -> None:
        self.space = space
        self._decisions = tuple(Decision("op", i + 1, i, space.ops)
                                for i in range(space.length - 1))

    @property
    def decisions(self) -> Sequence[Decision]:
        return self._decisions

    def decode(self, choices: Sequence[int]) -> Decoded:
        edges = [Edge(d.source, d.node, d.options[c])
                 for d, c in zip(self._decisions, choices, strict=True)]
        genome = DAGGenome(self.space.name, self.space.length, tuple(edges))
        self.space.validate(genome)
        return Decoded(genome, [True] * len(edges), [])

    def encode(self, genome: DAGGenome) -> list[int]:
        self.space.validate(genome)
        return [self.space.ops.index(e.op) for e in genome.edges]


@dataclass(frozen=True)
class ChainSpace:
    """A toy space: a chain of ``length`` nodes, one op per link, compiled as a plain stack."""

    length: int = 4
    ops: tuple[str, ...] = ("conv_3x3", "identity", "max_pool_3x3")
    channels: int = 8
    name: str = field(default="chain", init=False)

    genome_kind: ClassVar[str] = "dag"
    compile_hook: ClassVar[str | None] = "tests.genomes.test_space_protocol:emit_chain"
    memory_hook: ClassVar[str | None] = "evonas.evaluation.memory:estimate_peak_memory"

    @property
    def genome_type(self) -> type[DAGGenome]:
        return DAGGenome

    def validate(self, genome: Any) -> None:
        if not isinstance(genome, DAGGenome):
            raise GenomeError(f"genome: the chain space holds DAG genomes, got "
                              f"{type(genome).__name__}")
        genome.validate()
        if genome.space != self.name or genome.num_nodes != self.length or genome.widths:
            raise GenomeError(f"genome: not a chain of {self.length} nodes")
        if [(e.src, e.dst) for e in genome.edges] != [(i, i + 1) for i in range(self.length - 1)]:
            raise GenomeError("edges: a chain links each node to the next")
        for e in genome.edges:
            if e.op not in self.ops:
                raise GenomeError(f"edges[{e.src}->{e.dst}].op: {e.op!r} is not in this space")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "length": self.length, "ops": list(self.ops),
                "channels": self.channels}

    def sample(self, rng: np.random.Generator) -> DAGGenome:
        edges = [Edge(i, i + 1, self.ops[int(rng.integers(len(self.ops)))])
                 for i in range(self.length - 1)]
        return DAGGenome(self.name, self.length, tuple(edges))

    def mutation_names(self) -> tuple[str, ...]:
        return ("mutate_op",)

    def mutate(self, genome: DAGGenome, rng: np.random.Generator,
               weights: Mapping[str, float] | None = None) -> tuple[DAGGenome, dict[str, Any]]:
        self.validate(genome)
        target = genome.edges[int(rng.integers(len(genome.edges)))]
        others = [op for op in self.ops if op != target.op]
        new = others[int(rng.integers(len(others)))]
        edges = tuple(Edge(e.src, e.dst, new) if e == target else e for e in genome.edges)
        return DAGGenome(self.name, self.length, edges), {
            "op": "mutate_op", "edge": [target.src, target.dst], "from": target.op, "to": new}

    def encoding(self) -> Encoding:
        return ChainEncoding(self)


def emit_chain(builder: Any, x: Any, genome: DAGGenome, space: ChainSpace, in_channels: int,
               num_classes: int) -> tuple[Any, str]:
    """The chain space's compile hook: stem, one op per link, pooling and a classifier."""
    import torch
    from torch import nn

    from evonas.compiler import build_op

    c = space.channels
    x = builder.call("stem", nn.Conv2d(in_channels, c, 3, padding=1), x)
    for e in genome.edges:
        op = build_op(e.op, c, c)
        assert op is not None
        x = builder.call(f"link_{e.src}_{e.dst}", op, x)
    x = builder.call("pool", nn.AdaptiveAvgPool2d(1), x)
    x = builder.function(torch.flatten, x, 1, name="flatten")
    return builder.call("classifier", nn.Linear(c, num_classes), x), "ChainNetwork"


@pytest.fixture
def chain() -> Iterator[None]:
    """The one registration a new space needs (undone afterwards)."""
    register_space("chain", ChainSpace)
    yield
    unregister_space("chain")


@pytest.mark.usefixtures("chain")
def test_a_toy_space_is_one_registration() -> None:
    space = space_from_dict({"name": "chain", "length": 5, "ops": ["identity", "conv_3x3"]})
    assert space == ChainSpace(length=5, ops=("identity", "conv_3x3"))
    assert "chain" in space_names()
    check_space_contract(space)
    with pytest.raises(GenomeError, match=r"space\.width: unknown key for the chain space"):
        space_from_dict({"name": "chain", "width": 3})
    with pytest.raises(GenomeError, match="choose 'nb201', 'free', 'neat' or 'chain'"):
        space_from_dict({"name": "ring"})


@pytest.mark.usefixtures("chain")
def test_a_toy_space_is_searched_by_random_search() -> None:
    from evonas.strategies import Evaluated, build_strategy

    space = space_from_dict({"name": "chain"})

    def asked(seed: int) -> list[DAGGenome]:
        strategy = build_strategy({"name": "random"}, space, np.random.default_rng(seed))
        out = []
        for round_ in range(3):
            candidates = strategy.ask(4)
            strategy.tell([Evaluated(round_ * 4 + i, c.genome, 1.0)
                           for i, c in enumerate(candidates)])
            out.extend(c.genome for c in candidates)
        return out

    genomes_ = asked(2)
    assert len(genomes_) == 12 and genomes_ == asked(2) and genomes_ != asked(3)
    for genome in genomes_:
        space.validate(genome)
        assert genome_from_dict(genome.to_dict()) == genome


@pytest.mark.usefixtures("chain")
def test_a_toy_space_is_searched_by_reinforce() -> None:
    pytest.importorskip("torch")
    from evonas.strategies import Evaluated, build_strategy

    space = space_from_dict({"name": "chain"})
    strategy = build_strategy({"name": "reinforce", "hidden_size": 8}, space,
                              np.random.default_rng(0))
    for i in range(6):
        (candidate,) = strategy.ask(1)
        space.validate(candidate.genome)
        strategy.tell([Evaluated(i, candidate.genome, float(candidate.genome.describe()
                                                          .count("conv")))])
    assert strategy.summary()["updates"] == 6


@pytest.mark.usefixtures("chain")
def test_a_toy_space_compiles_and_estimates_through_its_hooks() -> None:
    torch = pytest.importorskip("torch")
    from evonas.compiler import compile_genome
    from evonas.evaluation.memory import estimate_peak_memory

    space = ChainSpace()
    genome = space.sample(np.random.default_rng(1))
    module = compile_genome(genome, space, (3, 8, 8), 10)
    assert type(module).__name__ == "ChainNetwork"
    assert module(torch.zeros(2, 3, 8, 8)).shape == (2, 10)
    assert module.meta["evonas"]["space"] == space.to_dict()
    assert estimate_peak_memory(genome, space, (3, 8, 8), 10, 4).total > 0
    with pytest.raises(GenomeError):
        compile_genome(NB201Space().sample(np.random.default_rng(0)), space, (3, 8, 8), 10)


def test_the_package_exports_the_protocol() -> None:
    for name in ("SearchSpace", "Genome", "Encoding", "register_space", "space_names",
                 "register_genome_kind", "genome_from_dict", "as_search_space", "load_hook"):
        assert name in genomes.__all__
