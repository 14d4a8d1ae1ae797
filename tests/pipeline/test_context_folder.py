"""The build context folder: created, or emptied only when it holds an earlier context."""

from __future__ import annotations

import pytest

from jupyter_mlcontainer.errors import ContextFolderRefused
from jupyter_mlcontainer.pipeline.render import CONTEXT_MARKER, prepare_destination


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
