"""`doctor` without any engine: it says so, where it looked and how to start one (exit 1)."""

from __future__ import annotations

import json

from jupyter_mlcontainer.cli import main


def test_doctor_without_an_engine_says_where_it_looked_and_how_to_start_one(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["engine"], report["healthy"]) == ("", False)
    first = report["findings"][0]
    assert first["check"] == "engine" and first["ok"] is False
    assert first["detail"] == (
        f"No container engine answers: tried DOCKER_HOST unix://{tmp_path}/no-engine.sock (absent)."
    )
    assert "podman system service --time=0" in first["fix"] and "DOCKER_HOST" in first["fix"]

    assert main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert text.startswith("FAIL  engine: No container engine answers")
    assert "No engine: `build` writes the build context and stops" in text
