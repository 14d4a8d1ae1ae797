"""`check` against a real image: the notebook it was built from edited, an interpreter whose
packages differ, and the REST route the sidebar reads."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from jupyter_mlcontainer.cli.instances import DRIFT_EXIT, add_commands
from jupyter_mlcontainer.engine.base import (
    CODE_SHA256_LABEL,
    KERNEL_PYTHON_LABEL,
    MANAGED_LABEL,
    NAME_LABEL,
    NOTEBOOK_LABEL,
    NOTEBOOK_SHA256_LABEL,
)
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.trust.provenance import check_image
from jupyter_mlcontainer.workflow.build import containerize

from stubs import remove_instance

CELLS = [
    "import numpy as np",
    "labels = np.array(['v1'])",
    "def predict(X):\n    return np.repeat(labels, len(X))",
    "X = np.zeros((4, 2))",
]


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jupyter mlcontainer")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def write_notebook(path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.write_text(nbformat.writes(notebook))


@pytest.fixture(scope="module")
def built(engine, base_image, test_labels, tmp_path_factory) -> tuple[str, object]:
    """(image tag, notebook path) of a numpy-only notebook built with the test labels."""
    folder = tmp_path_factory.mktemp("drift")
    notebook = folder / "drift_model.ipynb"
    write_notebook(notebook, CELLS)
    config = MLContainerConfig(labels=test_labels, base_image=base_image)
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
    result = containerize(options, config=config, out_dir=str(folder / "context"))
    return result.tag, notebook


@pytest.fixture
def notebook(built):
    """The built notebook, restored after a test edits it."""
    path = built[1]
    original = path.read_text()
    yield path
    path.write_text(original)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """An interpreter without numpy: a plain venv (no system site-packages, no pip)."""
    folder = tmp_path_factory.mktemp("venv") / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return str(folder / "bin" / "python")


def test_the_image_records_cells_state_and_kernel(engine, built, test_labels):
    """The labels the Dockerfile states and those given with the build (the notebook's full
    path, the kernel's interpreter) both reach the image, the configured ones included."""
    image, path = built
    labels = engine.image_labels(image)
    assert labels[KERNEL_PYTHON_LABEL] == sys.executable
    assert labels[NOTEBOOK_LABEL] == str(path.resolve())
    assert (labels[NAME_LABEL], labels[MANAGED_LABEL]) == ("drift_model", "true")
    assert len(labels[CODE_SHA256_LABEL]) == len(labels[NOTEBOOK_SHA256_LABEL]) == 64
    assert test_labels.items() <= labels.items()
    files = engine.read_image_files(
        image,
        ["/srv/app/serving.json", "/srv/artifacts/notebook.json", "/srv/artifacts/state.json"],
    )
    serving = json.loads(files["/srv/app/serving.json"])
    notebook = json.loads(files["/srv/artifacts/notebook.json"])
    cells = notebook["cells"]
    assert [cell["index"] for cell in cells] == [0, 1, 2, 3]
    assert all(cell["id"] for cell in cells)
    assert cells[2]["first_line"] == "def predict(X):"
    # a re-training, saved or not, leaves app/ and its layer as they were
    assert "state" not in serving and "notebook" not in serving
    state = json.loads(files["/srv/artifacts/state.json"])
    assert set(state["files"]) == {"labels.joblib"}


def test_unchanged_is_up_to_date(built, notebook, capsys):
    assert cli(["check", built[0], "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "up-to-date"
    assert report["reasons"] == [] and report["cells"] == [] and report["packages"] == []


def test_an_edited_cell_is_named(built, notebook, capsys):
    write_notebook(notebook, [*CELLS[:1], "labels = np.array(['v2'])", *CELLS[2:]])
    # New cell ids: matching falls back to order and source hashes.
    assert cli(["check", built[0], "--json"]) == DRIFT_EXIT
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "notebook-changed"
    assert [(c["kind"], c["index"]) for c in report["cells"]] == [("changed", 1)]
    assert report["details"] == ["cell 1 changed: labels = np.array(['v2'])"]

    assert cli(["check", built[0]]) == 0  # text: for people, always 0
    assert "notebook changed" in capsys.readouterr().out


def test_editing_in_place_keeps_ids(built, notebook, capsys):
    node = nbformat.read(notebook, as_version=4)
    node.cells[3].source = "X = np.ones((4, 2))"
    node.cells.insert(0, nbformat.v4.new_code_cell("print('hello')"))
    nbformat.write(node, notebook)
    report = check_image(check_engine(), built[0])
    assert [(c.kind, c.index) for c in report.cells] == [("added", 0), ("changed", 4)]


def test_outputs_alone_are_no_drift(built, notebook):
    node = nbformat.read(notebook, as_version=4)
    node.cells[0].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nbformat.write(node, notebook)
    report = check_image(check_engine(), built[0])
    assert report.status == "up-to-date"
    assert report.notes == ["the notebook was saved since the build; its code is unchanged"]


def test_a_missing_notebook_is_said(built, notebook, capsys):
    notebook.unlink()
    assert cli(["check", built[0], "--json"]) == DRIFT_EXIT
    assert json.loads(capsys.readouterr().out)["status"] == "notebook-missing"


def test_an_interpreter_without_a_pinned_package_has_drifted(built, bare_python, capsys):
    assert cli(["check", built[0], "--json", "--python", bare_python]) == DRIFT_EXIT
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "environment-drifted"
    assert report["python"] == bare_python
    numpy = next(p for p in report["packages"] if p["name"] == "numpy")
    assert numpy["installed"] is None and numpy["pinned"]
    assert f"numpy {numpy['pinned']} → missing" in report["details"]


def test_an_unknown_name_is_an_error(engine, capsys):
    from jupyter_mlcontainer.cli import main

    assert main(["check", "no-such-instance-or-image", "--json"]) == 1
    assert "No instance or image" in capsys.readouterr().err


@pytest.fixture
def instance(engine, built, test_labels):
    started = engine.run(built[0], labels=test_labels, name=f"drift-{id(built) % 10000}")
    yield started
    remove_instance(engine, started)


async def test_the_rest_route_answers_the_report(jp_fetch, instance, notebook):
    response = await jp_fetch("mlcontainer", "instances", instance.name, "drift")
    report = json.loads(response.body)
    assert report["name"] == instance.name
    assert report["status"] == "up-to-date" and report["summary"] == "up to date"

    write_notebook(notebook, [*CELLS, "print('more')"])
    report = json.loads((await jp_fetch("mlcontainer", "instances", instance.name, "drift")).body)
    assert report["status"] == "notebook-changed"
    assert report["details"] == ["cell 4 added: print('more')"]


async def test_the_rest_route_says_when_there_is_no_such_instance(jp_fetch, engine):
    with pytest.raises(HTTPClientError) as error:
        await jp_fetch("mlcontainer", "instances", "no-such-instance", "drift")
    assert error.value.code == 404


def check_engine():
    from jupyter_mlcontainer.engine import DockerEngine

    return DockerEngine()


def test_the_magic_says_whether_the_instance_is_up_to_date(instance, notebook):
    from jupyter_mlcontainer.notebook.magic import drift_line

    assert drift_line(instance.name) == "drift check: up to date"
    assert drift_line(instance.image) == "drift check: up to date"  # as after a rollout
    notebook.unlink()
    line = drift_line(instance.name)
    assert line.startswith("drift check: notebook missing\n  - ")
    assert drift_line("no-such-instance").startswith("drift check: could not check")
