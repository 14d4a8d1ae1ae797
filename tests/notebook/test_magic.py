"""%containerize: argument parsing and error paths in an in-process IPython shell, then the
example notebook run by nbclient in a real kernel against the real engine."""

from __future__ import annotations

import _thread
import json
import re
import shutil
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_mlcontainer.engine.base import NAME_LABEL, NOTEBOOK_LABEL
from jupyter_mlcontainer.notebook.instance import request_body
from jupyter_mlcontainer.notebook.magic import (
    ContainerizeMagics,
    find_notebook,
    live_reference,
    load_ipython_extension,
    run_cancellable,
    saved_version_note,
)
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.errors import (
    JobCancelled,
    MLContainerError,
    NotebookError,
    NotebookNotFound,
)
from jupyter_mlcontainer.workflow.contexts import context_folder

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "containerize_magic.ipynb"


@pytest.fixture(scope="module")
def shell():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_mlcontainer")
    return shell


@pytest.fixture
def user_ns(shell, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    saved = dict(shell.user_ns)
    shell.user_ns.pop("__session__", None)
    yield shell.user_ns
    shell.user_ns.clear()
    shell.user_ns.update(saved)


def test_usage_is_real_argparse_usage():
    usage = ContainerizeMagics.containerize.__doc__
    assert "%containerize [--model VAR] [--entry NAME] [--method NAME]" in usage
    assert "[--sample EXPR]" in usage and "[--system-package NAME]" in usage
    assert "[--no-run]" in usage and "[--port N]" in usage
    assert "[--notebook PATH]" in usage and "[VAR]" in usage


def test_an_unknown_variable_lists_close_matches(shell, user_ns):
    user_ns.update(clf=object(), clf_old=object(), scaler=object())
    with pytest.raises(
        UsageError, match=r"'clf_odl' is not defined in this kernel. Did you mean: clf_old, clf\?"
    ):
        shell.run_line_magic("containerize", "clf_odl")


def test_bad_arguments_read_like_argparse(shell, user_ns):
    user_ns.update(clf=object(), n=3)
    with pytest.raises(UsageError, match="argument --port: invalid int value: 'x'"):
        shell.run_line_magic("containerize", "clf --port x")
    with pytest.raises(UsageError, match="not both"):
        shell.run_line_magic("containerize", "clf --entry n")
    with pytest.raises(UsageError, match="--entry n is a int, not a function"):
        shell.run_line_magic("containerize", "--entry n")


def test_without_a_known_notebook_the_error_says_how_to_name_it(shell, user_ns):
    user_ns["clf"] = object()
    with pytest.raises(
        NotebookError, match="Cannot tell which notebook this kernel runs"
    ) as caught:
        shell.run_line_magic("containerize", "clf")
    assert "--notebook path/to/notebook.ipynb" in caught.value.hint


def test_errors_show_as_one_line_not_a_traceback(shell, user_ns, capsys):
    user_ns["clf"] = object()
    shell.run_cell("%containerize clf --notebook /nonexistent/model.ipynb")
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "NotebookNotFound" in text and "There is no notebook at /nonexistent/model.ipynb" in text
    assert "Traceback" not in text and "magic.py" not in text


def test_the_notebook_comes_from_the_session_then_the_environment(tmp_path, monkeypatch):
    first, second = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    for path in (first, second):
        nbformat.write(new_notebook(), path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(second))
    assert find_notebook({"__session__": str(first)}) == first
    assert find_notebook({}) == second
    assert find_notebook({"__session__": str(first)}, explicit=str(second)) == second
    with pytest.raises(NotebookNotFound):
        find_notebook({}, explicit=str(tmp_path / "missing.ipynb"))
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "console-1"))  # a console, not a notebook
    with pytest.raises(NotebookError, match="Cannot tell"):
        find_notebook({})


def test_unsaved_changes_are_named_with_the_saved_time(shell, user_ns, tmp_path):
    path = tmp_path / "model.ipynb"
    nbformat.write(
        new_notebook(
            cells=[new_code_cell("x = 1"), new_code_cell("%load_ext jupyter_mlcontainer")]
        ),
        path,
    )
    magic_line = shell.transform_cell("%load_ext jupyter_mlcontainer")
    user_ns["In"] = ["", "x = 1\n", magic_line, "%containerize x  # the running cell"]
    assert saved_version_note(shell, path) is None
    user_ns["In"] = ["", "x = 1\n", "x = 2\n", "%containerize x"]
    note = saved_version_note(shell, path)
    assert re.fullmatch(
        r"The notebook has unsaved changes; used the version saved at \d\d:\d\d\.", note
    )


def test_loading_without_ipython_is_a_clear_error():
    with pytest.raises(MLContainerError, match="needs IPython"):
        load_ipython_extension(None)


def test_request_bodies_match_what_the_runtime_expects():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert request_body(frame) == {"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}
    assert request_body(np.arange(4.0).reshape(2, 2)) == {"instances": [[0.0, 1.0], [2.0, 3.0]]}
    assert request_body([[1, 2]]) == {"instances": [[1, 2]]}
    assert request_body({"inputs": {"a": [1]}}) == {"inputs": {"a": [1]}}
    with pytest.raises(TypeError, match="batch of rows"):
        request_body(3.5)


def test_the_live_reference_sees_the_input_the_container_builds(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    app = tmp_path / "app"
    app.mkdir()
    spec = {
        "kind": "dataframe",
        "columns": list(X.columns),
        "dtypes": {c: "float64" for c in X.columns},
    }
    entry = {"kind": "model", "name": "model", "method": "predict"}
    (app / "serving.json").write_text(json.dumps({"entry": entry, "input": spec}))
    reference = live_reference({"model": model}, tmp_path)
    rows = X.iloc[[0, 60, 120]]
    # Columns in another order, as a client may send them: the runtime's conversion reorders them.
    shuffled = [dict(reversed(list(row.items()))) for row in rows.to_dict(orient="records")]
    assert reference({"instances": shuffled}) == model.predict(rows).tolist() == [0, 1, 2]


# -- against the real engine ---------------------------------------------------------------


@pytest.fixture
def kernel_env(monkeypatch, base_image, test_labels):
    """What the kernel inherits: the test's labels on everything the build makes."""
    monkeypatch.setenv("MLCONTAINER_LABELS", ",".join(f"{k}={v}" for k, v in test_labels.items()))
    monkeypatch.setenv("MLCONTAINER_BASE_IMAGE", base_image)


@pytest.fixture
def notebook_copy(tmp_path):
    path = tmp_path / "containerize_magic.ipynb"
    shutil.copy(EXAMPLE, path)
    return path


def _states(client, model: str) -> list[dict]:
    """The synced state of every widget of one model type the kernel created."""
    return [state for state in client.widget_state.values() if state.get("_model_name") == model]


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_the_example_notebook_serves_its_model_from_the_kernel(
    engine, kernel_env, notebook_copy, monkeypatch, test_labels
):
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    from jupyter_mlcontainer.running.client import ServingClient

    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook_copy))  # as jupyter_server tells a kernel
    notebook = nbformat.read(notebook_copy, as_version=4)
    *cells, stop_cell = notebook.cells
    assert stop_cell.source == "inst.stop()"
    client = NotebookClient(
        notebook, km=KernelManager(kernel_name="python3"), timeout=500, store_widget_state=True
    )
    with client.setup_kernel(cwd=str(notebook_copy.parent)):
        for index, cell in enumerate(cells):
            client.execute_cell(cell, index)
        magic_cell = next(cell for cell in cells if cell.source.startswith("inst = %containerize"))
        shown = [output["data"]["text/plain"] for output in magic_cell.outputs if "data" in output]
        assert shown[0].startswith("BuildProgress(") and shown[1].startswith("TestPanel(")
        url = re.search(
            r"<ServingInstance iris-magic\S* (http://127\.0\.0\.1:\d+) ", shown[2]
        ).group(1)

        html = "\n".join(state.get("value", "") for state in _states(client, "HTMLModel"))
        assert "parity PASS" in html  # the build's verdict in the progress widget
        assert "Parity PASS</b>: all 5 rows match" in html  # the panel's own parity check
        assert "100 requests at concurrency 4" in html
        bars = _states(client, "FloatProgressModel")
        assert bars[0]["bar_style"] == "success" and bars[0]["value"] == bars[0]["max"]

        predict_cell = next(cell for cell in cells if "inst.predict(X_test" in cell.source)
        printed = "".join(output.get("text", "") for output in predict_cell.outputs)
        container, kernel = re.findall(r"\[[\d, ]+\]", printed)
        assert container == kernel

        answer = ServingClient(url).predict(
            {
                "instances": [
                    {
                        "sepal length (cm)": 6.1,
                        "sepal width (cm)": 2.8,
                        "petal length (cm)": 4.7,
                        "petal width (cm)": 1.2,
                    }
                ]
            }
        )
        assert answer.status == 200 and answer.body == {"predictions": [1]}
        running = engine.list_instances(labels=test_labels)
        assert url in [instance.url for instance in running]
        built = engine.image_labels(next(i.image for i in running if i.url == url))
        kept = context_folder(built[NAME_LABEL], built[NOTEBOOK_LABEL])  # what prune keeps
        assert (kept / "Dockerfile").is_file()

        refused = new_code_cell(
            "from jupyter_mlcontainer.shared.errors import PredictionFailed\n"
            "try:\n    inst.predict([['not', 'numbers']])\n"
            "except PredictionFailed as error:\n    print('refused', error.status)"
        )
        notebook.cells.insert(len(cells), refused)
        client.execute_cell(refused, len(cells))
        assert re.match(r"refused 4\d\d", refused.outputs[0]["text"])

        retrained = new_code_cell(
            "clf.fit(X_train, (y_train + 1) % 3)\n"
            "stale = inst.check()\n"
            "print('before', stale.summary(), stale.details())\n"
            "inst.redeploy()\n"
            "print('after', inst.check().summary())\n"
            "print('same url', inst.url)\n"
            "print(inst.predict(X_test[:5]) == clf.predict(X_test[:5]).tolist())"
        )
        notebook.cells.insert(len(cells) + 1, retrained)
        client.execute_cell(retrained, len(cells) + 1)
        printed = "".join(output.get("text", "") for output in retrained.outputs)
        assert (
            "before model changed in the kernel "
            "['clf differs from the captured one (re-trained or changed)']" in printed
        )
        assert "after up to date" in printed
        assert "replaced: mlcontainer/iris-magic" in printed and "(changed)" in printed
        assert f"same url {url}\nTrue" in printed
        # the replaced instance drains for a second after redeploy() returns, then is gone
        deadline = time.monotonic() + 15
        while [i.url for i in engine.list_instances(labels=test_labels)].count(url) > 1:
            assert time.monotonic() < deadline, "the replaced instance outlived its drain"
            time.sleep(0.2)

        client.execute_cell(stop_cell, len(cells) + 2)
    assert url not in [
        instance.url for instance in engine.list_instances(all=True, labels=test_labels)
    ]


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_the_stop_button_cancels_and_leaves_nothing_running(
    engine, kernel_env, notebook_copy, test_labels
):
    """A KeyboardInterrupt in the waiting thread (what the kernel's stop button raises)."""
    from jupyter_mlcontainer.pipeline.kernels import InProcessKernel

    namespace: dict = {}
    source = nbformat.read(notebook_copy, as_version=4)
    for cell in source.cells[:4]:
        if cell.cell_type == "code":
            exec(cell.source, namespace)  # noqa: S102 - the example's training cells
    stages: list = []
    interrupted = threading.Event()

    def on_event(event):
        stages.append(event.stage)
        if event.stage == "build" and not interrupted.is_set():
            interrupted.set()
            _thread.interrupt_main()

    options = ExportOptions(
        notebook=str(notebook_copy), model="clf", sample="X_test[:5]", name="iris-cancel", run=True
    )
    with pytest.raises(JobCancelled, match="cancelled; nothing was left running"):
        run_cancellable(options, InProcessKernel(namespace), on_event)
    assert interrupted.is_set() and "check" not in stages
    left = engine.list_instances(all=True, labels=test_labels)
    assert not [instance for instance in left if instance.name.startswith("iris-cancel")]


def _magic_cell_output(example: str, cell: str, tmp_path, monkeypatch) -> str:
    """Run a copy of an example in a real kernel with `cell` appended; what that cell printed."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = tmp_path / example
    shutil.copy(EXAMPLE.parent / example, path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(new_code_cell(cell))
    client = NotebookClient(notebook, km=KernelManager(kernel_name="python3"), timeout=800)
    with client.setup_kernel(cwd=str(tmp_path)):
        for index, code in enumerate(notebook.cells):
            client.execute_cell(code, index)
    return "".join(output.get("text", "") for output in notebook.cells[-1].outputs)


@pytest.mark.engine
@pytest.mark.timeout(900)
def test_a_torch_model_ending_in_numpy_serves_from_the_live_kernel(
    engine, kernel_env, tmp_path, monkeypatch, test_labels
):
    """torch's `.numpy()` needs numpy, which no kept statement imports: the trial run finds it."""
    printed = _magic_cell_output(
        "torch_numpy.ipynb",
        "%load_ext jupyter_mlcontainer\n"
        "inst = %containerize predict --sample sample_rows --name torch-magic\n"
        "print('same:', inst.predict(sample_rows) == predict(sample_rows).tolist())\n"
        "inst.stop()",
        tmp_path,
        monkeypatch,
    )
    assert "same: True" in printed
    serving = json.loads(
        engine.run_command(
            "mlcontainer/torch-magic:latest", ["cat", "/srv/app/serving.json"], labels=test_labels
        )
    )
    assert "numpy" in serving["packages"]


@pytest.mark.engine
@pytest.mark.timeout(900)
def test_an_onnx_runtime_session_serves_from_the_live_kernel(
    engine, kernel_env, tmp_path, monkeypatch, test_labels
):
    """Pickle refuses an InferenceSession: the live kernel's is saved as its model and options,
    and the image answers as the kernel's session does."""
    printed = _magic_cell_output(
        "onnx_runtime_iris.ipynb",
        "%load_ext jupyter_mlcontainer\n"
        "inst = %containerize predict --sample X_test[:5] --name onnx-magic\n"
        "print('same:', inst.predict(X_test[:5]) == predict(X_test[:5]).tolist())\n"
        "inst.stop()",
        tmp_path,
        monkeypatch,
    )
    assert "same: True" in printed, printed
    state = json.loads(
        engine.run_command(
            "mlcontainer/onnx-magic:latest",
            ["cat", "/srv/artifacts/state.json"],
            labels=test_labels,
        )
    )
    assert any(name.startswith("sess") for name in state["files"]), state


def test_explain_shows_the_slice_report_and_builds_nothing(
    shell, user_ns, tmp_path, capsys, monkeypatch
):
    from report_notebook import CELLS, write_report_notebook

    path = write_report_notebook(tmp_path)
    monkeypatch.chdir(path.parent)  # the notebook reads ../outside.csv
    for source, tags, _ in CELLS:
        if "mlcontainer:skip" not in tags:
            shell.run_cell(source)
    result = shell.run_line_magic("containerize", f"--explain --notebook {path}")
    assert result is None
    out = capsys.readouterr().out
    assert "Slice report for model.ipynb: serving predict(inputs)" in out
    assert "training that the captured value replaces" in out
    assert "clf: sklearn.linear_model._logistic.LogisticRegression, joblib" in out
