"""The fuzz target on a real image: Schemathesis, every check, against the iris example's own
`/openapi.json`, finds nothing: no 5xx, no body the document allows that the runtime refuses,
none it refuses that the runtime serves, no answer the document does not describe.
docs/security.md has the figures of `-n 300` on three images."""

from __future__ import annotations

import json

import pytest
from fuzzing import assert_found_nothing, run_schemathesis

from jupyter_mlcontainer.cli import main

pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

#: Test cases per operation and generation mode: under a minute here.
MAX_EXAMPLES = 25


def test_schemathesis_with_every_check_finds_nothing_on_a_real_image(
    engine, example_build, test_labels, capsys, monkeypatch, tmp_path
):
    tag = example_build("iris_classifier").result.tag
    monkeypatch.setenv("MLCONTAINER_LABELS", ",".join(f"{k}={v}" for k, v in test_labels.items()))
    assert main(["run", tag, "--port", "0", "--json"]) == 0
    instance = json.loads(capsys.readouterr().out)
    try:
        _, output = run_schemathesis(
            instance["url"], tmp_path, MAX_EXAMPLES, 1, "--checks", "all", workers=2
        )
    finally:
        assert main(["stop", instance["name"]]) == 0
    assert_found_nothing(output, MAX_EXAMPLES)
