"""docs/verify-output.schema.json is a valid JSON Schema and real `verify --json` outputs that need no node
follow it (tests/integration/test_c2pa_devnet.py checks the outputs of a real devnet against it)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from provchain.provenance.verify import main

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "verify-output.schema.json").read_text())


def validate(obj) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(obj)


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_unreachable_node_outputs_follow_the_schema(tmp_path, capsys):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"not a video")
    assert main([str(clip), "--json", "-q", "--node", "http://127.0.0.1:9"]) == 4
    one = json.loads(capsys.readouterr().out)
    validate(one)
    assert one["verdict"] == "error" and one["c2pa"]["present"] is False
    assert main([str(clip), str(tmp_path / "missing.mp4"), "--json", "-q", "--node", "http://127.0.0.1:9"]) == 4
    both = json.loads(capsys.readouterr().out)
    validate(both)
    assert len(both) == 2


def test_schema_rejects_a_result_without_c2pa(tmp_path, capsys):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x")
    main([str(clip), "--json", "-q", "--node", "http://127.0.0.1:9"])
    out = json.loads(capsys.readouterr().out)
    del out["c2pa"]
    with pytest.raises(jsonschema.ValidationError, match="c2pa"):
        validate(out)
