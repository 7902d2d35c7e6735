"""The JSON form every genome type shares: the header check, parsing text, dataclass fields."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from genomes.errors import GenomeError


def check_json_header(data: Any, kind: str, label: str, version: int,
                      required: tuple[str, ...]) -> None:
    """Check the frame of a genome's JSON form: an object of ``kind`` and ``version`` with the
    ``required`` keys.

    Args:
        data: the parsed JSON.
        kind: the expected ``kind`` value (``"dag"``, ``"cppn"``).
        label: the genome type in messages (``"DAG"``).
        version: the JSON version this code reads.
        required: keys that must be present.

    Raises:
        GenomeError: naming the field at fault.
    """
    if not isinstance(data, dict):
        raise GenomeError(f"genome: expected a JSON object, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise GenomeError(f"kind: expected {kind!r}, got {data.get('kind')!r}")
    if data.get("version") != version:
        raise GenomeError(f"version: this code reads {label} genome version {version}, "
                          f"got {data.get('version')!r}")
    for key in required:
        if key not in data:
            raise GenomeError(f"{key}: missing")


def parse_json(text: str) -> Any:
    """Parse genome JSON text.

    Raises:
        GenomeError: for text that is not JSON (undecodable bytes and absurd nesting included).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenomeError(f"genome: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise GenomeError(f"genome: not valid JSON ({type(exc).__name__})") from None


def dataclass_to_dict(obj: Any) -> dict[str, Any]:
    """A (space) dataclass's fields as JSON-safe data, tuples as lists."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
