"""The build context folder: created, or emptied only when it holds an earlier context."""

from __future__ import annotations

import pytest

from jupyter_mlcontainer.pipeline.render import CONTEXT_MARKER, prepare_destination
from jupyter_mlcontainer.shared.errors import ContextFolderRefused


def earlier_context(folder):
    prepare_destination(folder)
    (folder / "Dockerfile").write_text("FROM base\n")
    (folder / "app").mkdir()
    (folder / "app" / "notebook_code.py").write_text("x = 1\n")
    return folder


def test_a_new_folder_is_created_with_its_marker(tmp_path):
    state = prepare_destination(tmp_path / "new" / "context")
    assert state == tmp_path / "new" / "context" / "artifacts" / "state" and state.is_dir()
    assert (tmp_path / "new" / "context" / CONTEXT_MARKER).is_file()


def test_an_empty_folder_and_the_current_one_are_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert prepare_destination(".").is_dir()
    assert (tmp_path / CONTEXT_MARKER).is_file()


def test_an_earlier_context_is_replaced(tmp_path):
    folder = earlier_context(tmp_path / "context")
    prepare_destination(folder)
    assert sorted(p.name for p in folder.iterdir()) == [CONTEXT_MARKER, "artifacts"]


@pytest.mark.parametrize("with_marker", [True, False])
def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path, with_marker):
    folder = earlier_context(tmp_path / "context") if with_marker else tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / "thesis.tex").write_text("precious")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    with pytest.raises(ContextFolderRefused, match="thesis.tex"):
        prepare_destination(folder)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_a_folder_of_context_names_without_the_marker_is_refused(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM my-own-base\n")
    with pytest.raises(ContextFolderRefused, match="Dockerfile"):
        prepare_destination(tmp_path)
    assert (tmp_path / "Dockerfile").read_text() == "FROM my-own-base\n"


def test_links_and_files_are_refused(tmp_path):
    target = earlier_context(tmp_path / "context")
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "absent")
    (tmp_path / "file").write_text("data")
    for path in ("link", "dangling", "file"):
        with pytest.raises(ContextFolderRefused, match="link or a file"):
            prepare_destination(tmp_path / path)
    assert (target / "Dockerfile").is_file()


def test_a_full_disk_is_said_plainly_and_the_next_build_elsewhere_works(tmp_path, kernel):
    """A context folder on a 64 KiB tmpfs: writing it fails with DiskFull naming the file and
    --out; the same notebook then builds its context in a folder with room."""
    import os
    import shutil
    import subprocess

    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.shared.errors import DiskFull
    from jupyter_mlcontainer.workflow.build import containerize

    from retrained import trained_notebook

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    notebook = trained_notebook(tmp_path / "model.ipynb", "v1")
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
    config = MLContainerConfig(base_image="python:3.11-slim")
    try:
        with pytest.raises(DiskFull) as failure:
            containerize(options, config=config, out_dir=str(small / "ctx"), context_only=True)
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert "No space left on device while writing" in failure.value.message
    assert str(small / "ctx") in failure.value.message and "--out DIR" in failure.value.hint
    built = containerize(options, config=config, out_dir=str(tmp_path / "ctx"), context_only=True)
    assert (tmp_path / "ctx" / "Dockerfile").is_file() and built.name == "model"
