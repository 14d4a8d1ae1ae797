"""Values nothing can save stop the build before anything is built, with the statement that
made each; values the served code does not use are never captured; an exception in the kernel
asks to install the package only when it is missing there."""

from __future__ import annotations

import threading

import nbformat
import pytest

from jupyter_mlcontainer.pipeline.capture import capture_state
from jupyter_mlcontainer.pipeline.kernels import kernel_failure
from jupyter_mlcontainer.pipeline.plan import CaptureRequest, ExportOptions
from jupyter_mlcontainer.shared.errors import CaptureError
from jupyter_mlcontainer.workflow.build import containerize

FIX = (
    "Let the image make its own: create each in a cell that the served code keeps (inside the "
    "served function, or a function it calls), or tag the cell that makes it "
    "mlcontainer:include."
)


def _request(tmp_path, state) -> CaptureRequest:
    return CaptureRequest(
        state=tuple(state),
        entry={"kind": "function", "name": "predict", "method": "predict"},
        sample="[[1.0], [2.0]]",
        out_dir=str(tmp_path),
    )


def _predict(rows):
    return [row[0] * 2 for row in rows]


def test_a_lock_a_generator_and_an_open_file_are_refused_with_what_made_them(tmp_path):
    log_path = tmp_path / "requests.log"
    with open(log_path, "a") as log:
        namespace = {
            "In": [
                "",
                "import threading",
                "lock = threading.Lock()\nbatches = (row for row in range(3))",
                f"log = open({str(log_path)!r}, 'a')",
                "def predict(rows):\n    with lock:\n        return rows",
            ],
            "lock": threading.Lock(),
            "batches": (row for row in range(3)),
            "log": log,
            "predict": _predict,
        }
        with pytest.raises(CaptureError) as caught:
            capture_state(namespace, _request(tmp_path, ["batches", "lock", "log"]))

    assert caught.value.message == (
        "Nothing was built: the served code needs values that cannot be saved for the image.\n"
        "- `batches` (generator), made by `batches = (row for row in range(3))` in cell [2]: "
        "pickle refuses it (TypeError: cannot pickle 'generator' object)\n"
        "- `lock` (_thread.lock), made by `lock = threading.Lock()` in cell [2]: "
        "pickle refuses it (TypeError: cannot pickle '_thread.lock' object)\n"
        f"- `log` (_io.TextIOWrapper), made by `log = open({str(log_path)!r}, 'a')` in cell [3]: "
        "it is an open file, and a copy of what it held would not be the file"
    )
    assert caught.value.hint == FIX


def test_a_connection_is_named_with_or_without_the_statement_that_made_it(tmp_path):
    import sqlite3

    connection = sqlite3.connect(":memory:")
    namespace = {"db": connection, "predict": _predict}
    with pytest.raises(CaptureError) as caught:
        capture_state(namespace, _request(tmp_path, ["db"]))
    assert caught.value.message.endswith(
        "- `db` (sqlite3.Connection), made by a statement that is not in the kernel's history: "
        "pickle refuses it (TypeError: cannot pickle 'sqlite3.Connection' object)"
    )

    namespace["In"] = ["", "import sqlite3", "db = sqlite3.connect(\n    ':memory:'\n)"]
    with pytest.raises(CaptureError) as caught:
        capture_state(namespace, _request(tmp_path, ["db"]))
    assert "- `db` (sqlite3.Connection), made by `db = sqlite3.connect( …` in cell [2]:" in (
        caught.value.message
    )
    connection.close()


@pytest.mark.parametrize("mode", ["r", "rb", "w"])
def test_an_open_file_is_refused_whatever_its_mode(tmp_path, mode):
    """cloudpickle would save a file open for reading as a StringIO of what it held."""
    (tmp_path / "data.txt").write_text("rows")
    with open(tmp_path / "data.txt", mode) as data:
        with pytest.raises(CaptureError, match="it is an open file"):
            capture_state({"data": data, "predict": _predict}, _request(tmp_path, ["data"]))


def test_a_value_the_served_code_does_not_use_is_never_captured(tmp_path):
    with open(tmp_path / "notes.txt", "w") as notes:
        namespace = {"notes": notes, "lock": threading.Lock(), "scale": 2, "predict": _predict}
        captured = capture_state(namespace, _request(tmp_path, ["scale"]))
    assert [item["name"] for item in captured.state] == ["scale"]
    assert captured.expected == {"predictions": [2.0, 4.0]}


# -- through the pipeline, in a kernel that ran the notebook ----------------------------------


def _notebook(path, lock_tags=()):
    nb = nbformat.v4.new_notebook()
    cells = [
        ("import threading\nrows = [[1.0], [2.0]]", ()),
        ("lock = threading.Lock()", lock_tags),
        ("journal = open('journal.txt', 'w')", ()),
        ("def predict(rows):\n    with lock:\n        return [r[0] * 2 for r in rows]", ()),
        ("predict(rows)", ()),
    ]
    for source, tags in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)}))
    nbformat.write(nb, path)
    return str(path)


def test_the_build_stops_at_capture_naming_the_lock_the_served_code_uses(tmp_path, kernel):
    notebook = _notebook(tmp_path / "locked.ipynb")
    with pytest.raises(CaptureError) as caught:
        containerize(
            ExportOptions(notebook=notebook), context_only=True, out_dir=str(tmp_path / "ctx")
        )
    assert caught.value.message == (
        "Nothing was built: the served code needs values that cannot be saved for the image.\n"
        "- `lock` (_thread.lock), made by `lock = threading.Lock()` in cell [2]: "
        "pickle refuses it (TypeError: cannot pickle '_thread.lock' object)"
    )
    assert caught.value.hint == FIX
    assert not (tmp_path / "ctx" / "Dockerfile").exists()


def test_tagging_the_cell_that_makes_it_lets_the_image_make_its_own(tmp_path, kernel):
    notebook = _notebook(tmp_path / "locked.ipynb", lock_tags=["mlcontainer:include"])
    containerize(ExportOptions(notebook=notebook), context_only=True, out_dir=str(tmp_path / "ctx"))
    module = (tmp_path / "ctx" / "app" / "notebook_code.py").read_text()
    assert "lock = threading.Lock()" in module and "load_state" not in module
    assert "journal" not in module, "the unused open file is neither kept nor captured"
    report = (tmp_path / "ctx" / "REPORT.md").read_text()
    assert "None: the served code needs no value from the kernel." in report


# -- what an exception in the kernel asks of the user ------------------------------------------


def test_only_a_kernel_without_the_package_is_asked_to_install_it():
    missing = kernel_failure(
        {"ename": "ModuleNotFoundError", "evalue": "No module named 'jupyter_mlcontainer'"}
    )
    assert missing.message == (
        "The notebook's kernel cannot import jupyter_mlcontainer: jupyter-mlcontainer is "
        "missing from the kernel's environment, or is another version there."
    )
    assert missing.hint.startswith("Install jupyter-mlcontainer ")

    older = kernel_failure(
        {
            "ename": "ModuleNotFoundError",
            "evalue": "No module named 'jupyter_mlcontainer.pipeline.formats'",
        }
    )
    assert "cannot import jupyter_mlcontainer.pipeline.formats" in older.message

    other = kernel_failure(
        {
            "ename": "ModuleNotFoundError",
            "evalue": "No module named 'onnxruntime'",
            "traceback": ["\x1b[0;31mModuleNotFoundError\x1b[0m: No module named 'onnxruntime'"],
        }
    )
    assert other.message == (
        "Capturing the notebook's state failed in the kernel: "
        "ModuleNotFoundError: No module named 'onnxruntime'"
    )
    assert "Install" not in other.hint and "installed" not in other.hint
    assert other.output == "ModuleNotFoundError: No module named 'onnxruntime'"
