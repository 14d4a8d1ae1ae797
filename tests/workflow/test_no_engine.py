"""Without any container engine a build still proves its environment and writes its context,
then stops with the command that finishes it where an engine runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.errors import EngineUnavailable
from jupyter_mlcontainer.workflow.build import containerize

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_classifier.ipynb"


def test_a_build_without_an_engine_writes_the_context_and_says_how_to_finish(
    kernel, monkeypatch, tmp_path
):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    context = tmp_path / "context"
    with pytest.raises(EngineUnavailable) as stopped:
        containerize(
            ExportOptions(notebook=str(EXAMPLE), name="test-no-engine"), out_dir=str(context)
        )
    assert (context / "Dockerfile").is_file() and (context / "app" / "serving.json").is_file()
    message, hint = stopped.value.message, stopped.value.hint
    assert message.startswith("No container engine answers: tried DOCKER_HOST")
    assert message.endswith(f"The build context is written to {context}; nothing was built.")
    assert "`docker build -t mlcontainer/test-no-engine:" in hint and f" {context}`" in hint
    assert "`jupyter mlcontainer run mlcontainer/test-no-engine:" in hint
