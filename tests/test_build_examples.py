"""Notebook → image → running instance → parity, against the real Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.running.readiness import wait_ready
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import check_parity, containerize

from build_summary import assert_matches_schema

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SERVED_EXAMPLES = sorted(p.stem for p in EXAMPLES.glob("*.ipynb") if p.stem != "containerize_magic")


@pytest.fixture(scope="module")
def config(test_labels, base_image):
    return MLContainerConfig(labels=test_labels, base_image=base_image)


@pytest.mark.parametrize("name", SERVED_EXAMPLES)
def test_every_example_builds_runs_and_answers_like_the_notebook(
    engine, config, name, example_build
):
    built = example_build(name)
    result = built.result
    assert_matches_schema(result.to_dict())
    assert result.tag.startswith(f"mlcontainer/test-{name}:")
    assert [e.stage for e in built.events if e.kind == "stage"] == [
        "analyse",
        "capture",
        "environment",
        "render",
        "build",
    ]
    steps = [e for e in built.events if e.kind == "step"]
    assert steps and steps[-1].step == steps[-1].total
    # The image loaded every captured value: a warning that it could not would be false.
    assert not [e.message for e in built.events if "pickled with references" in e.message]

    instance = engine.run(result.tag, port=0, labels=config.labels, name=f"test-{name}-run")
    try:
        instance = wait_ready(engine, instance)
        parity = check_parity(instance.url, result.sample)
        assert parity.passed and parity.status == 200, parity
        assert len(parity.rows) == 3
        with urllib.request.urlopen(f"{instance.url}/metadata", timeout=10) as answer:
            server = json.load(answer)["server"]
        assert (server["http"], server["json"]) == ("httptools", "orjson")
        assert instance.url.startswith("http://127.0.0.1:")
        listed = {i.name: i for i in engine.list_instances(labels=config.labels)}
        assert listed[instance.name].url == instance.url
    finally:
        engine.stop(instance.id)
    assert instance.name not in {i.name for i in engine.list_instances(all=True)}


def test_a_code_only_change_rebuilds_from_the_dependency_cache(engine, config, tmp_path):
    notebook = tmp_path / "iris.ipynb"
    shutil.copy(EXAMPLES / "iris_classifier.ipynb", notebook)
    options = ExportOptions(notebook=str(notebook), name="test-cache")
    containerize(options, config=config, out_dir=str(tmp_path / "context"))

    text = notebook.read_text().replace(
        "def predict(X):",
        'def predict(X):\\n    \\"\\"\\"Species for rows of measurements.\\"\\"\\"',
        1,
    )
    assert text != notebook.read_text()
    notebook.write_text(text)
    events = []
    result = containerize(
        options, config=config, on_event=events.append, out_dir=str(tmp_path / "context")
    )

    cached = {e.message for e in events if e.kind == "cache"}
    rebuilt = {e.message for e in events if e.kind == "step"} - cached
    assert any(step.startswith("RUN python3 -m venv") for step in cached), (
        "dependencies reinstalled"
    )
    assert "COPY --from=builder /opt/venv /opt/venv" in cached
    assert "COPY app/ /srv/app/" in rebuilt
    module = engine.run_command(
        result.tag, ["cat", "/srv/app/notebook_code.py"], labels=config.labels
    )
    assert "Species for rows of measurements." in module


def test_the_context_builds_by_hand_with_docker_build(engine, config, tmp_path):
    context = tmp_path / "context"
    label = ",".join(f"{k}={v}" for k, v in config.labels.items())
    subprocess.run(
        [
            "jupyter",
            "mlcontainer",
            "build",
            str(EXAMPLES / "one_cell.ipynb"),
            "--context-only",
            "--out",
            str(context),
            "--base-image",
            config.base_image,
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env={**os.environ, "MLCONTAINER_LABELS": label},  # so its builder stage is removed after
    )
    tag = "mlcontainer-test/by-hand:latest"
    built = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "--label", label, str(context)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    check = engine.run_command(
        tag, ["python", "-m", "mlcontainer_runtime", "check"], labels=config.labels
    )
    assert check.strip().endswith("PASS")
    inspect = json.loads(
        subprocess.run(["docker", "inspect", tag], capture_output=True, text=True).stdout
    )
    image = inspect[0]["Config"]
    assert image["User"] == "10001:10001"
    assert image["Healthcheck"]["Test"][-1] == "healthcheck"
    assert image["Labels"]["io.mlcontainer.entry"] == "predict()"
    assert image["Labels"]["org.opencontainers.image.title"] == "one_cell"
    leftovers = engine.run_command(
        tag,
        [
            "python",
            "-c",
            "import os; print(os.path.exists('/build'), os.path.exists('/opt/venv/bin/pip'))",
        ],
        labels=config.labels,
    )
    assert leftovers.strip() == "False False", "wheels and pip stay in the builder stage"


def test_rebuilding_the_forest_example_keeps_its_tag_and_every_layer(engine, config, tmp_path):
    """Each build runs the notebook again from scratch; the forest it writes and the state we
    capture must come out byte-identical, so the tag stays and nothing is rebuilt."""
    options = ExportOptions(notebook=str(EXAMPLES / "wine_joblib.ipynb"), name="test-forest")
    first = containerize(options, config=config, out_dir=str(tmp_path / "context"))
    events = []
    second = containerize(
        options, config=config, on_event=events.append, out_dir=str(tmp_path / "context")
    )
    assert second.tag == first.tag and second.image == first.image
    layers = {
        e.message for e in events if e.kind == "step" and e.message.startswith(("COPY", "RUN"))
    }
    cached = {e.message for e in events if e.kind == "cache"}
    assert layers and layers <= cached, f"rebuilt: {layers - cached}"


def test_a_base_without_openmp_gets_libgomp1_from_debian(engine, config, tmp_path):
    """The LightGBM wheel links libgomp.so.1; on a base that lacks it the final stage installs
    Debian's libgomp1 before the model is loaded."""
    base = "mlcontainer-test/base-without-openmp:latest"
    context = tmp_path / "base"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {config.base_image}\nRUN dpkg --purge libgomp1 && ldconfig\n"
    )
    for _ in engine.build(context, base, labels=config.labels):
        pass
    assert "libgomp" not in engine.run_command(base, ["ldconfig", "-p"], labels=config.labels)
    events = []
    result = containerize(
        ExportOptions(
            notebook=str(EXAMPLES / "lightgbm_booster.ipynb"),
            name="test-openmp",
            base_image=base,
            run=True,
        ),
        config=config,
        on_event=events.append,
        out_dir=str(tmp_path / "context"),
    )
    try:
        stages = [e.stage for e in events if e.kind == "stage"]
        assert stages == ["analyse", "capture", "environment", "render", "build", "run", "check"]
        assert result.instance.url.startswith("http://127.0.0.1:") and result.parity.status == 200
        assert (
            "apt-get install -y --no-install-recommends libgomp1"
            in (tmp_path / "context" / "Dockerfile").read_text()
        )
        assert result.parity.passed, result.parity
        assert result.sizes["system_packages"] > 0 and result.sizes["base"] == engine.image_size(
            base
        )
    finally:
        engine.stop(result.instance.id)


def test_an_image_that_cannot_answer_its_sample_is_never_tagged(engine, config, tmp_path):
    from jupyter_mlcontainer.shared.errors import BuildFailed

    context = tmp_path / "context"
    containerize(
        ExportOptions(notebook=str(EXAMPLES / "one_cell.ipynb")),
        config=config,
        context_only=True,
        out_dir=str(context),
    )
    sample = json.loads((context / "sample.json").read_text())
    sample["expected"]["predictions"] = [0.0, 0.0, 0.0]  # not what the model answers
    (context / "sample.json").write_text(json.dumps(sample))
    tag = "mlcontainer-test/broken:latest"
    with pytest.raises(BuildFailed) as caught:
        for _ in engine.build(context, tag, labels=config.labels):
            pass
    assert "mlcontainer_runtime" in caught.value.message and "check" in caught.value.message
    assert "row 0 FAIL" in caught.value.output
    assert not engine.image_exists(tag)
