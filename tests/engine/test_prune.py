"""`prune` against a real engine: what builds and instances leave behind goes, the rest stays."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.cli import main
from jupyter_mlcontainer.engine.base import (
    NAME_LABEL,
    NOTEBOOK_LABEL,
    NOTEBOOK_SHA256_LABEL,
    PORT_HOLDER_LABEL,
    PruneReport,
    image_tags,
)
from jupyter_mlcontainer.pipeline.plan import ServingPlan
from jupyter_mlcontainer.pipeline.templates import dockerfile
from jupyter_mlcontainer.shared.errors import BuildFailed
from jupyter_mlcontainer.shared.locks import exclusive_folder
from jupyter_mlcontainer.workflow.contexts import context_folder, prune_contexts

engine_test = pytest.mark.engine

#: Other tests of the session build images too; prune only this test's.
GROUP = {"io.mlcontainer.test-group": "prune"}
PLAN = ServingPlan("nb.ipynb", "0" * 64, "nb", "function", "predict", "")
#: Two stages shaped like a generated Dockerfile's, with its stages' LABEL lines.
TWO_STAGES = """\
FROM {base} AS builder
{builder_label}
RUN echo {marker} > /marker
FROM {base}
{serving_label}
COPY --from=builder /marker /marker
CMD ["python3", "-c", "import os, time; time.sleep(float(os.environ.get('SLEEP', '0')))"]
"""


def stage_labels(labels: dict) -> tuple[str, str]:
    """The builder's and the final stage's LABEL lines of a generated Dockerfile."""
    generated = dockerfile(
        PLAN, "base:1", offline=True, runtime="mlcontainer_runtime", labels=labels
    )
    builder, serving = (
        line for line in generated.splitlines() if line.startswith("LABEL io.mlcontainer.stage")
    )
    return builder, serving


def build_version(engine, base_image, test_labels, directory, marker: str, tag_as="") -> str:
    """Build one version of the same image name, tagged `tag_as` or `marker`; `:latest`
    follows the newest."""
    session = next(iter(test_labels.values()))
    directory.mkdir()
    builder, serving = stage_labels({**test_labels, **GROUP})
    (directory / "Dockerfile").write_text(
        TWO_STAGES.format(
            base=base_image,
            builder_label=builder,
            serving_label=serving,
            marker=f"{session}-{marker}",
        )
    )
    tag, latest = image_tags(f"prune-{session}", tag_as or marker)
    labels = {**test_labels, **GROUP, NOTEBOOK_SHA256_LABEL: marker}
    list(engine.build(directory, tag, labels=labels))
    engine.tag_image(tag, latest)
    return tag


def leftovers(engine, test_labels, stage: str = "") -> list:
    """This test's untagged images of generated stages (of `stage`, when given)."""
    [(test_label, session)] = test_labels.items()
    selector = [
        f"io.mlcontainer.stage={stage}" if stage else "io.mlcontainer.stage",
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
    assert len(leftovers(engine, test_labels, "builder")) == 5
    pushed = f"registry.example/team/prune-{next(iter(test_labels.values()))}:2"
    engine.client.images.get(superseded).tag(pushed)  # as a user does before `docker push`
    engine.client.containers.create(in_use, labels=labels)  # created, never started
    running = engine.run(newest, labels=labels, environment={"SLEEP": "60"})
    exited = engine.run(newest, labels=labels)
    engine.client.containers.get(exited.id).wait(timeout=30)
    removed = engine.run(newest, labels=labels, environment={"SLEEP": "60"})
    engine.client.containers.get(removed.id).remove(force=True)  # as `docker rm -f` does

    report = engine.prune(labels=labels)

    assert report.instances == [exited.name]
    assert sorted(report.images) == sorted([retagged, untagged, superseded])
    assert report.caches == 5 and report.cache_bytes > 0
    assert leftovers(engine, test_labels, "builder") == []
    assert not any(map(engine.image_exists, (retagged, untagged, superseded)))
    assert engine.image_exists(pushed), "a tag outside mlcontainer/ keeps its image"
    latest = image_tags(f"prune-{next(iter(test_labels.values()))}", "")[1]
    assert all(engine.image_exists(image) for image in (in_use, newest, latest))
    assert [i.name for i in engine.list_instances(all=True, labels=labels)] == [running.name]
    holders = engine.client.containers.list(all=True, filters={"label": PORT_HOLDER_LABEL})
    held = {holder.id for holder in holders}
    assert running.port_holder in held, "the running instance keeps the port it is served on"
    assert not {exited.port_holder, removed.port_holder} & held, "port holders left behind"

    label_options = [f"--label={key}={value}" for key, value in labels.items()]
    assert main(["prune", "--json", *label_options]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "instances": [],
        "images": [],
        "caches": 0,
        "cache_bytes": 0,
        "contexts": [],
        "context_bytes": 0,
    }
    engine.stop(running.name)


@engine_test
def test_prune_removes_what_a_build_that_failed_left(engine, base_image, test_labels, tmp_path):
    labels = {**test_labels, **GROUP}
    _, serving = stage_labels(labels)
    session = next(iter(test_labels.values()))
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n{serving}\nRUN echo {session}-failed > /marker\nRUN exit 3\n"
    )
    with pytest.raises(BuildFailed):
        list(engine.build(tmp_path, f"mlcontainer/prune-{session}:failed", labels=labels))
    assert len(leftovers(engine, test_labels, "serving")) == 1  # the layer before `exit 3`

    report = engine.prune(labels=labels)

    assert report.caches == 1
    assert leftovers(engine, test_labels) == []


def test_generated_dockerfiles_mark_each_stage_with_the_configured_labels_from_its_start():
    labels = {"team": 'fraud "ml"', "cost-center": "$4"}
    text = dockerfile(PLAN, "base:1", offline=True, runtime="mlcontainer_runtime", labels=labels)
    builder, final = text.split("\nFROM base:1\n")
    quoted = '"cost-center"="\\$4" "team"="fraud \\"ml\\""'
    assert f'FROM base:1 AS builder\nLABEL io.mlcontainer.stage="builder" {quoted}\n' in builder
    assert final.startswith(f'LABEL io.mlcontainer.stage="serving" {quoted}\n')


def cached_context(folder, *extra: str, size: int = 0):
    """A build context folder as a build leaves it (its marker, a Dockerfile, wheels of
    `size` bytes), plus files named `extra`."""
    (folder / "wheels").mkdir(parents=True)
    (folder / ".mlcontainer-context").write_text("a build context\n")
    (folder / "Dockerfile").write_text("FROM base\n")
    (folder / "wheels" / "numpy.whl").write_bytes(b"w" * size)
    for name in extra:
        (folder / name).write_text("somebody's file\n")
    return folder


@engine_test
def test_prune_removes_the_cached_contexts_of_images_that_are_gone(
    engine, base_image, test_labels, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    session = next(iter(test_labels.values()))
    notebook = str(tmp_path / "kept.ipynb")
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "Dockerfile").write_text(f"FROM {base_image}\n")
    labels = {
        **test_labels,
        **GROUP,
        NOTEBOOK_SHA256_LABEL: "kept",
        NAME_LABEL: f"prune-{session}",
        NOTEBOOK_LABEL: notebook,
    }
    tag = f"mlcontainer/prune-{session}:kept"
    list(engine.build(tmp_path / "image", tag, labels=labels))
    kept = cached_context(context_folder(f"prune-{session}", notebook))
    stale = cached_context(context_folder(f"prune-{session}", "gone.ipynb"), size=50_000)
    wheel_cache = tmp_path / "cache" / "jupyter-mlcontainer" / "wheels" / "torch.whl"
    wheel_cache.parent.mkdir(parents=True)
    wheel_cache.write_bytes(b"t" * 1_000_000)
    (stale / "wheels" / "torch.whl").hardlink_to(wheel_cache)  # as a build links its wheels
    building = cached_context(context_folder("building", "new.ipynb"))
    foreign = cached_context(context_folder("foreign", "own.ipynb"), "notes.txt")
    (kept.parent / "README").write_text("not a folder\n")

    try:
        with exclusive_folder(building, waiting=lambda: None):  # a build writing it right now
            pruned = prune_contexts(engine.built_image_labels())
    finally:
        engine.remove_image(tag)

    assert pruned.contexts == [stale.name]
    assert 50_000 <= pruned.context_bytes < 1_000_000, "the wheel cache still holds the wheel"
    assert wheel_cache.stat().st_size == 1_000_000
    assert not stale.exists()
    assert all(folder.is_dir() for folder in (kept, building, foreign))
    assert (kept.parent / "README").is_file()


class PruneOnlyEngine:
    """An engine with nothing to prune, for the command's choice of what else it prunes."""

    def prune(self, labels, keep_cache):
        return PruneReport()

    def built_image_labels(self):
        return []


@pytest.mark.parametrize(
    ("options", "removed"),
    [([], True), (["--keep-cache"], False), (["--label", "team=fraud"], False)],
)
def test_the_prune_command_removes_contexts_unless_told_to_keep_or_select(
    options, removed, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("jupyter_mlcontainer.cli.instances._engine", PruneOnlyEngine)
    stale = cached_context(context_folder("stale", "gone.ipynb"), size=2_000_000)

    assert main(["prune", *options]) == 0

    printed = capsys.readouterr().out
    assert stale.exists() is not removed
    assert ("removed 1 build contexts (2.0 MB)" in printed) is removed
    assert main(["prune", "--json", *options]) == 0
    assert json.loads(capsys.readouterr().out)["contexts"] == []
