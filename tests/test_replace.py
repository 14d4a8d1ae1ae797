"""Building again under a name that serves replaces what serves, against the real engine: a
plain instance keeps its name and URL, a deployment is rolled out under load with no failed
request, and both report the sample's answers before and after."""

from __future__ import annotations

import time

import pytest

from jupyter_mlcontainer.config import MLContainerConfig
from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.errors import RunFailed
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.replace import answers, restart
from jupyter_mlcontainer.workflow import check_parity, containerize

from build_summary import assert_matches_schema
from retrained import Load, trained_notebook

pytestmark = pytest.mark.engine


@pytest.fixture
def build(base_image, test_labels, tmp_path):
    """containerize(label, name): the numpy notebook trained on `label`, built and run."""
    config = MLContainerConfig(labels=test_labels, base_image=base_image)

    def build_and_run(label: str, name: str, run: bool = True):
        notebook = trained_notebook(tmp_path / f"{name}.ipynb", label)  # one notebook, retrained
        options = ExportOptions(
            notebook=str(notebook), entry="predict", sample="X[:2]", name=name, run=run
        )
        return containerize(options, config=config, out_dir=str(tmp_path / f"{name}-context"))

    return build_and_run


def test_a_second_build_replaces_the_instance_at_the_same_url(engine, build, test_labels):
    first = build("v1", "test-replace")
    try:
        assert first.replacement is None
        second = build("v2", "test-replace")
        assert_matches_schema(second.to_dict())
        replacement = second.replacement
        assert (replacement.how, replacement.url) == ("restart", first.instance.url)
        assert (replacement.before, replacement.after) == (["v1", "v1"], ["v2", "v2"])
        assert replacement.previous_image == first.tag
        assert second.instance.name == "test-replace" and second.parity["passed"]
        running = [i for i in engine.list_instances(labels=test_labels) if "replace" in i.name]
        assert [(i.name, i.url, i.image) for i in running] == [
            ("test-replace", first.instance.url, second.tag)
        ]
        print(f"restart gap {replacement.gap_seconds:.2f} s")
    finally:
        engine.stop_all(labels=test_labels)


def test_a_replacement_that_cannot_load_puts_the_old_model_back(
    engine, build, test_labels, tmp_path
):
    """The new image starts in the old one's place; when its model cannot load there, the old
    image serves again at the same URL, and the error says so."""
    first = build("v1", "test-restore")
    try:
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "Dockerfile").write_text(
            f"FROM {first.tag}\nUSER root\n"
            "RUN find /srv/artifacts/state -type f -exec truncate -s 10 {} +\n"
            "USER 10001:10001\n"
        )
        broken_tag = "mlcontainer/test-restore:broken"
        list(engine.build(broken, broken_tag, labels=test_labels))
        previous = engine.find_instance("test-restore")
        with pytest.raises(RunFailed) as failure:
            restart(engine, previous, broken_tag, test_labels, first.sample, check_parity, print)
        assert f"test-restore serves {first.tag} again at {first.instance.url}" in str(
            failure.value
        )
        (running,) = [i for i in engine.list_instances(labels=test_labels) if "restore" in i.name]
        assert (running.url, running.image) == (first.instance.url, first.tag)
        assert answers(running.url, first.sample) == ["v1", "v1"]
    finally:
        engine.stop_all(labels=test_labels)


def test_a_build_under_a_deployed_name_rolls_it_out_with_no_failed_request(
    engine, build, swarm, test_labels
):
    name = "test-redeploy"
    first = build("v1", name, run=False)
    deployment = replicas.deploy(engine, first.tag, replicas=1, name=name, labels=test_labels)
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
