"""The trial run: the rendered serving code in a fresh interpreter, before any image exists."""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

from jupyter_mlcontainer.pipeline.plan import Capture, ServingPlan
from jupyter_mlcontainer.pipeline.render import prepare_destination, render_serving_files
from jupyter_mlcontainer.pipeline.trial import trial_run
from jupyter_mlcontainer.runtime.spec import (
    NOTEBOOK_RECORD,
    SERVING_SPEC,
    STATE_RECORD,
    NotebookRecord,
    StateRecord,
)
from jupyter_mlcontainer.shared.errors import TrialFailed


def _context(tmp_path, code: str, expected: list):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    plan = ServingPlan(
        notebook=str(notebook),
        notebook_sha256="0" * 64,
        name="nb",
        entry_kind="function",
        entry_name="predict",
        method="predict",
        code=(code,),
    )
    capture = Capture(
        python="3.11",
        python_full="3.11.2",
        executable=sys.executable,
        state=(),
        input={"kind": "list"},
        request={"instances": [1, 2]},
        expected={"predictions": expected},
        modules=(),
    )
    context = tmp_path / "context"
    prepare_destination(context)
    render_serving_files(plan, capture, context, [])
    return context


def test_a_module_imported_only_at_predict_time_is_pinned(tmp_path):
    code = "def predict(rows):\n    import threadpoolctl\n    return [r * 2 for r in rows]"
    context = _context(tmp_path, code, [2, 4])
    result = trial_run(sys.executable, context, [], [], [])
    assert "threadpoolctl" in result.modules, "no kept statement imports it at the top level"
    assert result.packages["threadpoolctl"] == metadata.version("threadpoolctl")
    assert "uvicorn" in result.packages
    assert "row 0 PASS" in result.report
    assert not list((context / "artifacts").glob(".trial*")), "the trial leaves no files behind"


def test_the_build_keeps_its_records_beside_the_state_not_in_app(tmp_path):
    """A re-training changes the records, so they stay out of app/ (and its image layer)."""
    context = _context(tmp_path, "def predict(rows):\n    return [r * 2 for r in rows]", [2, 4])
    serving = json.loads((context / SERVING_SPEC).read_text())
    assert "notebook" not in serving and "state" not in serving
    StateRecord.from_json((context / STATE_RECORD).read_text())
    NotebookRecord.from_json((context / NOTEBOOK_RECORD).read_text())


def test_a_context_given_by_a_relative_path_runs_its_trial(tmp_path, monkeypatch):
    """`build nb.ipynb --out build/`: the trial runs in a folder of its own."""
    _context(tmp_path, "def predict(rows):\n    return [r * 2 for r in rows]", [2, 4])
    monkeypatch.chdir(tmp_path)
    assert "row 0 PASS" in trial_run(sys.executable, Path("context"), [], [], []).report


def test_a_name_the_kept_code_does_not_define_stops_the_build_with_the_fix(tmp_path):
    context = _context(tmp_path, "def predict(rows):\n    return [r * SCALE for r in rows]", [2, 4])
    with pytest.raises(TrialFailed) as caught:
        trial_run(sys.executable, context, [], [], [])
    assert "NameError: name 'SCALE' is not defined" in caught.value.message
    assert "mlcontainer:include" in caught.value.hint
    assert "notebook_code.py" in caught.value.output, "the traceback is kept"


def test_an_answer_unlike_the_notebooks_stops_the_build(tmp_path):
    context = _context(tmp_path, "def predict(rows):\n    return [r * 3 for r in rows]", [2, 4])
    with pytest.raises(TrialFailed, match="row 0 FAIL"):
        trial_run(sys.executable, context, [], [], [])


def test_a_python_without_the_package_is_explained(tmp_path):
    context = _context(tmp_path, "def predict(rows):\n    return rows", [1, 2])
    with pytest.raises(TrialFailed) as caught:
        trial_run("/usr/bin/env", context, [], [], [])
    assert "installed in the kernel's environment" in caught.value.hint


def test_a_rebuild_after_retraining_reuses_the_trial_until_a_package_changes(
    tmp_path, monkeypatch, kernel
):
    """Re-trained, the same notebook's trial is reused (its key holds no value bytes); a pinned
    version the interpreter no longer has makes the next build run it again."""
    import json

    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import cache_dir
    from jupyter_mlcontainer.workflow.build import containerize

    from retrained import trained_notebook

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def build(label):
        notebook = trained_notebook(tmp_path / "model.ipynb", label)
        options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
        logs = []
        containerize(
            options,
            context_only=True,
            out_dir=str(tmp_path / "context"),
            on_event=lambda event: logs.append(event.message),
        )
        return [line for line in logs if line.startswith("trial run")]

    assert build("v1")[0].startswith("trial run PASS")
    assert build("v2")[0].startswith("trial run reused")
    (stored,) = cache_dir("trials").glob("*.json")
    data = json.loads(stored.read_text())
    data["packages"]["numpy"] = "0.0.1"  # as if numpy had been upgraded since
    stored.write_text(json.dumps(data))
    assert build("v3")[0].startswith("trial run PASS")


# -- the closure: what the served code answers without is left out ---------------------------

OPTIONAL = "closure_optional"


@pytest.fixture
def crowded(tmp_path, monkeypatch):
    """A distribution installed beside the kernel's that no served code declares."""
    from fakedist import install_fake

    site = install_fake(tmp_path / "site", OPTIONAL, "FACTOR = 2\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))


GUARDED = f"try:\n    from {OPTIONAL} import FACTOR\nexcept ImportError:\n    FACTOR = 1\n\n"


def test_a_guarded_import_the_answer_does_not_need_is_left_out(tmp_path, crowded):
    code = GUARDED + "def predict(rows):\n    return [r * 2 for r in rows]"
    result = trial_run(sys.executable, _context(tmp_path, code, [2, 4]), [], [], [])
    assert "closure-optional" not in result.packages
    assert OPTIONAL not in result.modules
    assert result.excluded == {
        "closure-optional": "imported by the served code when present; the model answers without it"
    }
    assert result.trials == 1


def test_with_keeps_what_the_model_answers_without(tmp_path, crowded):
    code = GUARDED + "def predict(rows):\n    return [r * 2 for r in rows]"
    context = _context(tmp_path, code, [2, 4])
    result = trial_run(sys.executable, context, [], [], [], keep=("closure-optional",))
    assert result.packages["closure-optional"] == "1.0" and not result.excluded


def test_a_distribution_the_answer_depends_on_stays(tmp_path, crowded):
    """The model loads without it, but answers otherwise: the answer needs it."""
    code = GUARDED + "def predict(rows):\n    return [r * FACTOR for r in rows]"
    result = trial_run(sys.executable, _context(tmp_path, code, [2, 4]), [], [], [])
    assert result.packages["closure-optional"] == "1.0" and not result.excluded
    assert result.trials == 2, "without it, then with it"


def test_rows_the_sample_lacks_can_keep_a_distribution(tmp_path, crowded):
    """Only rows above 10 need it: the sample passes without it, a probe does not."""
    code = GUARDED + "def predict(rows):\n    return [r * (FACTOR if r > 10 else 2) for r in rows]"
    context = _context(tmp_path, code, [2, 4])
    without_probe = trial_run(sys.executable, context, [], [], [])
    assert "closure-optional" in without_probe.excluded
    probe = {"name": "a row of the data", "request": {"instances": [20]}, "expected": [40]}
    with_probe = trial_run(sys.executable, context, [], [], [], probes=(probe,))
    assert with_probe.packages["closure-optional"] == "1.0" and not with_probe.excluded


def test_a_crowded_environment_leaves_pyarrow_and_polars_out(tmp_path, monkeypatch, kernel):
    """pandas imports pyarrow whenever it is installed; a forest fitted on a DataFrame answers
    without it (the sample, its rows alone and rows of its training data), and so does the
    re-build that reuses the trial."""
    import nbformat

    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    for crowding in ("pyarrow", "polars"):
        pytest.importorskip(crowding, reason=f"pip install {crowding}: the crowded environment")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = (
        "from sklearn.datasets import load_iris\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "frame = load_iris(as_frame=True).frame\n"
        "X, y = frame.drop(columns='target'), frame['target']\n"
        "clf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)\n"
    )
    notebook = tmp_path / "crowded.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), notebook)

    def build():
        logs = []
        result = containerize(
            ExportOptions(notebook=str(notebook), model="clf"),
            config=MLContainerConfig(download_wheels=False),
            context_only=True,
            out_dir=str(tmp_path / "context"),
            on_event=lambda event: logs.append(event.message),
        )
        lock = (tmp_path / "context" / "requirements.lock").read_text().splitlines()
        pinned = {line.split("==")[0] for line in lock if "==" in line}
        return result, pinned, [line for line in logs if line.startswith("trial run")]

    result, pinned, trial = build()
    assert {"pandas", "scikit-learn"} <= pinned
    assert not {"pyarrow", "polars"} & pinned
    assert trial[0].startswith("trial run PASS (1 trial)")
    assert result.report.left_out["pyarrow"].startswith("imported by pandas when present")
    assert "pyarrow: imported by pandas" in (tmp_path / "context" / "REPORT.md").read_text()
    again, pinned_again, trial = build()
    assert trial[0].startswith("trial run reused") and pinned_again == pinned
    assert again.report.left_out == result.report.left_out


# -- declared dependencies: what a library declares but the model never imports -------------

LIBRARY, PLOTTING = "closure_lib", "closure_plot"


@pytest.fixture
def declaring(tmp_path, monkeypatch):
    """`closure_lib` declares `closure_plot` (as catboost declares matplotlib); `source` is
    what importing closure_lib runs."""

    def install(source: str = "") -> Path:
        from fakedist import install_fake

        site = install_fake(tmp_path / "site", PLOTTING, "def plot():\n    return 'a plot'\n")
        install_fake(site, LIBRARY, source + "SCALE = 2\n", requires=(PLOTTING,))
        path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
        monkeypatch.setenv("PYTHONPATH", path)
        return site

    return install


USES_LIBRARY = (
    f"import {LIBRARY}\n\ndef predict(rows):\n    return [r * {LIBRARY}.SCALE for r in rows]"
)


def _with_library(tmp_path, keep=()):
    context = _context(tmp_path, USES_LIBRARY, [2, 4])
    return trial_run(sys.executable, context, [LIBRARY], [], [], keep=keep)


def test_a_declared_dependency_the_model_never_imports_is_left_out(tmp_path, declaring):
    declaring()
    result = _with_library(tmp_path)
    assert result.packages["closure-lib"] == "1.0" and "closure-plot" not in result.packages
    assert result.excluded == {
        "closure-plot": "declared by closure-lib, never imported by the model; "
        "it answers without it"
    }
    assert "closure-plot" not in result.required_by
    assert {"uvicorn", "h11", "click"} <= set(result.packages), "the runtime's closure stays"
    assert result.trials == 2, "the trial, then the proof without closure-plot"
    assert not result.warnings


def test_a_declared_dependency_the_model_imports_stays(tmp_path, declaring):
    declaring(f"import {PLOTTING}\n")
    result = _with_library(tmp_path)
    assert result.packages["closure-plot"] == "1.0" and not result.excluded
    assert result.trials == 1, "nothing to prove: no further trial"


def test_a_dependency_whose_metadata_the_library_reads_stays(tmp_path, declaring):
    """Never imported, but its version looked up at import: the proof fails without it, the
    image keeps the declared dependencies, and a warning names the one that failed it."""
    declaring(
        f"import importlib.metadata\nPLOT_VERSION = importlib.metadata.version('{PLOTTING}')\n"
    )
    result = _with_library(tmp_path)
    assert result.packages["closure-plot"] == "1.0" and not result.excluded
    assert result.trials == 2
    (warning,) = result.warnings
    assert "without closure-plot (declared by closure-lib) the served code fails" in warning
    assert "PackageNotFoundError" in warning


def test_with_keeps_a_declared_dependency_the_model_never_imports(tmp_path, declaring):
    declaring()
    result = _with_library(tmp_path, keep=(PLOTTING,))
    assert result.packages["closure-plot"] == "1.0" and not result.excluded
    assert result.trials == 1


def test_the_trial_cache_brings_back_the_lean_set(tmp_path, declaring, monkeypatch):
    from jupyter_mlcontainer.pipeline.trialcache import remember_trial, reused_trial

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    declaring()
    result = _with_library(tmp_path)
    remember_trial("0" * 64, result)
    again = reused_trial("0" * 64, sys.executable)
    assert again == result and "closure-plot" in again.excluded
    assert "closure-plot" not in again.packages
