"""The headless front doors: `jupyter mlcontainer build` and `jupyter nbconvert --to mlcontainer`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from build_summary import assert_matches_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*command, cwd=None):
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_build_context_only_prints_json(tmp_path, kernel):
    result = _run(
        "jupyter",
        "mlcontainer",
        "build",
        str(EXAMPLES / "one_cell.ipynb"),
        "--context-only",
        "--out",
        str(tmp_path / "ctx"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert_matches_schema(summary)
    assert summary["context"] == str(tmp_path / "ctx")
    assert summary["tag"] == "" and summary["instance"] is None
    assert summary["sample"]["expected"]["predictions"]
    assert (tmp_path / "ctx" / "Dockerfile").is_file()
    assert "==> Analysing one_cell.ipynb" not in result.stdout, "progress goes to stderr"


def test_build_reports_a_missing_entry_with_its_candidates(tmp_path):
    result = _run(
        "jupyter",
        "mlcontainer",
        "build",
        str(EXAMPLES / "one_cell.ipynb"),
        "--entry",
        "nope",
        "--context-only",
        "--out",
        str(tmp_path / "ctx"),
    )
    assert result.returncode == 1
    assert "defines no function named 'nope'" in result.stderr
    assert "--entry predict" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_never_empties_a_folder_of_other_files(tmp_path):
    shutil.copy(EXAMPLES / "one_cell.ipynb", tmp_path / "one_cell.ipynb")
    result = _run(
        "jupyter",
        "mlcontainer",
        "build",
        "one_cell.ipynb",
        "--context-only",
        "--out",
        ".",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "already holds files that are not a build context" in result.stderr
    assert (tmp_path / "one_cell.ipynb").is_file()


def test_build_of_a_missing_notebook_fails_cleanly(tmp_path):
    result = _run(
        "jupyter", "mlcontainer", "build", str(tmp_path / "absent.ipynb"), "--context-only"
    )
    assert result.returncode == 1 and "No notebook at" in result.stderr


def test_nbconvert_exporter_writes_a_reproducible_context_archive(tmp_path, kernel):
    shutil.copy(EXAMPLES / "iris_classifier.ipynb", tmp_path / "iris.ipynb")
    archives = []
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        result = _run(
            "jupyter",
            "nbconvert",
            "--to",
            "mlcontainer",
            "--output-dir",
            str(out),
            "iris.ipynb",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        archives.append((out / "iris.tar.gz").read_bytes())
    assert archives[0] == archives[1], "the same notebook gives the same archive"
    with tarfile.open(tmp_path / "out0" / "iris.tar.gz") as tar:
        names = tar.getnames()
    assert {"Dockerfile", "requirements.lock", "sample.json", "app/notebook_code.py"} <= set(names)
    assert any(name.startswith("wheels/scikit_learn-") for name in names)


def test_nbconvert_lists_the_exporter():
    from nbconvert.exporters import get_export_names

    assert "mlcontainer" in get_export_names()


# -- the slice report ------------------------------------------------------------------------


def test_explain_prints_the_report_and_builds_nothing(tmp_path, engine, test_labels):
    from report_notebook import EXPECTED, write_report_notebook

    notebook = write_report_notebook(tmp_path)
    label = ",".join(f"{k}={v}" for k, v in test_labels.items())
    images_before = {image.id for image in engine.client.images.list(filters={"label": label})}
    result = subprocess.run(
        ["jupyter", "mlcontainer", "build", str(notebook), "--explain"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MLCONTAINER_LABELS": label},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Slice report for model.ipynb: serving predict(inputs)")
    for (_, line), (kept, reason) in EXPECTED.items():
        verdict = "kept" if kept else "dropped"
        assert any(
            line[:40] in row and verdict in row and reason in row for row in out.splitlines()
        ), (
            line,
            reason,
        )
    assert "clf: sklearn.linear_model._logistic.LogisticRegression, joblib" in out
    assert "scikit-learn==" in out and "pickle of `clf` (sklearn)" in out
    assert "cell 4 ran as [4] after [5]" in out
    assert "cell 1 reads ../outside.csv, outside the notebook's folder" in out
    assert "Expected size:" in out
    images_after = {image.id for image in engine.client.images.list(filters={"label": label})}
    assert images_after == images_before, "nothing built"


def test_context_only_writes_a_deterministic_report_and_json_has_it(tmp_path, kernel):
    from report_notebook import write_report_notebook

    notebook = write_report_notebook(tmp_path)
    summaries = []
    for out in ("ctx1", "ctx2"):
        result = _run(
            "jupyter",
            "mlcontainer",
            "build",
            str(notebook),
            "--context-only",
            "--out",
            str(tmp_path / out),
            "--json",
        )
        assert result.returncode == 0, result.stderr
        summaries.append(json.loads(result.stdout))
    reports = [(tmp_path / out / "REPORT.md").read_bytes() for out in ("ctx1", "ctx2")]
    assert reports[0] == reports[1], "the same notebook gives a byte-identical REPORT.md"
    text = reports[0].decode()
    assert "| 4 | `clf.fit(X, y)` | dropped | training that the captured value replaces |" in text
    assert "REPORT.md" in (tmp_path / "ctx1" / ".dockerignore").read_text()
    summary = summaries[0]
    assert_matches_schema(summary)
    report = summary["report"]
    statements = {(s["cell"], s["line"]): s["reason"] for s in report["statements"]}
    assert statements[(3, "plt.hist(X[:, 0])")] == "a plot"
    assert [v["name"] for v in report["values"]] == ["clf", "lookup"]
    assert report["size_estimate"]["python_packages"] > 0
    assert any("ran out of order" in w for w in report["warnings"])
