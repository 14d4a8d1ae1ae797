"""`prune` against a real engine: what builds and instances leave behind goes, the rest stays."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.cli import main
from jupyter_mlcontainer.engine.base import NOTEBOOK_SHA256_LABEL, image_tags
from jupyter_mlcontainer.pipeline.plan import ServingPlan
from jupyter_mlcontainer.pipeline.templates import dockerfile

engine_test = pytest.mark.engine

#: Other tests of the session build images too; prune only this test's.
GROUP = {"io.mlcontainer.test-group": "prune"}
#: Two stages shaped like a generated Dockerfile's; the builder stage also carries the test's
#: labels, which a build's `labels` put on the final stage only.
TWO_STAGES = """\
FROM {base} AS builder
LABEL io.mlcontainer.stage="builder" {test_label}="{session}" io.mlcontainer.test-group="prune"
RUN echo {marker} > /marker
FROM {base}
COPY --from=builder /marker /marker
CMD ["python3", "-c", "import os, time; time.sleep(float(os.environ.get('SLEEP', '0')))"]
"""


def build_version(engine, base_image, test_labels, directory, marker: str, tag_as="") -> str:
    """Build one version of the same image name, tagged `tag_as` or `marker`; `:latest`
    follows the newest."""
    [(test_label, session)] = test_labels.items()
    directory.mkdir()
    (directory / "Dockerfile").write_text(
        TWO_STAGES.format(
            base=base_image, test_label=test_label, session=session, marker=f"{session}-{marker}"
        )
    )
    tag, latest = image_tags(f"prune-{session}", tag_as or marker)
    labels = {**test_labels, **GROUP, NOTEBOOK_SHA256_LABEL: marker}
    list(engine.build(directory, tag, labels=labels, extra_tags=(latest,)))
    return tag


def builder_caches(engine, test_labels) -> list:
    [(test_label, session)] = test_labels.items()
    selector = [
        "io.mlcontainer.stage=builder",
        f"{test_label}={session}",
        "io.mlcontainer.test-group=prune",
    ]
    return engine.client.images.list(filters={"dangling": True, "label": selector})


@engine_test
def test_prune_removes_leftovers_and_keeps_what_is_used(
    engine, base_image, test_labels, tmp_path, capsys
):
    labels = {**test_labels, **GROUP}
    retagged = build_version(engine, base_image, test_labels, tmp_path / "v0", "v0")
    untagged = engine.client.images.get(retagged).short_id
    build_version(engine, base_image, test_labels, tmp_path / "v0b", "v0b", tag_as="v0")
    in_use, superseded, newest = (
        build_version(engine, base_image, test_labels, tmp_path / marker, marker)
        for marker in ("v1", "v2", "v3")
    )
    assert len(builder_caches(engine, test_labels)) == 5
    engine.client.containers.create(in_use, labels=labels)  # created, never started
    running = engine.run(newest, labels=labels, environment={"SLEEP": "60"})
    exited = engine.run(newest, labels=labels)
    engine.client.containers.get(exited.id).wait(timeout=30)

    report = engine.prune(labels=labels)

    assert report.instances == [exited.name]
    assert sorted(report.images) == sorted([retagged, untagged, superseded])
    assert report.caches == 5 and report.cache_bytes > 0
    assert builder_caches(engine, test_labels) == []
    assert not any(map(engine.image_exists, (retagged, untagged, superseded)))
    latest = image_tags(f"prune-{next(iter(test_labels.values()))}", "")[1]
    assert all(engine.image_exists(image) for image in (in_use, newest, latest))
    assert [i.name for i in engine.list_instances(all=True, labels=labels)] == [running.name]

    label_options = [f"--label={key}={value}" for key, value in labels.items()]
    assert main(["prune", "--json", *label_options]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "instances": [],
        "images": [],
        "caches": 0,
        "cache_bytes": 0,
    }
    engine.stop(running.name)


def test_generated_dockerfiles_mark_their_builder_stage():
    plan = ServingPlan("nb.ipynb", "0" * 64, "function", "predict", "")
    text = dockerfile(plan, "base:1", offline=True, runtime="mlcontainer_runtime")
    builder, final = text.split("\nFROM base:1\n")
    assert 'LABEL io.mlcontainer.stage="builder"' in builder
    assert "io.mlcontainer.stage" not in final
