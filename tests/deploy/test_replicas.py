"""Replicas behind one URL on Docker's swarm mode, against the real engine: deploy, spread,
scale, a rollout under load that loses no request, and a failed rollout rolled back."""

from __future__ import annotations

import json
import time

import pytest

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.engine.base import ENTRY_LABEL
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import (
    DeployFailed,
    DeploymentNotFound,
    ForeignImage,
    InstanceNotFound,
    PushFailed,
    SwarmNotActive,
)

from retrained import ROWS, Load, build_trained_image, connect, predict

pytestmark = pytest.mark.engine

NAME = "test-replicas"


@pytest.fixture(scope="module")
def images(engine, base_image, test_labels, tmp_path_factory) -> dict:
    """Two trainings of one notebook ('v1', 'v2'), an image whose model cannot load, and one
    whose model answers its sample otherwise than its sample.json expects."""
    folder = tmp_path_factory.mktemp("replicas")
    built = {
        label: build_trained_image(base_image, test_labels, folder, NAME, label)
        for label in ("v1", "v2")
    }
    broken = folder / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text(
        f"FROM {built['v2']}\nUSER root\n"
        "RUN find /srv/artifacts/state -type f -exec truncate -s 10 {} +\n"
        "USER 10001:10001\n"
    )
    built["broken"] = f"mlcontainer/{NAME}:broken"
    list(engine.build(broken, built["broken"], labels=test_labels))
    mismatched = folder / "mismatched"
    mismatched.mkdir()
    (mismatched / "Dockerfile").write_text(
        f"FROM {built['v2']}\nUSER root\n"
        "RUN python -c \"import json; p = '/srv/sample.json'; s = json.load(open(p)); "
        "s['expected']['predictions'] = ['v1'] * len(s['expected']['predictions']); "
        "json.dump(s, open(p, 'w'))\"\n"
        "USER 10001:10001\n"
    )
    built["mismatched"] = f"mlcontainer/{NAME}:mismatched"
    list(engine.build(mismatched, built["mismatched"], labels=test_labels))
    return built


@pytest.fixture(scope="module")
def deployment(engine, swarm, images, test_labels):
    deployed = replicas.deploy(
        engine,
        DeployOptions(images["v1"], replicas=3, name=NAME, memory="256m", cpus=0.5),
        MLContainerConfig(labels=test_labels),
    )
    yield deployed
    try:
        replicas.undeploy(engine, NAME)
    except DeploymentNotFound:
        pass


class SwarmOff:
    """An engine with one image and swarm mode off; anything that would change the engine
    (rather than look at it) is a failure."""

    def orchestrator(self):
        return self

    def swarm_state(self):
        return "inactive"

    def find_instance(self, name):
        raise InstanceNotFound(f"No instance is named {name!r}.")

    def image_exists(self, name):
        return name == "mlcontainer/iris:latest"

    def image_labels(self, name):
        return {ENTRY_LABEL: "predict"}  # built here

    def __getattr__(self, name):
        raise AssertionError(f"deploy called {name} with swarm mode off")


def test_deploy_never_turns_swarm_mode_on_unasked():
    with pytest.raises(SwarmNotActive, match="--init-swarm"):
        replicas.deploy(SwarmOff(), DeployOptions("mlcontainer/iris:latest"), MLContainerConfig())


def test_a_source_that_does_not_exist_changes_nothing_even_with_init_swarm():
    with pytest.raises(PushFailed, match="No instance or image is named 'no-such-model'"):
        options = DeployOptions("no-such-model", init_swarm=True)
        replicas.deploy(SwarmOff(), options, MLContainerConfig())


def test_three_replicas_answer_through_one_url(engine, deployment):
    assert deployment.url.startswith("http://127.0.0.1:")
    assert (deployment.replicas, deployment.running) == (3, 3)
    connection = connect(deployment.url)
    answers = [predict(connection) for _ in range(30)]
    assert {(status, label) for status, label, _ in answers} == {(200, "v1")}
    assert len({replica for *_, replica in answers}) > 1, answers
    assert [d.name for d in replicas.list_deployments(engine)] == [NAME]


def test_replicas_are_hardened_and_limited_like_an_instance(engine, deployment):
    spec = engine.client.services.get(NAME).attrs["Spec"]["TaskTemplate"]
    container = spec["ContainerSpec"]
    # and a stopping replica drains, out of the front's rotation, before it stops
    assert f"MLCONTAINER_DRAIN_SECONDS={replicas.DRAIN_SECONDS}" in container["Env"]
    assert container["StopGracePeriod"] > replicas.DRAIN_SECONDS * 10**9
    assert container["ReadOnly"] is True and container["CapabilityDrop"] == ["ALL"]
    ((tmp),) = container["Mounts"]
    assert (tmp["Type"], tmp["Target"], tmp["TmpfsOptions"]) == (
        "tmpfs",
        "/tmp",
        {"SizeBytes": 64 * 2**20},
    )
    assert spec["Resources"]["Limits"] == {"MemoryBytes": 256 * 2**20, "NanoCPUs": 500_000_000}


def running_tasks(engine) -> set:
    service = engine.client.services.get(NAME)
    return {task["ID"] for task in service.tasks(filters={"desired-state": "running"})}


def test_scale_down_and_up(engine, deployment):
    for count in (1, 2):
        before = running_tasks(engine)
        scaled = replicas.scale(engine, NAME, count)
        assert (scaled.replicas, scaled.running) == (count, count)
        after = running_tasks(engine)
        # Only the count changes: no rolling update replaces the replicas that keep running.
        assert scaled.update == "", "a scale is not a rollout"
        assert len(before & after) >= min(count, len(before)), (before, after)
        connection = connect(deployment.url)
        assert {predict(connection)[:2] for _ in range(10)} == {(200, "v1")}


def test_the_command_line_scales_and_lists(deployment, capsys):
    from jupyter_mlcontainer.cli import main

    assert main(["scale", NAME, "2", "--json"]) == 0
    scaled = json.loads(capsys.readouterr().out)
    assert (scaled["replicas"], scaled["running"], scaled["url"]) == (2, 2, deployment.url)
    assert main(["deployments"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["NAME", "URL", "REPLICAS"]
    assert table[1].split()[:3] == [NAME, deployment.url, "2/2"]
    assert main(["scale", "no-such-deployment", "2"]) == 1
    assert "No deployment is named 'no-such-deployment'" in capsys.readouterr().err


def test_a_rollout_under_load_loses_no_request(engine, deployment, images):
    replicas.scale(engine, NAME, 3)
    with Load(deployment.url) as load:
        time.sleep(2)
        started = time.monotonic()
        rolled = replicas.rollout(engine, NAME, images["v2"])
        done = time.monotonic()
        time.sleep(3)
    assert rolled.image == images["v2"] and rolled.update == "completed"
    assert load.failures == [], load.failures[:5]
    labels = [label for _, label in load.answers]
    assert labels[0] == "v1" and labels[-1] == "v2"
    assert {label for at, label in load.answers if at < started} == {"v1"}
    assert {label for at, label in load.answers if at > done + 2} == {"v2"}
    print(f"rollout {done - started:.1f} s, {len(labels)} answers, 0 failed")


@pytest.mark.parametrize(
    "image, said",
    [
        ("broken", "load_state"),  # the model cannot load: the replica's traceback
        ("mismatched", "does not answer sample.json as the notebook did"),  # checked on start
    ],
)
def test_a_rollout_whose_model_fails_its_check_is_rolled_back(
    engine, deployment, images, image, said
):
    before = replicas.get_deployment(engine, NAME).image
    with pytest.raises(DeployFailed, match="rolled back") as failure:
        replicas.rollout(engine, NAME, images[image])
    assert said in failure.value.output
    after = replicas.get_deployment(engine, NAME)
    assert after.image == before and after.update == "rollback_completed"
    connection = connect(deployment.url)
    assert predict(connection)[:2] == (200, "v2")


def test_replicas_that_failed_in_a_rollout_do_not_stop_a_later_scale(engine, deployment):
    # The rollouts above left failed replicas in swarm's task list; scaling counts only its own.
    assert len(engine.orchestrator().service(NAME).failures) >= 3
    for count in (2, 3):
        scaled = replicas.scale(engine, NAME, count)
        assert (scaled.replicas, scaled.running) == (count, count)


def test_rollout_without_an_image_takes_the_notebooks_latest(engine, deployment, images):
    rolled = replicas.rollout(engine, NAME)  # mlcontainer/test-replicas:latest is v2's build
    assert rolled.image == images["v2"]


def test_the_instance_object_deploys_its_image(engine, swarm, images, test_labels):
    from jupyter_mlcontainer.notebook.instance import ServingInstance
    from jupyter_mlcontainer.running.readiness import wait_ready

    instance = wait_ready(engine, engine.run(images["v1"], labels=test_labels))
    try:
        deployed = ServingInstance(instance, engine=engine).deploy(replicas=1)
        try:
            assert deployed.name == instance.name
            assert deployed.predict(ROWS) == ["v1", "v1"]
            assert deployed.scale(2).deployment.running == 2
            assert deployed.rollout(images["v2"]).predict(ROWS) == ["v2", "v2"]
        finally:
            deployed.undeploy()
    finally:
        engine.stop(instance.id)


def test_undeploy_removes_the_replicas_the_front_and_the_network(engine, deployment, swarm):
    replicas.undeploy(engine, NAME)
    assert swarm.service(NAME) is None
    assert swarm.front(replicas.front_name(NAME)) is None
    assert not engine.client.networks.list(names=[replicas.network_name(NAME)])
    with pytest.raises(DeploymentNotFound):
        replicas.scale(engine, NAME, 2)


def test_an_image_not_built_here_is_refused_before_swarm_mode_is_touched(engine, serving_image):
    swarm_mode = engine.orchestrator().swarm_state()
    with pytest.raises(ForeignImage, match="--allow-foreign"):
        replicas.deploy(engine, DeployOptions(serving_image, init_swarm=True), MLContainerConfig())
    assert engine.orchestrator().swarm_state() == swarm_mode
