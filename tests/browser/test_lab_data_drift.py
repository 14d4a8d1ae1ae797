"""Data drift in a real JupyterLab and Chromium: an instance whose image has a data contract
gets shifted traffic; the sidebar shows its "data drift" badge, and the test panel's Drift view
shows the feature that drifted."""

from __future__ import annotations

import http.client
import json
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_lab_ui import open_and_run

from jupyter_mlcontainer.runtime.datacontract import ColumnContract, DataContract
from jupyter_mlcontainer.runtime.spec import CONTRACT_RECORD

from retrained import build_trained_image
from stubs import remove_instance

pytestmark = [pytest.mark.browser, pytest.mark.engine]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
NOTEBOOK = "drift_view.ipynb"
TENTHS = tuple([0.1] * 10)
#: Training spread both columns evenly over 0 to 10 (a tenth of the rows in each unit), and the
#: model answered "a" for every row. The columns are the array's two, by position.
CONTRACT = DataContract(
    source="the data passed to `predict`",
    rows=1000,
    columns=(
        ColumnContract(
            "temperature", "float", False, 0.0, 10.0, tuple(range(1, 10)), None, False, TENTHS
        ),
        ColumnContract(
            "pressure", "float", False, 0.0, 10.0, tuple(range(1, 10)), None, False, TENTHS
        ),
    ),
    prediction=ColumnContract("prediction", "category", False, categories=("a",), expected=(1, 0)),
    array=True,
    shape=(2,),
)
#: 300 rows, every temperature at the top of training's range, pressures spread as in training.
SHIFTED = [[9.9, (i % 10) + 0.5] for i in range(300)]


def with_contract(engine, tag: str, folder: Path, labels: dict) -> str:
    """`tag` with the contract above as its artifacts/contract.json, the image `<tag>-contract`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    (folder / "Dockerfile").write_text(f"FROM {tag}\nCOPY contract.json /srv/{CONTRACT_RECORD}\n")
    contracted = f"{tag}-contract"
    list(engine.build(folder, contracted, labels=labels))
    return contracted


@pytest.fixture(scope="module")
def drifting(engine, base_image, test_labels, tmp_path_factory):
    """A built model's image with a data contract, running, after 300 shifted rows."""
    from jupyter_mlcontainer.running.readiness import wait_ready

    folder = tmp_path_factory.mktemp("data-drift")
    tag = build_trained_image(base_image, test_labels, folder, "datadrift", "a")
    image = with_contract(engine, tag, folder / "contract", test_labels)
    instance = wait_ready(engine, engine.run(image, labels=test_labels))
    try:
        address = instance.url.removeprefix("http://")
        for start in range(0, len(SHIFTED), 100):  # three requests of 100 rows
            connection = http.client.HTTPConnection(address, timeout=30)
            body = json.dumps({"instances": SHIFTED[start : start + 100]})
            connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
            connection.close()
        yield instance
    finally:
        remove_instance(engine, instance)


def write_notebook(lab, name: str) -> None:
    """A notebook that opens the instance's test panel (`inst.panel()`), through the contents API."""
    url, token = lab
    cells = [
        "from jupyter_mlcontainer.engine import open_engine\n"
        "from jupyter_mlcontainer.notebook.instance import ServingInstance\n\n"
        f"inst = ServingInstance(open_engine().find_instance({name!r}))",
        "inst.panel()",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook})
    request = urllib.request.Request(
        f"{url}/api/contents/{NOTEBOOK}?token={token}",
        body.encode(),
        {"Content-Type": "application/json"},
        method="PUT",
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_shifted_traffic_shows_in_the_sidebar_and_the_drift_view(lab, page, drifting):
    from playwright.sync_api import expect

    url, token = lab
    name = drifting.name

    # The sidebar: a "data drift" badge on the instance, the drifting feature in its tooltip.
    page.set_viewport_size({"width": 1000, "height": 560})  # small, for the docs' screenshot
    page.goto(f"{url}/lab?reset&token={token}")
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{name}']")
    badge = listed.locator("[data-testid=mlcontainer-data-drift]")
    expect(badge).to_be_visible(timeout=60_000)
    expect(badge).to_have_text("data drift")
    assert badge.get_attribute("data-features") == "temperature"
    assert "temperature: PSI" in badge.get_attribute("title")
    assert "PSI above 0.2" in badge.get_attribute("title")
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()  # the first-run question about Jupyter news, out of the screenshot
        page.locator(".Toastify__toast").first.wait_for(state="detached", timeout=10_000)
    # Other containers the engine runs stay out of the picture.
    page.add_style_tag(
        content=f"[data-testid=mlcontainer-instance]:not([data-name='{name}']) {{ display: none; }}"
    )
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    sidebar = page.locator("[data-testid=mlcontainer-sidebar]").bounding_box()
    instances = page.locator("[data-testid=mlcontainer-instances]").bounding_box()
    clip = {**sidebar, "height": instances["y"] + instances["height"] + 12 - sidebar["y"]}
    page.screenshot(path=str(DOCS_IMAGES / "data-drift-badge.png"), clip=clip)

    # The test panel's Drift view, in a notebook: the feature, worst first, marked drifting.
    page.set_viewport_size({"width": 1440, "height": 900})
    write_notebook(lab, name)
    open_and_run(page, lab, NOTEBOOK)
    panel = page.locator(".mlcontainer-test-panel")
    panel.wait_for(timeout=60_000)
    panel.locator("button", has_text="Drift").click()
    rows = panel.locator("[data-testid=mlcontainer-drift-feature]")
    expect(rows.first).to_have_attribute("data-feature", "temperature", timeout=60_000)
    assert rows.first.get_attribute("data-drifting") == "true"
    assert "drifting" in rows.first.inner_text()
    features = rows.evaluate_all("rows => rows.map(row => row.dataset.feature)")
    assert features[0] == "temperature" and "pressure" in features, features
    pressure = panel.locator("[data-testid=mlcontainer-drift-feature][data-feature=pressure]")
    assert pressure.get_attribute("data-drifting") == "false"
    assert "last 300 rows" in panel.locator(".mlcontainer-drift-view").inner_text()
    plot = panel.locator(".mlcontainer-drift-plot")
    expect(plot).to_be_visible()
    page.locator(".jp-Toolbar-item").first.hover()  # no tooltip over the panel
    plot.scroll_into_view_if_needed()
    view = panel.locator(".mlcontainer-drift-view").bounding_box()
    drawn = plot.bounding_box()
    actions = panel.locator(".mlcontainer-actions").bounding_box()
    top = actions["y"] - 4
    clip = {
        "x": actions["x"] - 8,
        "y": top,
        "width": max(actions["width"], view["width"], drawn["width"]) + 16,
        "height": drawn["y"] + drawn["height"] + 8 - top,
    }
    page.screenshot(path=str(DOCS_IMAGES / "drift-view.png"), clip=clip)
