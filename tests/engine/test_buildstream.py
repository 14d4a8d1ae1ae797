"""Docker's and Podman's build streams → progress events, on streams recorded from real engines
(tests/engine/streams/*.jsonl, one decoded JSON chunk per line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mlcontainer.engine.buildstream import build_events
from jupyter_mlcontainer.shared.errors import BuildFailed

STREAMS = Path(__file__).resolve().parent / "streams"


def recorded(name: str) -> list[dict]:
    return [json.loads(line) for line in (STREAMS / f"{name}.jsonl").read_text().splitlines()]


def test_a_first_build_reports_every_step_and_its_output():
    events = list(build_events(recorded("success")))
    steps = [(e.step, e.total, e.message) for e in events if e.kind == "step"]
    assert steps == [
        (1, 5, "FROM mlcontainer/python:3.11-bookworm"),
        (2, 5, "COPY hello.txt /hello.txt"),
        (3, 5, "RUN echo built && cat /hello.txt"),
        (4, 5, 'LABEL x="1"'),
        (5, 5, "LABEL io.mlcontainer.recording=1"),  # the build's own labels come last
    ]
    logs = [e.message for e in events if e.kind == "log"]
    assert "built" in logs and "hello" in logs
    assert not [e for e in events if e.kind == "cache"]
    assert all(e.stage == "build" for e in events)


def test_a_rebuild_reports_the_cached_layers():
    events = list(build_events(recorded("cached")))
    cached = [e.message for e in events if e.kind == "cache"]
    assert cached == [
        "COPY hello.txt /hello.txt",
        "RUN echo built && cat /hello.txt",
        'LABEL x="1"',
        "LABEL io.mlcontainer.recording=1",
    ]
    assert "built" not in [e.message for e in events if e.kind == "log"], "the RUN did not run"


def test_a_failing_step_names_the_step_and_keeps_its_output():
    events = []
    with pytest.raises(BuildFailed) as caught:
        for event in build_events(recorded("failing_step")):
            events.append(event)
    assert caught.value.message == (
        "Build step 3/5 failed: RUN echo first line && echo second line && exit 3"
    )
    assert caught.value.output.startswith(" ---> Running in ")
    assert "first line\nsecond line\n" in caught.value.output
    assert caught.value.output.endswith("returned a non-zero code: 3")
    assert [e.step for e in events if e.kind == "step"] == [1, 2, 3]


def test_an_error_before_a_step_has_output_says_what_the_engine_said():
    with pytest.raises(BuildFailed) as caught:
        list(build_events(recorded("missing_file")))
    assert caught.value.message == "Build step 2/3 failed: COPY missing.txt /missing.txt"
    assert "file not found in build context" in caught.value.output


def test_blank_and_unknown_chunks_are_skipped():
    chunks = [{"stream": "Step 1/1 : FROM x"}, {"stream": "\n"}, {"aux": {"ID": "sha256:1"}}, {}]
    assert [e.kind for e in build_events(chunks)] == ["step"]


def test_podmans_steps_are_numbered_across_its_stages_as_dockers_are():
    """Podman (buildah) numbers steps within each stage: `[2/2] STEP 3/5: ...`."""
    events = list(build_events(recorded("podman_success")))
    steps = [(e.step, e.total, e.message) for e in events if e.kind == "step"]
    assert steps == [
        (1, 3, "FROM mlcontainer/python:3.11-bookworm AS builder"),
        (2, 3, "RUN echo building > /tmp/b.txt"),
        (3, 3, "RUN echo more"),
        (4, 8, "FROM mlcontainer/python:3.11-bookworm"),
        (5, 8, "COPY --from=builder /tmp/b.txt /srv/b.txt"),
        (6, 8, "RUN cat /srv/b.txt"),
        (7, 8, "LABEL a=b"),
        (8, 8, 'LABEL "mlc-pstream"="1"'),
    ]
    logs = [e.message for e in events if e.kind == "log"]
    assert "more" in logs and "building" in logs  # each RUN's output, `cat` of the copied file
    assert not [e for e in events if e.kind == "cache"]
    cached = [e.message for e in build_events(recorded("podman_cached")) if e.kind == "cache"]
    assert cached == [message for _, _, message in steps if not message.startswith("FROM")]


def test_a_failing_podman_step_is_named_with_its_output():
    with pytest.raises(BuildFailed) as caught:
        list(build_events(recorded("podman_failing")))
    assert caught.value.message == "Build step 8/9 failed: RUN echo failing-now && exit 3"
    assert caught.value.output.startswith("failing-now\n")
    assert "exit status 3" in caught.value.output
