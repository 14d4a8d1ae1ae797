"""Credentials never ship: a key in the served code or in a captured value stops the build
before any image exists, naming where it is; --allow-secrets is the way through."""

from __future__ import annotations

import nbformat
import pytest

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.errors import SecretFound
from jupyter_mlcontainer.workflow.build import containerize

pytestmark = pytest.mark.usefixtures("kernel")  # each test runs notebooks

#: AWS's documented example key: the shape of a real one, valid for nobody.
KEY_PARTS = ("AKIA", "IOSFODNN7EXAMPLE")


def notebook_with(tmp_path, *cells):
    path = tmp_path / "keyed.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path.write_text(nbformat.writes(notebook))
    return path


def render(notebook, tmp_path, **options):
    return containerize(
        ExportOptions(notebook=str(notebook), entry="predict", sample="[[1.0], [2.0]]", **options),
        context_only=True,
        out_dir=str(tmp_path / "context"),
    )


def test_a_key_in_the_served_code_stops_the_build_with_its_line(tmp_path):
    notebook = notebook_with(
        tmp_path,
        f'AWS_ACCESS_KEY_ID = "{"".join(KEY_PARTS)}"',
        "def predict(rows):\n    return [len(AWS_ACCESS_KEY_ID) for _ in rows]",
    )
    with pytest.raises(SecretFound) as found:
        render(notebook, tmp_path)
    assert "app/notebook_code.py:" in found.value.message
    assert "AWS Access Key" in found.value.message
    assert "--allow-secrets" in found.value.hint and "os.environ" in found.value.hint
    assert "# pragma: allowlist secret" in found.value.hint
    assert not (tmp_path / "context" / "Dockerfile").exists()  # stopped before rendering it


def test_a_key_inside_a_captured_value_is_found_in_its_serialized_bytes(tmp_path):
    notebook = notebook_with(
        tmp_path,
        f"settings = {{'bucket': 'models', 'key': {KEY_PARTS[0]!r} + {KEY_PARTS[1]!r}}}",
        "def predict(rows):\n    return [settings['bucket'] for _ in rows]",
    )
    with pytest.raises(
        SecretFound, match=r"artifacts/state/settings\.\w+ \(a captured value\): AWS Access Key"
    ):
        render(notebook, tmp_path)


def test_an_ordinary_model_has_no_findings(tmp_path):
    from jupyter_mlcontainer.pipeline.secrets import scan_context

    notebook = notebook_with(
        tmp_path,
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression",
        "X = np.random.default_rng(0).normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)",
        "clf = LogisticRegression().fit(X, y)",
        "def predict(rows):\n    return clf.predict(np.asarray(rows)).tolist()",
    )
    containerize(
        ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]"),
        context_only=True,
        out_dir=str(tmp_path / "context"),
    )
    assert scan_context(tmp_path / "context") == []


def token_notebook(tmp_path, comment: str = ""):
    """A notebook whose served code holds an AWS-style key, its line ending in `comment`."""
    return notebook_with(
        tmp_path,
        f'token = "{"".join(KEY_PARTS)}"{comment}',
        "def predict(rows):\n    return [len(token) for _ in rows]",
    )


def test_allow_secrets_builds_anyway_and_the_report_lists_the_finding_as_explain_does(tmp_path):
    notebook = token_notebook(tmp_path)
    explained = render(notebook, tmp_path, explain=True)
    allowed = render(notebook, tmp_path, allow_secrets=True)
    assert (tmp_path / "context" / "Dockerfile").exists() and allowed.sample
    for result in (explained, allowed):
        found = [w for w in result.report.warnings if w.startswith("looks like a credential")]
        assert "looks like a credential: app/notebook_code.py:9: AWS Access Key" in found
    assert "looks like a credential" in (tmp_path / "context" / "REPORT.md").read_text()


def test_a_line_marked_as_not_a_secret_builds(tmp_path):
    result = render(token_notebook(tmp_path, "  # pragma: allowlist secret"), tmp_path)
    assert not [w for w in result.warnings if "credential" in w]
