"""The genomes a strategy handed out lately, so that told asynchronously it can breed new ones.

A converged population on a small space keeps re-proposing cells the campaign already has (each
a cached copy that costs an individual and no evaluation) until ``budget.max_individuals`` stops
the run. Strategies that can breed again remember the canonical hashes (their first
:data:`HASH_DIGITS` hex digits) of the latest :data:`LIMIT` genomes they handed out, as part of
their resumable state, and breed a candidate again, up to :data:`RETRIES` times, when its genome
is among them. Told in birth order, nothing is bred again (the textbook algorithms,
bit-identical reruns).
"""

from __future__ import annotations

from collections.abc import Iterable

from genomes import Genome

#: How many times a candidate whose genome was handed out lately is bred again before it is
#: kept as it is.
RETRIES = 8
#: Hex digits of a canonical hash kept (64 bits: with millions of genomes a collision, which only
#: skips one retry, stays improbable).
HASH_DIGITS = 16
#: How many of the latest genomes are remembered (the oldest are forgotten first), so that the
#: resumable state stays small however long the campaign runs.
LIMIT = 4096


class RecentGenomes:
    """The latest :data:`LIMIT` genomes handed out, by canonical hash prefix, oldest first."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys: dict[str, None] = dict.fromkeys(keys)

    @staticmethod
    def key(genome: Genome) -> str:
        return genome.canonical_hash()[:HASH_DIGITS]

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        """Remember ``key`` as the latest; forget the oldest beyond :data:`LIMIT`."""
        self._keys.pop(key, None)
        self._keys[key] = None
        if len(self._keys) > LIMIT:
            del self._keys[next(iter(self._keys))]

    def to_list(self) -> list[str]:
        """The keys, oldest first (JSON for a strategy's state)."""
        return list(self._keys)
