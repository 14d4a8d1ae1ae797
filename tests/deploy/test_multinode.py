"""A deployment that spans machines: three engine nodes (tests/nodes.py) in one swarm, a
registry on this machine's end of their bridge, and `jupyter mlcontainer deploy --registry`.

First the CLI runs on node 1, the swarm's manager (in its network namespace, DOCKER_HOST its
Unix socket), as a user logged in there would: the front publishes on 127.0.0.1 of the engine's
machine, so it is reached from there. Then this machine drives the manager remotely (TCP with
TLS), where the front publishes on the manager's address, and a rollout across the nodes runs
under load from here. Node 1 builds the images; deploy and rollout push them to the registry,
and the nodes pull them from there.

The engine tests are marked from their fixtures (`cluster` needs `engine`); the first two tests
need none: a swarm that reports three nodes, stood in for.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from nodes import bridge_registry, engine_nodes, swarm_of

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.deploy.front import ensure_front_image, serving_addresses
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.engine.base import DEPLOYMENT_LABEL, ENTRY_LABEL, ServiceState
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import InstanceNotFound, InvalidRequest

from retrained import Load, build_trained_image

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "iris_classifier.ipynb"
NAME = "test-multinode"
IMAGE = "mlcontainer/test-multinode-iris:latest"

#: Run on node 1: requests to the front until every replica answered (or `limit` requests),
#: with the replica that answered each (X-Replica) and the addresses the front sends to.
PROBE = """
import json, sys, urllib.request
from jupyter_mlcontainer.deploy.front import serving_addresses
url, body, limit = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
answers, replicas = [], set()
for _ in range(limit):
    request = urllib.request.Request(
        url + "/predict", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answers.append(json.loads(answer.read()))
        replicas.add(answer.headers["X-Replica"])
    if len(replicas) == 3:
        break
print(json.dumps({"answers": answers, "replicas": sorted(replicas),
                  "addresses": sorted(serving_addresses(url))}))
"""


class ThreeNodeSwarm:
    """An engine with one image, managing a swarm of three nodes; it records what deploy asks
    and fails at anything that would change the engine (rather than look at it), but a push,
    which it records and stops, and the clean-up of a deploy that failed, which finds nothing
    to remove."""

    publish_on = "127.0.0.1"

    def __init__(self):
        self.pushed, self.removed = [], []

    def remove_container(self, name):
        self.removed.append(name)

    remove_service = remove_network = remove_container

    def orchestrator(self):
        return self

    def swarm_state(self):
        return "active"

    def node_count(self):
        return 3

    def service(self, name):
        return None

    def find_instance(self, name):
        raise InstanceNotFound(name)

    def image_exists(self, name):
        return True  # the model's, the base and the front image are all here

    def image_labels(self, name):
        return {ENTRY_LABEL: "predict"}  # built here

    def image_refs(self, name):
        return ["mlcontainer/iris:c0ffee", "mlcontainer/iris:latest"]

    def image_id(self, name):
        return name if name.startswith("sha256:") else f"sha256:{name}"

    def push(self, image, repository, tag, tally):
        self.pushed.append((image, f"{repository}:{tag}"))
        raise PushReached("pushed")

    def __getattr__(self, name):
        raise AssertionError(f"deploy called {name}")


class PushReached(Exception):
    """Where the stand-in stops a deploy that got as far as pushing."""


def test_a_multi_node_swarm_without_a_registry_is_refused_before_anything_changes():
    with pytest.raises(InvalidRequest, match="This swarm has 3 nodes") as refused:
        replicas.deploy(
            ThreeNodeSwarm(), DeployOptions("mlcontainer/iris:latest"), MLContainerConfig()
        )
    assert "--registry REGISTRY/REPOSITORY" in refused.value.hint
    assert "every node reaches" in refused.value.hint


def test_with_a_registry_the_image_is_pushed_there_before_any_service_is_made():
    engine = ThreeNodeSwarm()
    options = DeployOptions("mlcontainer/iris:latest", registry="10.0.0.5:5000/team/iris")
    with pytest.raises(PushReached):
        replicas.deploy(engine, options, MLContainerConfig())
    assert engine.pushed == [("mlcontainer/iris:latest", "10.0.0.5:5000/team/iris:c0ffee")]
    assert engine.removed == ["iris-front", "iris", "iris-net"]  # the clean-up: none was made


@pytest.fixture(scope="module")
def cluster(engine, base_image, test_labels, tmp_path_factory):
    """Three nodes in one swarm (node 1 its manager, at 10.213.0.2) with the base image and
    the deployment front's image, and a registry at 10.213.0.1 that every node reaches."""
    front = ensure_front_image(engine, base_image, test_labels)
    with engine_nodes(3, tls=True, image_from=(base_image, front)) as nodes:
        with swarm_of(nodes), bridge_registry(tmp_path_factory.mktemp("registry")) as registry:
            yield nodes, registry


def on_node(node, *args: str, timeout: float = 600):
    """`jupyter mlcontainer ARGS` run on `node` (its network, its engine)."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "DOCKER_HOST": node.socket}
    env.pop("MLCONTAINER_TEST_TIER", None)
    return node.run_inside(sys.executable, "-m", "jupyter_mlcontainer.cli", *args, env=env,
                           timeout=timeout)  # fmt: skip


def test_replicas_on_three_nodes_pulled_from_the_registry_answer_through_one_front(
    cluster, base_image, kernel
):
    nodes, registry = cluster
    manager = nodes[0]
    built = on_node(manager, "build", str(EXAMPLE), "--name", "test-multinode-iris",
                    "--base-image", base_image, "--json")  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    summary = json.loads(built.stdout)
    sample = json.loads((Path(summary["context"]) / "sample.json").read_text())

    # Without a registry the other nodes could not start a replica: refused, nothing made.
    refused = on_node(manager, "deploy", IMAGE, "--replicas", "3", "--name", NAME)
    assert refused.returncode == 1
    assert "This swarm has 3 nodes" in refused.stderr, refused.stderr
    assert "--registry REGISTRY/REPOSITORY" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert manager.docker("service", "ls", "-q").stdout.strip() == ""

    deployed = on_node(manager, "deploy", IMAGE, "--replicas", "3", "--name", NAME,
                       "--registry", f"{registry}/team/iris", "--json")  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    deployment = json.loads(deployed.stdout)
    assert (deployment["replicas"], deployment["running"]) == (3, 3)
    assert deployment["url"].startswith("http://127.0.0.1:")  # on node 1, the engine's machine

    # The service runs the pushed image, by digest, and each node runs one replica of it.
    spec = json.loads(manager.docker("service", "inspect", NAME).stdout)[0]["Spec"]
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{registry}/team/iris:") and "@sha256:" in image, image
    tasks = manager.docker("service", "ps", NAME, "-q", "--filter", "desired-state=running")
    task_info = json.loads(manager.docker("inspect", *tasks.stdout.split()).stdout)
    running = [t for t in task_info if t["Status"]["State"] == "running"]
    swarm_nodes = manager.docker("node", "ls", "-q").stdout.split()
    assert sorted(t["NodeID"] for t in running) == sorted(swarm_nodes)
    reference, digest = image.split("@")
    pulled = f"{reference.rsplit(':', 1)[0]}@{digest}"
    for node in nodes[1:]:  # pulled from the registry: it has the image by its digest
        listed = node.docker("image", "ls", "--digests", "--format", "{{.Repository}}@{{.Digest}}")
        assert pulled in listed.stdout.split(), listed.stdout

    # The front on node 1 sends requests to the replicas on every node, over the overlay network.
    addresses = sorted(
        address.split("/")[0]
        for task in running
        for attachment in task["NetworksAttachments"]
        if attachment["Network"]["Spec"]["Name"] == f"{NAME}-net"
        for address in attachment["Addresses"]
    )
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    probe = manager.run_inside(sys.executable, "-c", PROBE, deployment["url"],
                               json.dumps(sample["request"]), "60", env=env)  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    seen = json.loads(probe.stdout)
    assert seen["addresses"] == addresses
    assert len(seen["replicas"]) == 3, seen["replicas"]
    assert all(answer == sample["expected"] for answer in seen["answers"])

    undeployed = on_node(manager, "undeploy", NAME)
    assert undeployed.returncode == 0, undeployed.stderr[-2000:]
    assert manager.docker("service", "ls", "-q").stdout.strip() == ""


def tasks_of(node, service: str) -> list[dict]:
    """The service's running tasks, as `docker inspect` shows them."""
    listed = node.docker("service", "ps", service, "-q", "--filter", "desired-state=running")
    found = json.loads(node.docker("inspect", *listed.stdout.split()).stdout)
    return [task for task in found if task["Status"]["State"] == "running"]


@pytest.fixture
def remote_manager(cluster, monkeypatch):
    """The manager's engine as this machine reaches it: tcp://10.213.0.2:2376 with TLS."""
    from jupyter_mlcontainer.engine import DockerEngine

    nodes, _ = cluster
    for variable, value in nodes[0].tls_environment.items():
        monkeypatch.setenv(variable, value)
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # trusted over them: the CA's
        monkeypatch.setenv(variable, "/etc/ssl/certs/ca-certificates.crt")
    return DockerEngine()


def test_a_rollout_across_nodes_driven_from_this_machine_loses_no_request(
    cluster, remote_manager, base_image, test_labels, tmp_path, kernel
):
    nodes, registry = cluster
    engine, name = remote_manager, "test-multinode-rollout"
    assert engine.address == nodes[0].address  # a remote engine, by its address
    old, new = (
        build_trained_image(base_image, test_labels, tmp_path, name, v) for v in ("v1", "v2")
    )
    options = DeployOptions(
        old, replicas=3, name=name, registry=f"{registry}/team/rollout", insecure_no_auth=True
    )
    deployment = replicas.deploy(engine, options, MLContainerConfig(labels=test_labels))
    try:
        # Published on the manager's address, where this machine reaches the front.
        assert deployment.url.startswith(f"http://{nodes[0].address}:"), deployment.url
        assert {t["NodeID"] for t in tasks_of(nodes[0], name)} == set(
            nodes[0].docker("node", "ls", "-q").stdout.split()
        )
        with Load(deployment.url, clients=4, limit=120) as load:
            time.sleep(2)
            started = time.monotonic()
            rolled = replicas.rollout(engine, name, new)
            done = time.monotonic()
            time.sleep(3)
        assert rolled.update == "completed"
        assert load.failures == [], load.failures[:5]
        labels = [label for _, label in load.answers]
        assert labels[0] == "v1" and labels[-1] == "v2"
        assert {label for at, label in load.answers if at < started} == {"v1"}
        assert {label for at, label in load.answers if at > done + 2} == {"v2"}

        # The new replicas run the new image, pushed and pulled by digest. Where they run is
        # swarm's choice: start-first can put two on one node while the old ones still run.
        spec = json.loads(nodes[0].docker("service", "inspect", name).stdout)[0]["Spec"]
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
        assert image.startswith(f"{registry}/team/rollout:") and "@sha256:" in image
        assert image.split("@")[0].endswith(new.rsplit(":", 1)[1])  # v2's content-hash tag
        running = tasks_of(nodes[0], name)
        assert len(running) == 3
        assert {t["Spec"]["ContainerSpec"]["Image"] for t in running} == {image}
        manager = nodes[0].docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
        assert {t["NodeID"] for t in running} - {manager}, "no new replica on another node"
        assert len(serving_addresses(deployment.url)) == 3
        print(f"rollout across nodes {done - started:.1f} s, {len(labels)} answers, 0 failed")
    finally:
        replicas.undeploy(engine, name)


def test_a_deployment_made_before_the_swarm_grew_is_not_scaled_up_or_rolled_out_onto_it():
    """Deployed on one node without a registry; two more nodes joined since."""
    engine = ThreeNodeSwarm()
    local = ServiceState("iris", "sha256:c0ffee", 2, 2, {DEPLOYMENT_LABEL: "iris"})
    engine.service = lambda name: local
    for change in (
        lambda: replicas.scale(engine, "iris", 3),
        lambda: replicas.rollout(engine, "iris", "mlcontainer/iris:latest"),
    ):
        with pytest.raises(InvalidRequest, match="This swarm has 3 nodes") as refused:
            change()
        assert "jupyter mlcontainer undeploy iris" in refused.value.hint
    assert not engine.pushed and not engine.removed
