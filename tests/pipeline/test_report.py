"""The slice report: each statement's verdict and reason as the analyse stage records them,
the values, packages and warnings, and its Markdown and text renderings."""

from __future__ import annotations

from dataclasses import replace

import nbformat
from report_notebook import (
    CONTRACT_OVERRIDES,
    EXPECTED,
    EXPECTED_CONTRACT,
    write_report_notebook,
)

from jupyter_mlcontainer.pipeline.analyse import analyse_notebook
from jupyter_mlcontainer.pipeline.plan import Capture, Environment, ExportOptions
from jupyter_mlcontainer.pipeline.report import slice_report


def test_every_statement_has_its_verdict_and_reason(tmp_path):
    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    verdicts = {(v.cell, v.line): (v.kept, v.reason) for v in plan.verdicts}
    for key, expected in EXPECTED.items():
        assert verdicts[key] == expected, key
    assert [v.cell for v in plan.verdicts] == sorted(v.cell for v in plan.verdicts)
    assert all(not v.kept for v in plan.verdicts if v.cell in (2, 3, 4, 6, 7))
    assert list(plan.state) == ["clf", "lookup"]
    warnings = "\n".join(plan.warnings)
    assert "cell 4 ran as [4] after [5]" in warnings
    assert "cell 1 reads ../outside.csv, outside the notebook's folder" in warnings
    assert "`lookup` is captured by value" in warnings


def test_a_name_nothing_defines_is_a_warning(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "def helper(x):\n    return x", metadata={"tags": ["mlcontainer:skip"]}
        ),
        nbformat.v4.new_code_cell("def predict(rows):\n    return helper(rows)"),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    plan = analyse_notebook(ExportOptions(notebook=str(path)))
    assert any(
        w.startswith("`predict` uses `helper`, which no kept statement defines")
        for w in plan.warnings
    )
    assert plan.verdicts[0].reason == "tagged mlcontainer:skip"


def _capture(modules=("sklearn",)):
    return Capture(
        python="3.11",
        python_full="3.11.2",
        executable="python3",
        state=(
            {
                "name": "clf",
                "file": "clf.joblib",
                "format": "joblib",
                "serializer": "joblib",
                "modules": sorted({"joblib", *modules}),
                "main_references": [],
                "type": "sklearn.linear_model._logistic.LogisticRegression",
                "size": 1234,
            },
        ),
        input={"kind": "ndarray", "dtype": "float64", "shape": [None, 2]},
        request={"instances": [[0.1, 0.2]]},
        expected={"predictions": [0]},
        modules=("joblib", "numpy", "sklearn"),
    )


def _environment():
    return Environment(
        packages={
            "joblib": "1.6.0",
            "numpy": "2.4.6",
            "scikit-learn": "1.9.1",
            "uvicorn": "0.40.0",
        },
        providers={
            "joblib": ["joblib"],
            "numpy": ["numpy"],
            "sklearn": ["scikit-learn"],
            "helpers_outside": [],
        },
        required_by={"numpy": "scikit-learn"},
        imported=("numpy", "sklearn"),
    )


def test_packages_say_what_pulled_them_in_and_sizes_add_up(tmp_path):
    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    report = slice_report(
        plan,
        _capture(),
        _environment(),
        "python:3.11-slim",
        base_size=100_000_000,
        installed={
            "joblib": 1_000_000,
            "numpy": 30_000_000,
            "scikit-learn": 40_000_000,
            "uvicorn": 500_000,
        },
    )
    why = {p.name: p.why for p in report.packages}
    assert why["numpy"] == ("import numpy",)
    assert why["scikit-learn"] == ("pickle of `clf` (sklearn)",)
    assert why["joblib"] == ("pickle of `clf` (joblib)",)
    assert why["uvicorn"] == ("the serving runtime",)
    assert report.values[0].type.endswith("LogisticRegression") and report.values[0].size == 1234
    estimate = report.size_estimate
    assert estimate["python_packages"] == 71_500_000
    assert estimate["total"] == 100_000_000 + 71_500_000 + estimate["app"]
    assert "an estimate" in report.text() and "an estimate" in report.markdown()
    assert not any("pickled with references" in w for w in report.warnings)


def test_a_pickle_of_a_module_the_image_lacks_is_a_warning(tmp_path):
    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    report = slice_report(plan, _capture(("sklearn", "helpers_outside")), _environment(), "base")
    assert any(
        w.startswith("`clf` is pickled with references to the module `helpers_outside`")
        for w in report.warnings
    )
    assert report.size_estimate["total"] is None and "unknown" in report.text()


def test_renderings_are_deterministic_and_readable(tmp_path):
    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    first, second = (
        slice_report(plan, _capture(), _environment(), "base", base_size=1, installed={})
        for _ in range(2)
    )
    assert first.markdown() == second.markdown()
    markdown = first.markdown()
    assert "| 3 | `plt.hist(X[:, 0])` | dropped | a plot |" in markdown
    assert "| 5 | `def predict(rows):` | kept | defines `predict`, the entry point |" in markdown
    text = first.text()
    assert "training that the captured value replaces" in text
    assert first.to_dict()["statements"][0] == {
        "cell": 0,
        "line": "import numpy as np",
        "kept": True,
        "reason": "defines `np`, used by `predict`",
    }


def test_what_the_trial_left_out_is_reported_with_how_to_keep_it(tmp_path):
    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    environment = replace(
        _environment(),
        kept=("joblib",),
        excluded={"pyarrow": "imported by pandas when present; the model answers without it"},
    )
    report = slice_report(plan, _capture(), environment, "base")
    line = (
        "pyarrow: imported by pandas when present; the model answers without it "
        "(`--with pyarrow` keeps it)"
    )
    assert f"## Left out\n\n- {line}\n" in report.markdown()
    assert f"Left out:\n  {line}\n" in report.text()
    assert "kept with --with" in {p.name: p.why for p in report.packages}["joblib"]
    assert (
        "## Left out\n\nNone.\n" in slice_report(plan, _capture(), _environment(), "b").markdown()
    )


def test_the_data_contract_says_what_training_held_and_what_the_notebook_changed(tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from jupyter_mlcontainer.pipeline.profile import training_contract

    plan = analyse_notebook(ExportOptions(notebook=str(write_report_notebook(tmp_path))))
    assert plan.training_source == "the data passed to `clf.fit`"
    assert plan.contract_overrides == CONTRACT_OVERRIDES
    X = np.random.RandomState(0).rand(30, 2)  # as the notebook makes it
    clf = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    capture = replace(_capture(), contract=training_contract(X, clf.predict, "`X`").to_dict())
    report = slice_report(plan, capture, _environment(), "base")
    assert EXPECTED_CONTRACT in report.text()
    assert report.contract.column("0").low == 0 and report.contract.column("0").high == 1
    assert (
        "the notebook's metadata (mlcontainer.contract) names `height`, but the model's input "
        "has no such column (its columns: `0`, `1`): it is ignored"
    ) in report.warnings
    markdown = report.markdown()
    assert "| `1` | float | not nullable | 0.0602255 to 0.944669 |\n" in markdown
    assert "- override from the notebook's metadata: `0`: high 1\n" in markdown
    assert report.to_dict()["contract"]["columns"][0]["name"] == "0"
