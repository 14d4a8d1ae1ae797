"""See and trust what ships, in a real JupyterLab and Chromium: the slice report in the
Containerize dialog before building, the sidebar's drift badge after the notebook changes,
and Redeploy replacing the instance at the same URL."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from test_lab_ui import NOTEBOOK, open_and_run, wait_for_outcome

pytestmark = [pytest.mark.browser, pytest.mark.engine]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
#: Milliseconds: a capture and a trial run of the served code.
EXPLAIN_TIMEOUT = 120_000
#: A cell that only evaluates the model: changing it changes the notebook, not the model.
EVALUATE_CELL = 13


def change_cell_on_disk(lab, notebook: str, index: int) -> None:
    """Rewrite one code cell of the notebook's file through Jupyter's contents API, as an
    editor outside this page would."""
    url, token = lab
    address = f"{url}/api/contents/{notebook}?token={token}"
    with urllib.request.urlopen(address, timeout=10) as response:
        model = json.load(response)
    cell = model["content"]["cells"][index]
    assert cell["cell_type"] == "code"
    cell["source"] = "".join(cell["source"]) + "\nprint('rounded:', y_pred[:5])"
    body = json.dumps({"type": "notebook", "format": "json", "content": model["content"]})
    request = urllib.request.Request(
        address, body.encode(), {"Content-Type": "application/json"}, method="PUT"
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_report_before_the_build_then_drift_and_redeploy(lab, page, engine, test_labels):
    from playwright.sync_api import expect

    open_and_run(page, lab, NOTEBOOK)
    page.locator("[data-testid=mlcontainer-toolbar-button]").first.click()
    page.locator("[data-testid=mlcontainer-dialog]").wait_for()

    # The report, before anything is built.
    page.locator("[data-testid=mlcontainer-explain]").click()
    report = page.locator("[data-testid=mlcontainer-report]")
    report.wait_for(timeout=EXPLAIN_TIMEOUT)
    assert "Serves predict(inputs)" in report.inner_text()
    statements = report.locator("[data-testid=mlcontainer-report-statement]")
    kept = statements.filter(has_text="import numpy as np")
    assert kept.get_attribute("data-kept") == "true"
    assert "used by `predict`" in kept.inner_text()
    dropped = statements.filter(has_text="import matplotlib.pyplot as plt")
    assert dropped.get_attribute("data-kept") == "false"
    assert "not needed by the entry point" in dropped.inner_text()
    value = report.locator("[data-testid=mlcontainer-report-value]", has_text="clf")
    assert "LogisticRegression" in value.inner_text() and "joblib" in value.inner_text()
    report.locator("[data-testid=mlcontainer-report-packages] > summary").click()
    package = report.locator("[data-testid=mlcontainer-report-package]", has_text="numpy")
    assert "import numpy" in package.first.inner_text()
    assert "about " in report.locator("[data-testid=mlcontainer-report-image]").inner_text()
    report.locator("[data-testid=mlcontainer-report-packages] > summary").click()

    # A statement's cell link shows that cell in the notebook behind the dialog.
    served = statements.filter(has_text="def predict(X):")
    served.locator("[data-testid=mlcontainer-report-cell]").click()
    expect(page.locator(".jp-NotebookPanel .jp-Cell.jp-mod-active")).to_contain_text(
        "def predict(X):"
    )
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    report.evaluate("node => node.parentElement.scrollTo(0, 0)")
    page.locator(".jp-Dialog-content").screenshot(path=str(DOCS_IMAGES / "report.png"))

    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    first = page.locator("[data-testid=mlcontainer-panel]")
    wait_for_outcome(page, first)
    service_url = first.locator("[data-testid=mlcontainer-url]").inner_text()
    name = first.locator("[data-testid=mlcontainer-instance]").inner_text()

    # The sidebar says the image matches its notebook, then that the notebook changed.
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{name}']")
    badge = listed.locator("[data-testid=mlcontainer-drift]")
    expect(badge).to_have_text("up to date", timeout=30_000)
    change_cell_on_disk(lab, NOTEBOOK, EVALUATE_CELL)
    page.locator("[data-testid=mlcontainer-refresh]").click()
    expect(badge).to_have_text("notebook changed", timeout=30_000)
    assert f"cell {EVALUATE_CELL} changed" in badge.get_attribute("title")
    # Other containers the engine runs stay out of the picture.
    page.add_style_tag(
        content=f"[data-testid=mlcontainer-instance]:not([data-name='{name}']) {{ display: none; }}"
    )
    sidebar = page.locator("[data-testid=mlcontainer-sidebar]").bounding_box()
    builds = page.locator("[data-testid=mlcontainer-sidebar] .jp-mlcontainer-jobs").bounding_box()
    clip = {**sidebar, "height": builds["y"] + builds["height"] + 12 - sidebar["y"]}
    page.screenshot(path=str(DOCS_IMAGES / "drift-badge.png"), clip=clip)

    # Redeploy: the same choices, a new panel, the same URL, old and new answers side by side.
    first_job = first.get_attribute("data-job-id")
    first.locator("[data-testid=mlcontainer-redeploy]").click()
    second = page.locator(f"[data-testid=mlcontainer-panel]:not([data-job-id='{first_job}'])")
    wait_for_outcome(page, second)
    assert second.locator("[data-testid=mlcontainer-url]").inner_text() == service_url
    replacement = second.locator("[data-testid=mlcontainer-replacement]")
    assert replacement.get_attribute("data-how") == "handover"
    assert service_url in replacement.inner_text()
    rows = replacement.locator("[data-testid=mlcontainer-replacement-row]")
    assert rows.count() == 3
    assert rows.evaluate_all("rows => rows.every(row => row.dataset.changed === 'false')")
    expect(badge).to_have_text("up to date", timeout=30_000)
    running = [i for i in engine.list_instances(labels=test_labels) if i.name == name]
    assert len(running) == 1 and running[0].url == service_url
