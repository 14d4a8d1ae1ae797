"""A locked instance for real: `run --auth token` and `build --run --auth token` start an
instance whose API answers 401 without its token, whose token is in no label, no environment,
no `inspect` and no log, and that this tool's own clients reach without being told it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_mlcontainer.cli import main
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.running.tokens import lock_for, token_for
from jupyter_mlcontainer.shared.errors import RunFailed

from ports import curl_status

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_classifier.ipynb"


@pytest.fixture
def own_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_run_locks_the_instance_and_the_token_leaks_nowhere(
    engine, example_build, own_tokens, capsys, test_labels, monkeypatch
):
    tag = example_build("iris_classifier").result.tag
    monkeypatch.setenv("MLCONTAINER_LABELS", ",".join(f"{k}={v}" for k, v in test_labels.items()))
    assert main(["run", tag, "--port", "0", "--auth", "token", "--json"]) == 0
    out, err = capsys.readouterr()
    instance = json.loads(out)
    token = err.split("token: ", 1)[1].split()[0]
    try:
        url = instance["url"]
        assert curl_status(f"{url}/health") == "200"
        assert curl_status(f"{url}/metadata") == "401"
        assert curl_status(f"{url}/metadata", "a-wrong-token-of-some-length") == "401"
        assert curl_status(f"{url}/metadata", token) == "200"
        assert ServingClient(url).metadata().status == 200  # the tool's clients send it
        assert token_for(url) == token
        inspected = json.dumps(engine.client.api.inspect_container(instance["id"]))
        assert token not in inspected and token not in engine.logs(instance["id"], tail=1000)
    finally:
        assert main(["stop", instance["name"]]) == 0
    assert token_for(url) is None


def test_build_run_with_auth_checks_parity_through_the_lock(
    engine, base_image, test_labels, own_tokens, tmp_path
):
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    result = containerize(
        ExportOptions(
            notebook=str(EXAMPLE),
            name="test-locked-build",
            run=True,
            auth="token",
        ),
        config=MLContainerConfig(labels=test_labels, base_image=base_image),
        out_dir=str(tmp_path / "context"),
    )
    try:
        assert result.parity.passed and result.parity.status == 200, result.parity
        assert len(result.token) >= 32 and token_for(result.instance.url) == result.token
        assert curl_status(f"{result.instance.url}/openapi.json") == "401"
    finally:
        engine.stop(result.instance.id)


def test_an_engine_publishing_beyond_loopback_refuses_an_unlocked_instance(own_tokens):
    remote = SimpleNamespace(publish_on="0.0.0.0")
    with pytest.raises(RunFailed) as refused:
        lock_for(remote, ExportOptions(notebook="nb.ipynb"))
    assert "Pass --auth token" in refused.value.hint
    assert lock_for(remote, ExportOptions(notebook="nb.ipynb", insecure_no_auth=True)) is None
    assert lock_for(remote, ExportOptions(notebook="nb.ipynb", auth="token")).is_file()
