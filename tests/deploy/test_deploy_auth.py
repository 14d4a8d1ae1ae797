"""A locked deployment: the replicas read their token from a Docker secret, the front passes
the client's Authorization header through, and undeploy removes the secret. It serves HTTPS with
the user's own certificate: the front terminates TLS, and its key is in nothing Docker shows."""

from __future__ import annotations

import json
import subprocess

import pytest

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.deploy.front import tls_bundle
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.running.tokens import token_for
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import InvalidRequest

from ports import curl_status

NAME = "test-locked"


@pytest.fixture
def own_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def self_signed(folder, name: str = "models.test") -> tuple[str, str]:
    """(certificate, key) files of a self-signed certificate for `name` and 127.0.0.1."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_a_certificate_without_its_key_or_with_another_is_refused_up_front(tmp_path):
    cert, key = self_signed(tmp_path)
    other_cert, other_key = self_signed(tmp_path, "other.test")
    with pytest.raises(InvalidRequest, match="needs its key"):
        DeployOptions("iris", tls_cert=cert)
    with pytest.raises(InvalidRequest, match="cannot serve TLS together") as refused:
        tls_bundle(cert, other_key)
    assert "unencrypted" in refused.value.hint
    with pytest.raises(InvalidRequest, match="No such certificate"):
        tls_bundle(str(tmp_path / "missing.crt"), key)
    locked_key = tmp_path / "locked.key"  # encrypted: refused, never asked for on a terminal
    subprocess.run(
        ["openssl", "pkey", "-in", key, "-out", str(locked_key), "-aes256", "-passout", "pass:x"],
        check=True,
        capture_output=True,
    )
    with pytest.raises(InvalidRequest, match="cannot serve TLS together"):
        tls_bundle(cert, str(locked_key))
    bundle = tls_bundle(other_cert, other_key)
    assert b"BEGIN CERTIFICATE" in bundle and b"PRIVATE KEY" in bundle


def test_a_locked_deployment_keeps_its_token_in_a_secret_and_serves_https(
    engine, swarm, example_build, test_labels, own_tokens, tmp_path
):
    image = example_build("iris_classifier").result.tag
    cert, key = self_signed(tmp_path)
    deployed = replicas.deploy(
        engine,
        DeployOptions(image, replicas=1, name=NAME, auth="token", tls_cert=cert, tls_key=key),
        MLContainerConfig(labels=test_labels),
    )
    try:
        token, url = deployed.token, deployed.url
        assert url.startswith("https://127.0.0.1:")
        assert len(token) >= 32 and token_for(url) == token
        assert curl_status(f"{url}/health", cacert=cert) == "200"
        assert curl_status(f"{url}/metadata", cacert=cert) == "401"
        assert curl_status(f"{url}/metadata", token, cacert=cert) == "200"
        assert curl_status(f"{url}/health") == "000"  # an unknown certificate: refused
        assert curl_status(url.replace("https:", "http:") + "/health") != "200"
        assert ServingClient(url).metadata().status == 200  # the token and the certificate
        secrets = [s for s in engine.client.secrets.list() if s.name == f"{NAME}-token"]
        assert len(secrets) == 1
        service = json.dumps(engine.client.api.inspect_service(NAME))
        assert token not in service and token not in json.dumps(secrets[0].attrs)
        front = engine.client.containers.get(replicas.front_name(NAME))
        private = open(key).read().splitlines()[1]  # a line of the key itself
        shown = json.dumps(front.attrs) + front.logs().decode() + service
        assert private not in shown
    finally:
        replicas.undeploy(engine, NAME)
    if swarm.swarm_state() == "active":  # undeploy leaves swarm mode when it turned it on
        assert not [s for s in engine.client.secrets.list() if s.name == f"{NAME}-token"]
    assert token_for(url) is None
