"""The fuzz target on a real image: Schemathesis, every check, against the iris example's own
`/openapi.json`, finds nothing: no 5xx, no body the document allows that the runtime refuses,
none it refuses that the runtime serves, no answer the document does not describe.
docs/security.md has the figures of `-n 300` on three images."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from jupyter_mlcontainer.cli import main

pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

#: Test cases per operation and generation mode: about a minute here.
MAX_EXAMPLES = 40


def test_schemathesis_with_every_check_finds_nothing_on_a_real_image(
    engine, example_build, test_labels, capsys, monkeypatch, tmp_path
):
    tag = example_build("iris_classifier").result.tag
    monkeypatch.setenv("MLCONTAINER_LABELS", ",".join(f"{k}={v}" for k, v in test_labels.items()))
    assert main(["run", tag, "--port", "0", "--json"]) == 0
    instance = json.loads(capsys.readouterr().out)
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{instance['url']}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                "1",
                "--request-timeout",
                "10",
                "--generation-database",
                "none",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        assert main(["stop", instance["name"]]) == 0
    output = run.stdout + run.stderr
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 10 * MAX_EXAMPLES, output[-3000:]
    assert not re.findall(r"❌ (ST\d+)", output), output[-6000:]
    assert "unique failure" not in output, output[-6000:]
