"""The Docker engine layer against a real engine."""

from __future__ import annotations

import pytest

from jupyter_mlcontainer.engine.docker import external_images
from jupyter_mlcontainer.shared.errors import BaseImageMissing, BuildFailed

pytestmark = pytest.mark.engine


def test_builds_from_the_base_image_and_runs_a_container(engine, base_image, test_labels, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        "RUN python3 -c \"open('/greeting', 'w').write('hello from the image')\"\n"
        'CMD ["python3", "-c", "import sys; print(open(\'/greeting\').read(), sys.version_info[:2])"]\n'
    )
    tag = "mlcontainer-test/tiny:latest"
    events = list(engine.build(tmp_path, tag, labels=test_labels))

    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, steps[0].total + 1))
    assert steps[0].message == f"FROM {base_image}"
    output = engine.run_command(tag, [], labels=test_labels)
    assert output.strip() == "hello from the image (3, 11)"

    rebuilt = list(engine.build(tmp_path, tag, labels=test_labels))
    assert any(e.kind == "cache" for e in rebuilt), "an unchanged context must rebuild from cache"


def test_a_failing_step_raises_with_its_output(engine, base_image, test_labels, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN echo about to fail && python3 -c 'raise SystemExit(3)'\n"
    )
    with pytest.raises(BuildFailed) as caught:
        list(engine.build(tmp_path, "mlcontainer-test/failing:latest", labels=test_labels))
    assert "step 2/" in caught.value.message
    assert "about to fail" in caught.value.output


def test_a_missing_base_image_says_how_to_make_one(engine, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM 127.0.0.1:9/mlcontainer-test/absent:1\n")
    with pytest.raises(BaseImageMissing) as caught:
        list(engine.build(tmp_path, "mlcontainer-test/never:latest"))
    assert "jupyter mlcontainer base-image" in caught.value.hint


def test_external_images_skip_build_stages():
    dockerfile = (
        "FROM base:1 AS builder\nRUN true\nFROM base:1\nCOPY --from=builder / /\nFROM builder\n"
    )
    assert external_images(dockerfile) == ["base:1"]
