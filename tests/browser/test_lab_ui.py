"""A real JupyterLab in a real Chromium: run a notebook, containerize it, test it, stop it."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ports import free_port, wait_until_answers

pytestmark = [pytest.mark.browser, pytest.mark.engine]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
NOTEBOOK = "iris_classifier.ipynb"
#: xgboost's scikit-learn API imports scikit-learn lazily: only the trial run sees it.
LAZY_NOTEBOOK = "xgboost_churn.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Milliseconds: a capture, a wheel download, a docker build and a start on a shared machine.
BUILD_TIMEOUT = 600_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory, base_image, test_labels):
    """`jupyter lab` on 127.0.0.1 serving a temporary folder with an example notebook."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    root = tmp_path_factory.mktemp("lab-root")
    for notebook in (NOTEBOOK, LAZY_NOTEBOOK):
        shutil.copy(REPO / "examples" / notebook, root / notebook)
    home = tmp_path_factory.mktemp("lab-home")
    token, port = secrets.token_hex(16), free_port()
    ((label, value),) = test_labels.items()
    env = {
        **os.environ,
        "MLCONTAINER_BASE_IMAGE": base_image,
        "MLCONTAINER_LABELS": f"{label}={value}",
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }
    with open(home / "lab.log", "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_answers(f"{url}/api/status?token={token}", process, home / "lab.log", 60)
            yield url, token
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def page(lab):
    """Function-scoped, so Playwright's event loop comes and goes inside the test server's."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def shot(page, name: str, target=None) -> None:
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


def wait_for_outcome(page) -> None:
    """Wait until the panel shows the instance's URL or an error, and fail on an error."""
    outcome = page.locator(
        "[data-testid=mlcontainer-url], [data-testid=mlcontainer-error]:visible"
    ).first
    outcome.wait_for(timeout=BUILD_TIMEOUT)
    error = page.locator("[data-testid=mlcontainer-error]")
    assert not error.is_visible(), error.inner_text()
    assert page.locator("[data-testid=mlcontainer-status]").inner_text().lower() == "succeeded"


def test_containerize_from_the_toolbar(lab, page, engine, test_labels):
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
