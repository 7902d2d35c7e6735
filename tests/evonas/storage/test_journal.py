"""The SQLite journal: round trips, schema versions, damaged files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evonas.storage import SCHEMA_VERSION, EvaluationRow, Journal, JournalError, Snapshot


def make(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    with Journal.create(path, {"seed": 1}) as journal:
        journal.add_individual(0, {"kind": "dag"}, "h0", (), {"op": "random"}, 0)
        journal.add_individual(1, {"kind": "dag"}, "h1", (0,), {"op": "mutate_op"}, 1)
        journal.add_individual(2, {"kind": "dag"}, "h0", (1,), {"op": "mutate_op"}, 1)
        journal.add_evaluation(EvaluationRow(0, "ok", 0.5, {"fitness": 0.5, "x": float("nan")},
                                             None, "w0", 1.0, None))
        journal.add_evaluation(EvaluationRow(1, "failed", None, {}, "timeout after 1s", "w1",
                                             1.0, None))
        journal.add_snapshot(Snapshot(2, 1, 2, {"strategy": {"rng": {"state": 2**100}}}))
    return path


def test_round_trip(tmp_path: Path) -> None:
    path = make(tmp_path)
    with Journal.open(path, readonly=True) as journal:
        assert journal.config() == {"seed": 1}
        assert [i.id for i in journal.individuals()] == [0, 1, 2]
        assert journal.individual(1).parents == (0,)
        assert journal.evaluation(0).metrics == {"fitness": 0.5, "x": None}  # NaN is not JSON
        assert journal.evaluation(1).error == "timeout after 1s"
        assert journal.first_ids_by_hash()["h0"] == 0
        assert journal.best(1)[0].individual_id == 0
        snap = journal.last_snapshot()
        assert snap.state["strategy"]["rng"]["state"] == 2**100
        assert journal.counts()["individuals"] == 3
        kinds = [kind for _, kind, _, _ in journal.events()]
        assert kinds[0] == "campaign_created"
        assert "created" not in kinds and "finished" not in kinds  # the rows' timestamps say it


def test_nothing_is_pickle(tmp_path: Path) -> None:
    path = make(tmp_path)
    data = path.read_bytes()
    assert b"\x80\x04" not in data and b"\x80\x05" not in data  # pickle protocol headers


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    with pytest.raises(JournalError, match="meta.schema_version is 2, newer than"):
        Journal.open(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_journal_is_refused(tmp_path: Path, damage: str) -> None:
    path = make(tmp_path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:200])
    elif damage == "garbage":
        path.write_bytes(b"not a database at all" * 100)
    else:
        path.write_bytes(b"")
    before = path.read_bytes()
    with pytest.raises(JournalError, match=str(path)):
        Journal.open(path)
    assert path.read_bytes() == before  # the file is left as it was


def test_create_refuses_existing(tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(JournalError, match="already exists"):
        Journal.create(path, {})


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_row_text_is_the_standard_encoders(value) -> None:
    """The journal's reused one-shot encoder writes what ``json.JSONEncoder`` writes, and
    refuses a NaN or infinity the same way (the journal then writes nulls for them)."""
    from evonas.storage.journal import _ENCODER, _dumps, _encode, json_safe

    try:
        expected = _ENCODER.encode(value)
    except ValueError:
        with pytest.raises(ValueError):
            _encode(value)
        assert _dumps(value) == _ENCODER.encode(json_safe(value))
    else:
        assert _encode(value) == expected == _dumps(value)
