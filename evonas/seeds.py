"""Seeds of one campaign's components, each a pure function of the campaign seed: the
strategy's generator and every individual's training seed (so a resumed or replayed campaign,
``evonas train`` and an export draw the same)."""

from __future__ import annotations

import numpy as np

#: Stream ids for seeding components from the campaign seed.
STRATEGY_STREAM = 1
EVALUATION_STREAM = 2


def evaluation_seed(campaign_seed: int, individual_id: int) -> int:
    """The training seed of one individual: a pure function of the campaign seed and its id."""
    seq = np.random.SeedSequence([campaign_seed, EVALUATION_STREAM, individual_id])
    return int(seq.generate_state(1, np.uint32)[0])


class EvaluationSeeds:
    """:func:`evaluation_seed` for one campaign seed, computed without numpy when the campaign
    seed and the id fit in 32 bits (NumPy's ``SeedSequence`` hash, with everything that does not
    depend on the id computed once); otherwise by :func:`evaluation_seed` itself. The same
    values either way (checked against it when built)."""

    _MASK = 0xFFFFFFFF

    def __init__(self, campaign_seed: int) -> None:
        self.campaign_seed = campaign_seed
        self._fast = type(campaign_seed) is int and 0 <= campaign_seed <= self._MASK
        if not self._fast:
            return
        mask = self._mask = self._MASK
        # SeedSequence: INIT_A, MULT_A (hashmix), MIX_MULT_L/R (mix), INIT_B, MULT_B (output)
        consts = []
        h = 0x43B0D7E5
        for _ in range(16):
            nxt = (h * 0x931E8875) & mask
            consts.append((h, nxt))
            h = nxt
        self._consts = consts

        def hashmix(value: int, k: int) -> int:
            x, m = consts[k]
            value = ((value ^ x) * m) & mask
            return value ^ (value >> 16)

        # the pool mixed from [campaign_seed, EVALUATION_STREAM, id]: all but the id's word
        m0 = hashmix(campaign_seed, 0)
        m1 = hashmix(EVALUATION_STREAM, 1)
        m3 = hashmix(0, 3)
        m1 = self._mix(m1, hashmix(m0, 4))
        self._h5 = hashmix(m0, 5)
        m3 = self._mix(m3, hashmix(m0, 6))
        m0 = self._mix(m0, hashmix(m1, 7))
        self._h8 = hashmix(m1, 8)
        m3 = self._mix(m3, hashmix(m1, 9))
        self._m0, self._m3 = m0, m3
        self._out_mul = (0x8B51F9DD * 0x58F38DED) & mask
        for ind_id in (0, 1, 12345, self._MASK):
            if self(ind_id) != evaluation_seed(campaign_seed, ind_id):  # never expected
                self._fast = False
                break

    @staticmethod
    def _mix(x: int, y: int) -> int:
        value = (0xCA01F9DD * x - 0x4973F715 * y) & 0xFFFFFFFF
        return value ^ (value >> 16)

    def __call__(self, individual_id: int) -> int:
        if not self._fast or type(individual_id) is not int \
                or not 0 <= individual_id <= self._MASK:
            return evaluation_seed(self.campaign_seed, individual_id)
        mask, consts, mix = self._mask, self._consts, self._mix
        x, m = consts[2]
        v = ((individual_id ^ x) * m) & mask
        m2 = v ^ (v >> 16)
        m2 = mix(mix(m2, self._h5), self._h8)
        x, m = consts[10]
        v = ((m2 ^ x) * m) & mask
        m0 = mix(self._m0, v ^ (v >> 16))
        x, m = consts[12]
        v = ((m2 ^ x) * m) & mask
        m3 = mix(self._m3, v ^ (v >> 16))
        x, m = consts[13]
        v = ((m3 ^ x) * m) & mask
        m0 = mix(m0, v ^ (v >> 16))
        v = ((m0 ^ 0x8B51F9DD) * self._out_mul) & mask
        return v ^ (v >> 16)


def strategy_rng(campaign_seed: int) -> np.random.Generator:
    """The strategy's generator, seeded from the campaign seed."""
    return np.random.default_rng(np.random.SeedSequence([campaign_seed, STRATEGY_STREAM]))
