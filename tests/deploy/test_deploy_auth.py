"""A locked deployment: the replicas read their token from a Docker secret, the front passes
the client's Authorization header through, and undeploy removes the secret."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.running.tokens import token_for
from jupyter_mlcontainer.shared.config import MLContainerConfig

from ports import curl_status

NAME = "test-locked"


@pytest.fixture
def own_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_locked_deployment_keeps_its_token_in_a_secret(
    engine, swarm, example_build, test_labels, own_tokens
):
    image = example_build("iris_classifier").result.tag
    deployed = replicas.deploy(
        engine,
        DeployOptions(image, replicas=1, name=NAME, auth="token"),
        MLContainerConfig(labels=test_labels),
    )
    try:
        token, url = deployed.token, deployed.url
        assert len(token) >= 32 and token_for(url) == token
        assert curl_status(f"{url}/health") == "200"
        assert curl_status(f"{url}/metadata") == "401"
        assert curl_status(f"{url}/metadata", token) == "200"
        assert ServingClient(url).metadata().status == 200
        secrets = [s for s in engine.client.secrets.list() if s.name == f"{NAME}-token"]
        assert len(secrets) == 1
        service = json.dumps(engine.client.api.inspect_service(NAME))
        assert token not in service and token not in json.dumps(secrets[0].attrs)
    finally:
        replicas.undeploy(engine, NAME)
    if swarm.swarm_state() == "active":  # undeploy leaves swarm mode when it turned it on
        assert not [s for s in engine.client.secrets.list() if s.name == f"{NAME}-token"]
    assert token_for(url) is None
