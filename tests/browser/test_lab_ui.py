"""A real JupyterLab in a real Chromium: run a notebook, containerize it, test it, push it,
stop it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
NOTEBOOK = "iris_classifier.ipynb"
#: xgboost's scikit-learn API imports scikit-learn lazily: only the trial run sees it.
LAZY_NOTEBOOK = "xgboost_churn.ipynb"
#: Milliseconds: a capture, a wheel download, a docker build and a start on a shared machine.
BUILD_TIMEOUT = 600_000


def shot(page, name: str, target=None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (target or page).screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def wait_until(page, script: str, timeout: float) -> bool:
    """Poll `script` in the page until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(script):
        if time.monotonic() >= deadline:
            return False
        page.wait_for_timeout(250)
    return True


def run_all_cells(page) -> None:
    """Run All Cells from the menu and wait until the queued cells ([*]) have run. The kernel
    shows idle a moment before its connection is up, so the command is retried a few times."""
    busy = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].some(p => p.textContent.includes('*'))"
    for _ in range(4):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        if wait_until(page, busy, 10):
            break
    else:
        pytest.fail("Run All Cells queued no cell")
    idle = busy.replace("=> [", "=> ![", 1)
    assert wait_until(page, idle, 180), "cells still running after 180 s"


def open_and_run(page, lab, notebook: str) -> None:
    """Open `notebook` in JupyterLab and run all its cells in its kernel. `reset` starts from an
    empty workspace, so an earlier test's notebook and panels are not restored beside it."""
    url, token = lab
    page.goto(f"{url}/lab/tree/{notebook}?reset&token={token}")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for()
    # A notebook saved without kernel metadata asks for one: take the default (Python 3).
    if wait_until(page, "() => !!document.querySelector('.jp-Dialog')", 5):
        assert "Select Kernel" in page.locator(".jp-Dialog").inner_text()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=120_000
    )
    run_all_cells(page)
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()  # the first-run question about Jupyter news covers the panel


def wait_for_outcome(page, panel=None) -> None:
    """Wait until the panel (the page's only one unless given) shows the instance's URL or an
    error, and fail on an error."""
    panel = panel or page
    outcome = panel.locator(
        "[data-testid=mlcontainer-url], [data-testid=mlcontainer-error]:visible"
    ).first
    outcome.wait_for(timeout=BUILD_TIMEOUT)
    error = panel.locator("[data-testid=mlcontainer-error]")
    assert not error.is_visible(), error.inner_text()
    assert panel.locator("[data-testid=mlcontainer-status]").inner_text().lower() == "succeeded"


def test_containerize_from_the_toolbar(lab, page, engine, test_labels, registry):
    open_and_run(page, lab, NOTEBOOK)
    page.locator("[data-testid=mlcontainer-toolbar-button]").first.click()
    dialog = page.locator("[data-testid=mlcontainer-dialog]")
    dialog.wait_for()
    assert page.locator("[data-testid=mlcontainer-target]").input_value() == "entry:predict"
    assert page.locator("[data-testid=mlcontainer-sample]").input_value() == "X_test[:3]"
    assert page.locator("[data-testid=mlcontainer-run]").is_checked()
    assert page.locator("[data-testid=mlcontainer-name]").input_value() == "iris_classifier"
    shot(page, "1-dialog", page.locator(".jp-Dialog-content"))
    page.locator(".jp-Dialog-button.jp-mod-accept").click()

    panel = page.locator("[data-testid=mlcontainer-panel]")
    panel.wait_for()
    page.locator("[data-testid=mlcontainer-log] .jp-mlcontainer-log-stage").nth(2).wait_for(
        timeout=BUILD_TIMEOUT
    )
    shot(page, "2-progress")

    wait_for_outcome(page)
    service_url = page.locator("[data-testid=mlcontainer-url]").inner_text()
    assert service_url.startswith("http://127.0.0.1:")
    assert (
        page.locator("[data-testid=mlcontainer-tag]")
        .inner_text()
        .startswith("mlcontainer/iris_classifier:")
    )
    parity = page.locator("[data-testid=mlcontainer-parity]")
    assert "PASS" in parity.locator("h3").inner_text()
    assert parity.locator("tr.jp-mod-pass").count() == 3

    request = page.locator("[data-testid=mlcontainer-request]")
    assert '"instances"' in request.input_value() or '"inputs"' in request.input_value()
    page.locator("[data-testid=mlcontainer-send]").click()
    response = page.locator("[data-testid=mlcontainer-response]")
    response.wait_for()
    response.filter(has_text="predictions").wait_for()
    assert response.inner_text().startswith("HTTP 200 in ")
    shot(page, "3-result")

    page.locator("[data-testid=mlcontainer-push]").click()
    target = page.locator("[data-testid=mlcontainer-push-target]")
    assert target.input_value() == "iris_classifier", "the image's name, no registry set yet"
    target.fill(f"{registry}/lab/iris")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    pushed = page.locator("[data-testid=mlcontainer-panel] [data-testid=mlcontainer-push-result]")
    pushed.wait_for(timeout=BUILD_TIMEOUT)
    assert pushed.inner_text().startswith(f"{registry}/lab/iris:")

    instance = page.locator("[data-testid=mlcontainer-instance]").inner_text()
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{instance}']")
    listed.wait_for()
    assert NOTEBOOK in listed.inner_text() and service_url in listed.inner_text()
    shot(page, "4-sidebar")

    page.locator("[data-testid=mlcontainer-stop]").click()
    page.locator("[data-testid=mlcontainer-stop]", has_text="Stopped").wait_for()
    listed.wait_for(state="detached", timeout=30_000)
    assert instance not in {i.name for i in engine.list_instances(labels=test_labels)}
    shot(page, "5-stopped")


def test_the_toolbar_serves_an_xgboost_model_whose_library_imports_scikit_learn_lazily(
    lab, page, engine, test_labels
):
    open_and_run(page, lab, LAZY_NOTEBOOK)
    assert page.locator(".jp-NotebookPanel").count() == 1, "only this notebook is open"
    page.locator("[data-testid=mlcontainer-toolbar-button]").first.click()
    page.locator("[data-testid=mlcontainer-dialog]").wait_for()
    assert page.locator("[data-testid=mlcontainer-target]").input_value() == "model:model"
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    wait_for_outcome(page)
    parity = page.locator("[data-testid=mlcontainer-parity]")
    assert "PASS" in parity.locator("h3").inner_text()
    assert parity.locator("tr.jp-mod-pass").count() == 3
    page.locator("[data-testid=mlcontainer-stop]").click()
    page.locator("[data-testid=mlcontainer-stop]", has_text="Stopped").wait_for()
    assert not [i for i in engine.list_instances(labels=test_labels) if "xgboost" in i.name]


#: A function that prepares raw records before its model: each target gets its own sample.
PREPARING_CELLS = [
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    "raw = pd.DataFrame({'fare': [7.5, 71.0, 8.1, 53.0]})\ny = [0, 1, 1, 0]",
    "def prepare(frame):\n    return frame[['fare']] * 2",
    "features = prepare(raw)\nmodel = LogisticRegression().fit(features, y)",
    "def predict(passengers):\n    return model.predict(prepare(passengers)).tolist()",
    "predict(raw.tail(2))",
]


def put_notebook(lab, name: str, cells: list[str]) -> None:
    """Save a notebook into the server's root through Jupyter's contents API."""
    import json
    import urllib.request

    import nbformat

    url, token = lab
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook})
    request = urllib.request.Request(
        f"{url}/api/contents/{name}?token={token}",
        body.encode(),
        {"Content-Type": "application/json"},
        method="PUT",
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_the_dialogs_sample_follows_what_is_served_until_the_user_types_one(lab, page):
    put_notebook(lab, "preparing.ipynb", PREPARING_CELLS)
    url, token = lab
    page.goto(f"{url}/lab/tree/preparing.ipynb?reset&token={token}")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for()
    page.locator("[data-testid=mlcontainer-toolbar-button]").first.click()
    page.locator("[data-testid=mlcontainer-dialog]").wait_for()
    target = page.locator("[data-testid=mlcontainer-target]")
    sample = page.locator("[data-testid=mlcontainer-sample]")
    assert (target.input_value(), sample.input_value()) == ("model:model", "features")

    target.select_option("entry:predict")
    assert sample.input_value() == "raw.tail(2)"  # what the notebook passed to predict
    target.select_option("model:model")
    assert sample.input_value() == "features"
    sample.fill("raw.head(1)")
    target.select_option("entry:predict")
    assert sample.input_value() == "raw.head(1)", "a sample the user typed stays"
    page.locator(".jp-Dialog-button.jp-mod-reject").click()
    page.locator("[data-testid=mlcontainer-dialog]").wait_for(state="detached")
