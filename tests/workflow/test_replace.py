"""Building again under a name that serves replaces what serves, against the real engine: an
instance is handed over on its port and a deployment rolled out, each under load with no failed
request, and both report the sample's answers before and after."""

from __future__ import annotations

import time

import pytest

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.deploy.plan import DeployOptions
from jupyter_mlcontainer.engine.base import PORT_HOLDER_LABEL, STATE_COMMIT_COMMENT
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.running.readiness import wait_ready
from jupyter_mlcontainer.runtime.handover import RETIRE_DRAIN_SECONDS
from jupyter_mlcontainer.runtime.model import EXIT_ON_FAILED_LOAD
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import RunFailed
from jupyter_mlcontainer.workflow.build import check_parity, containerize
from jupyter_mlcontainer.workflow.replace import Successor, answers, hand_over, restart

from build_summary import assert_matches_schema
from retrained import Load, trained_notebook

pytestmark = pytest.mark.engine


@pytest.fixture
def build(base_image, test_labels, tmp_path):
    """containerize(label, name): the numpy notebook trained on `label`, built and run."""
    config = MLContainerConfig(labels=test_labels, base_image=base_image)

    def build_and_run(label: str, name: str, run: bool = True, no_cache: bool = False):
        notebook = trained_notebook(tmp_path / f"{name}.ipynb", label)  # one notebook, retrained
        options = ExportOptions(
            notebook=str(notebook),
            entry="predict",
            sample="X[:2]",
            name=name,
            run=run,
            no_cache=no_cache,
        )
        return containerize(options, config=config, out_dir=str(tmp_path / f"{name}-context"))

    return build_and_run


def test_a_second_build_hands_the_instance_over_at_the_same_url_under_load(
    engine, build, test_labels
):
    """The new model starts beside the old one on its port and takes over: the URL, the name
    and every request of a steady load are kept; only the state changed, so the image is
    committed over the first build's layers, and `:latest` follows it."""
    first = build("v1", "test-replace")
    try:
        assert first.replacement is None
        with Load(first.instance.url, clients=4) as load:
            time.sleep(0.5)
            started = time.monotonic()
            second = build("v2", "test-replace")
            done = time.monotonic()
            time.sleep(RETIRE_DRAIN_SECONDS + 1.5)
        assert_matches_schema(second.to_dict())
        replacement = second.replacement
        assert (replacement.how, replacement.url) == ("handover", first.instance.url)
        assert (replacement.before, replacement.after) == (["v1", "v1"], ["v2", "v2"])
        assert replacement.previous_image == first.tag
        assert second.instance.name == "test-replace" and second.parity.passed
        assert load.failures == [], load.failures[:5]
        assert {label for at, label in load.answers if at < started} == {"v1"}
        # the old model answers only what reaches it on connections it holds, while it drains
        drained = done + RETIRE_DRAIN_SECONDS + 0.5
        assert {label for at, label in load.answers if at > drained} == {"v2"}
        history = engine.api.history(second.tag)
        assert history[0]["Comment"] == STATE_COMMIT_COMMENT  # state only: committed
        assert engine.image_id("mlcontainer/test-replace:latest") == second.image
        wait_until(lambda: len(running_named(engine, test_labels, "replace")) == 1)
        assert [
            (i.name, i.url, i.image) for i in running_named(engine, test_labels, "replace")
        ] == [("test-replace", first.instance.url, second.tag)]
        print(f"handover under load: {done - started:.1f} s, {len(load.answers)} answers")
    finally:
        engine.stop_all(labels=test_labels)
    assert not holders(engine, "test-replace"), "a port holder outlived its instance"


def test_a_state_only_rebuild_serves_what_a_full_build_serves(engine, build, test_labels):
    """The committed image and a full build of the same context hold the same files under
    /srv, the same labels and configuration, and answer alike."""
    build("v1", "test-commit")
    try:
        committed = build("v2", "test-commit")
        assert engine.api.history(committed.tag)[0]["Comment"] == STATE_COMMIT_COMMENT
        full = build("v2", "test-commit", run=False, no_cache=True)
        assert full.tag == committed.tag and full.image != committed.image
        assert engine.api.history(full.image)[0]["Comment"] != STATE_COMMIT_COMMENT
        listing = [
            "python",
            "-c",
            "import hashlib, os\n"
            "for d, _, fs in sorted(os.walk('/srv')):\n"
            "    if '__pycache__' in d: continue  # .pyc files record their sources' mtimes\n"
            "    for f in sorted(fs):\n"
            "        p = os.path.join(d, f); s = os.stat(p)\n"
            "        print(p, oct(s.st_mode), s.st_uid, hashlib.sha256(open(p, 'rb').read()).hexdigest())",
        ]
        assert engine.run_command(committed.image, listing) == engine.run_command(
            full.image, listing
        )
        configs = [engine.api.inspect_image(i)["Config"] for i in (committed.image, full.image)]
        for key in ("Labels", "Env", "Entrypoint", "Cmd", "User", "WorkingDir", "Healthcheck"):
            assert configs[0][key] == configs[1][key], key
        assert answers(committed.instance.url, committed.sample) == ["v2", "v2"]
    finally:
        engine.stop_all(labels=test_labels)


def test_a_replacement_that_cannot_load_never_takes_a_request(engine, build, test_labels, tmp_path):
    """The new image's model fails to load beside the old one: it never listens, the old model
    answers every request of a steady load throughout, and the error says so."""
    first = build("v1", "test-restore")
    try:
        broken_tag = broken_image(engine, first.tag, test_labels, tmp_path)
        previous = engine.find_instance("test-restore")
        successor = Successor(
            broken_tag,
            test_labels,
            first.sample,
            check_parity,
            {"environment": {EXIT_ON_FAILED_LOAD: "1"}},
        )
        with Load(first.instance.url, clients=4) as load, pytest.raises(RunFailed) as failure:
            hand_over(engine, previous, successor, print)
        assert "before it took over the port" in str(failure.value)
        assert load.failures == [] and {label for _, label in load.answers} == {"v1"}
        (running,) = running_named(engine, test_labels, "restore")
        assert (running.name, running.url, running.image) == (
            "test-restore",
            first.instance.url,
            first.tag,
        )
    finally:
        engine.stop_all(labels=test_labels)


def test_an_instance_publishing_its_own_port_is_restarted_and_put_back_when_broken(
    engine, build, test_labels, tmp_path
):
    """An instance that owns its port (started before ports were held) is restarted on it;
    when the new model cannot load there, the old image serves again at the same URL."""
    first = build("v1", "test-restore")
    try:
        broken_tag = broken_image(engine, first.tag, test_labels, tmp_path)
        previous = legacy_instance(engine, engine.find_instance("test-restore"))
        with pytest.raises(RunFailed) as failure:
            restart(
                engine,
                previous,
                Successor(broken_tag, test_labels, first.sample, check_parity),
                print,
            )
        assert f"test-restore serves {first.tag} again at {first.instance.url}" in str(
            failure.value
        )
        running = running_named(engine, test_labels, "restore")
        assert len(running) == 1, [(i.name, i.image, i.url, i.status) for i in running]
        assert (running[0].url, running[0].image) == (first.instance.url, first.tag)
        assert answers(running[0].url, first.sample) == ["v1", "v1"]
    finally:
        engine.stop_all(labels=test_labels)


def broken_image(engine, tag: str, labels: dict, folder) -> str:
    """`tag` with its state truncated: a model that cannot load."""
    broken = folder / "broken"
    broken.mkdir()
    (broken / "Dockerfile").write_text(
        f"FROM {tag}\nUSER root\n"
        "RUN find /srv/artifacts/state -type f -exec truncate -s 10 {} +\n"
        "USER 10001:10001\n"
    )
    broken_tag = "mlcontainer/test-restore:broken"
    list(engine.build(broken, broken_tag, labels=labels))
    return broken_tag


def legacy_instance(engine, instance):
    """`instance` restarted as older versions ran it: publishing its own port."""
    port = int(instance.url.rsplit(":", 1)[1])
    engine.stop(instance.id)
    engine.client.containers.run(
        instance.image,
        name=instance.name,
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},
        labels=instance.labels,
    )
    return wait_ready(engine, engine.find_instance(instance.name))


def running_named(engine, labels: dict, part: str) -> list:
    return [i for i in engine.list_instances(labels=labels) if part in i.name]


def holders(engine, name: str) -> list:
    """The containers that publish the port of the instance called `name`."""
    return engine.client.containers.list(all=True, filters={"label": f"{PORT_HOLDER_LABEL}={name}"})


def wait_until(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_build_under_a_deployed_name_rolls_it_out_with_no_failed_request(
    engine, build, swarm, test_labels
):
    name = "test-redeploy"
    first = build("v1", name, run=False)
    options = DeployOptions(first.tag, replicas=1, name=name)
    deployment = replicas.deploy(engine, options, MLContainerConfig(labels=test_labels))
    try:
        with Load(deployment.url, clients=4) as load:
            time.sleep(1)
            started = time.monotonic()
            second = build("v2", name)
            done = time.monotonic()
            time.sleep(2)
        assert second.replacement.how == "rollout"
        assert second.instance.url == deployment.url
        assert (second.replacement.before, second.replacement.after) == (["v1"] * 2, ["v2"] * 2)
        assert load.failures == [], load.failures[:5]
        assert {label for at, label in load.answers if at < started} == {"v1"}
        assert {label for at, label in load.answers if at > done} == {"v2"}
        assert replicas.get_deployment(engine, name).image == second.tag
        print(f"redeploy (build + rollout) {done - started:.1f} s, {len(load.answers)} answers")
    finally:
        replicas.undeploy(engine, name)
