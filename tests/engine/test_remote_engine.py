"""A daemon-less machine driving an engine on another machine, over TCP with TLS.

The other machine is an extra dockerd in a network namespace of its own (tests/nodes.py), at
10.213.0.2, answering on tcp://10.213.0.2:2376 only to a client certificate. The real CLI is
pointed at it by DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as a user would.

A node shares this machine's files (only its network is its own), which another machine does
not: the last test hides this tool's cache folder from the node, as another machine would.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
from nodes import bridge_registry, engine_nodes

pytestmark = pytest.mark.engine

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "iris_classifier.ipynb"
NAME = "test-remote-iris"
#: The system's certificate authorities, where Debian keeps them.
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


@pytest.fixture
def remote(engine, base_image):
    """One engine node with a TCP+TLS endpoint, the base image loaded into it (8 s)."""
    with engine_nodes(1, tls=True, image_from=(base_image,)) as (node,):
        yield node


def mlcontainer(*args: str, environment: dict, timeout: float = 600):
    """The CLI as a user runs it, with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), **environment}
    env.pop("MLCONTAINER_TEST_TIER", None)
    # A CA bundle for requests, as many machines set: the engine's TLS must still trust the CA
    # of DOCKER_CERT_PATH (requests would put the bundle in its place).
    env.update(dict.fromkeys(("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"), SYSTEM_CAS))
    return subprocess.run(
        ["jupyter", "mlcontainer", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_build_run_doctor_stop_on_a_remote_engine(remote, base_image, kernel):
    tls = remote.tls_environment
    built = mlcontainer(
        "build", str(EXAMPLE), "--name", NAME, "--base-image", base_image,
        "--run", "--port", "0", "--auth", "token", "--json",
        environment=tls,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    result = json.loads(built.stdout)

    # The image was built by the remote engine, and the instance runs there.
    assert remote.docker("image", "inspect", result["tag"]).returncode == 0
    instance = result["instance"]
    running = remote.docker("ps", "--filter", f"name=^{instance['name']}$", "-q").stdout
    assert running.strip(), f"{instance['name']} is not running on {remote.address}"

    # Reached at the engine's address, not this machine's loopback, and answers from here.
    url = instance["url"]
    assert url.startswith(f"http://{remote.address}:"), url
    assert result["parity"]["passed"] is True
    sample = json.loads((Path(result["context"]) / "sample.json").read_text())
    request = urllib.request.Request(
        f"{url}/predict",
        data=json.dumps(sample["request"]).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {result['token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read()) == sample["expected"]
    with pytest.raises(urllib.error.HTTPError, match="401"):  # locked: it is on a network
        urllib.request.urlopen(f"{url}/predict", data=b"{}", timeout=30)

    doctor = mlcontainer("doctor", "--json", environment=tls)
    report = json.loads(doctor.stdout)
    assert report["url"] == remote.tcp and report["remote"] is True, doctor.stdout
    address = next(f for f in report["findings"] if f["check"] == "address")
    assert f"http://{remote.address}:PORT" in address["detail"]

    stopped = mlcontainer("stop", instance["name"], environment=tls)
    assert stopped.returncode == 0, stopped.stderr
    assert not remote.docker(
        "ps", "-a", "--filter", f"name=^{instance['name']}", "-q"
    ).stdout.strip()


def test_a_push_to_a_registry_the_remote_engine_cannot_reach_says_so(
    remote, base_image, registry, tmp_path
):
    """The registry runs on 127.0.0.1 of this machine, which this machine reaches and the
    engine's machine does not: its 127.0.0.1 is its own. The engine is the one pushing."""
    remote.docker("tag", base_image, "mlcontainer/test-remote-push:v1")
    pushed = mlcontainer(
        "push", "mlcontainer/test-remote-push:v1", "--to", f"{registry}/team/iris",
        environment=remote.tls_environment, timeout=120,
    )  # fmt: skip
    assert pushed.returncode != 0
    message = pushed.stderr
    assert "Traceback" not in message
    assert f"Pushing to {registry} failed" in message
    assert "connection refused" in message
    # The engine's machine connects to the registry, and its 127.0.0.1 is not this one's.
    assert f"The engine on {remote.address} pushes, not this machine" in message, message
    assert f"that {remote.address} reaches it" in message
    assert f"There 127.0.0.1 is {remote.address}'s own loopback" in message

    # What the hint asks for works: a registry at an address that machine reaches (this
    # machine's end of the bridge, trusted over HTTP by the node's insecure-registries).
    with bridge_registry(tmp_path / "registry") as reachable:
        pushed = mlcontainer(
            "push", "mlcontainer/test-remote-push:v1", "--to", f"{reachable}/team/iris:v1",
            environment=remote.tls_environment, timeout=120,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stderr
        with urllib.request.urlopen(f"http://{reachable}/v2/team/iris/tags/list") as answer:
            assert json.loads(answer.read())["tags"] == ["v1"]


def test_a_locked_instance_on_an_engine_that_does_not_share_this_machines_files(
    engine, base_image, example_build
):
    """The token file is in this machine's cache, which the engine's machine has not: it is
    copied into a volume of the instance's own, which goes with it."""
    from jupyter_mlcontainer.shared.config import cache_dir

    image = example_build("iris_classifier").result.tag  # built by this machine's engine
    cache_dir("tokens").mkdir(parents=True, exist_ok=True)
    hidden = (str(cache_dir()),)
    with engine_nodes(1, tls=True, image_from=(base_image, image), hidden=hidden) as (node,):
        ran = mlcontainer(
            "run", image, "--port", "0", "--auth", "token", "--json",
            environment=node.tls_environment, timeout=180,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        instance = json.loads(ran.stdout)
        token = next(
            line.split()[1] for line in ran.stderr.splitlines() if line.startswith("token: ")
        )
        request = urllib.request.Request(
            f"{instance['url']}/ready", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        assert (
            mlcontainer("stop", instance["name"], environment=node.tls_environment).returncode == 0
        )
        assert not node.docker("volume", "ls", "-q").stdout.split()  # the token's went with it
