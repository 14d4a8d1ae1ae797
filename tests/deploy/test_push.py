"""Pushing to a real registry (Debian's reference registry on 127.0.0.1), from every front door
that has it: the pipeline function, the CLI and the instance object."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from jupyter_mlcontainer.deploy.plan import PushOptions
from jupyter_mlcontainer.deploy.push import push_image
from jupyter_mlcontainer.running.readiness import wait_ready
from jupyter_mlcontainer.shared.errors import PushFailed
from jupyter_mlcontainer.workflow.build import check_parity

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def built(example_build):
    """The iris example, built once for the test run."""
    return example_build("iris_classifier").result


@pytest.fixture
def free_address():
    from ports import free_port

    return f"127.0.0.1:{free_port()}"


def test_the_cli_pushes_by_image_name(built, registry, engine):
    done = subprocess.run(
        ["jupyter", "mlcontainer", "push", built.tag, "--to", f"{registry}/cli/iris:v1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == f"{registry}/cli/iris:v1"
    assert "[1/" in done.stderr, "layer progress goes to stderr"


def test_push_errors_say_what_to_do(engine, built, free_address):
    with pytest.raises(PushFailed, match="not REGISTRY/REPOSITORY"):
        push_image(engine, PushOptions(built.tag, "team/iris"))
    with pytest.raises(PushFailed, match="No instance or image is named"):
        push_image(engine, PushOptions("no-such-thing-anywhere", "127.0.0.1:5000/team/iris"))
    with pytest.raises(PushFailed) as caught:
        push_image(engine, PushOptions(built.tag, f"{free_address}/team/iris"))
    assert f"Check that a registry runs at {free_address}" in caught.value.hint
    assert not any(free_address in ref for ref in engine.image_refs(built.tag)), (
        "a failed push leaves no tag behind that would make the image look pushed"
    )


def test_the_instance_object_pushes_its_image(engine, built, registry, test_labels, capsys):
    from jupyter_mlcontainer.notebook.instance import ServingInstance

    instance = engine.run(built.tag, port=0, labels=test_labels)
    try:
        served = ServingInstance(wait_ready(engine, instance), sample=built.sample, engine=engine)
        result = served.push(f"{registry}/magic/iris")
    finally:
        engine.stop(instance.id)
    assert result.target == f"{registry}/magic/iris:{built.tag.rsplit(':', 1)[1]}"
    assert "==> Pushing" in capsys.readouterr().out, "progress shows in the notebook's output"


# Last: it removes the image from the engine (and puts the pulled one back under its tag).
def test_push_remove_pull_run_and_answer_like_the_notebook(engine, built, registry, test_labels):
    events = []
    result = push_image(
        engine, PushOptions("test-iris_classifier", f"{registry}/team/iris"), events.append
    )
    content_hash = built.tag.rsplit(":", 1)[1]
    assert result.target == f"{registry}/team/iris:{content_hash}", "the content-hash tag"
    # Layers another repository of the registry has (the CLI test's) are mounted, not sent.
    assert result.digest.startswith("sha256:") and result.layers > 1
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, result.layers + 1))
    assert all(e.total == result.layers for e in steps)

    again = push_image(engine, PushOptions(built.tag, f"{registry}/team/iris:again"))
    assert again.layers_sent == 0 and again.bytes_sent == 0, "every layer is there already"

    engine.client.images.remove(built.image, force=True)  # every local tag of it
    assert not engine.image_exists(result.target)
    engine.client.images.pull(*result.target.rsplit(":", 1))
    engine.tag_image(result.target, built.tag)  # the shared example build's tag, as it was
    instance = engine.run(result.target, port=0, labels=test_labels)
    try:
        instance = wait_ready(engine, instance)
        parity = check_parity(instance.url, built.sample)
        assert parity.passed, parity
    finally:
        engine.stop(instance.id)
