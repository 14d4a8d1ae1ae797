"""The same build, run and parity through every engine this machine can start (Docker's daemon
and rootful Podman through its Docker-compatible socket), and `doctor` on each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jupyter_mlcontainer.engine import open_engine
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import containerize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_classifier.ipynb"


def test_the_example_builds_runs_and_answers_through_each_engine(
    engine_host, base_image, test_labels, monkeypatch, tmp_path
):
    monkeypatch.setenv("DOCKER_HOST", engine_host)
    config = MLContainerConfig(labels=test_labels, base_image=base_image)
    events = []
    result = containerize(
        ExportOptions(notebook=str(EXAMPLE), name="test-engines", run=True),
        config=config,
        out_dir=str(tmp_path / "context"),
        on_event=events.append,
    )
    engine = open_engine()
    try:
        steps = [e for e in events if e.kind == "step" and e.stage == "build"]
        assert len(steps) > 10 and steps[-1].step == steps[-1].total, "the build's progress"
        assert result.parity.passed and result.parity.status == 200, result.parity
        assert result.instance.url.startswith("http://127.0.0.1:")
        listed = {i.name: i for i in engine.list_instances(labels=test_labels)}
        # Podman qualifies short names (docker.io/mlcontainer/...): shown as they were given.
        assert listed[result.instance.name].image == result.tag
        assert listed[result.instance.name].url == result.instance.url
    finally:
        engine.stop(result.instance.id)
    assert result.instance.name not in {i.name for i in engine.list_instances(all=True)}
    assert engine.flavour == ("podman" if "docker.sock" not in engine_host else "docker")


def test_doctor_finds_each_engine_and_everything_works(engine_host):
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_mlcontainer.cli", "doctor", "--json"],
        env={**os.environ, "DOCKER_HOST": engine_host},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["healthy"], report
    assert report["engine"] == ("docker" if "docker.sock" in engine_host else "podman")
    checks = {f["check"]: f["ok"] for f in report["findings"]}
    assert checks == {"engine": True, "base image": True, "containers start": True, "ports": True}
