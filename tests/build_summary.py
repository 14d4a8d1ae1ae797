"""The documented schema of `jupyter mlcontainer build --json` (docs/build-result.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "docs" / "build-result.schema.json").read_text()
)


def assert_matches_schema(summary: dict) -> None:
    """`summary` as CI tools read it: JSON, checked against the documented schema."""
    jsonschema.validate(json.loads(json.dumps(summary, default=str)), SCHEMA)
