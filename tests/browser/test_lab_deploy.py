"""Deploy from JupyterLab's sidebar, in a real Chromium, onto Docker's swarm mode: the consent
asked before swarm mode is turned on, replicas behind one URL, scale, undeploy."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from retrained import ROWS, build_trained_image

pytestmark = [pytest.mark.browser, pytest.mark.engine]

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "deployments.png"
NAME = "lab-deployed"
#: Milliseconds: swarm mode, the front's image and two replicas, on a busy 2-core machine.
DEPLOY_TIMEOUT = 240_000


@pytest.fixture
def instance(engine, base_image, test_labels, tmp_path):
    """A model's instance, as the sidebar lists it; removed afterwards."""
    image = build_trained_image(base_image, test_labels, tmp_path, "lab-deploy-model", "v1")
    started = engine.run(image, labels=test_labels)
    yield started
    engine.stop(started.id)


def predict(url: str) -> tuple[list, str]:
    request = urllib.request.Request(
        f"{url}/predict",
        json.dumps({"instances": ROWS}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["predictions"], response.headers["X-Replica"]


def test_deploy_scale_and_undeploy_from_the_sidebar(lab, page, instance, swarm_as_found):
    from playwright.sync_api import expect

    swarm_was_on = swarm_as_found.swarm_state() == "active"
    networks_before = {network.name for network in swarm_as_found.client.networks.list()}
    url, token = lab
    page.set_viewport_size({"width": 1000, "height": 640})  # small, for the docs' screenshot
    page.goto(f"{url}/lab?reset&token={token}")
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{instance.name}']")
    listed.locator("[data-testid=mlcontainer-sidebar-deploy]").click()
    page.locator("[data-testid=mlcontainer-deploy-dialog]").wait_for()
    page.locator("[data-testid=mlcontainer-deploy-name]").fill(NAME)
    page.locator("[data-testid=mlcontainer-deploy-replicas]").fill("2")
    accept = page.locator(".jp-Dialog-button.jp-mod-accept")
    if not swarm_was_on:
        accept.click()  # without the consent: asked again, swarm mode left off
        invalid = page.locator("[data-testid=mlcontainer-deploy-invalid]")
        expect(invalid).to_contain_text("Tick the box to turn on swarm mode")
        assert swarm_as_found.swarm_state() == "inactive"
        page.locator("[data-testid=mlcontainer-deploy-init-swarm]").check()
    accept.click()

    result = listed.locator("[data-testid=mlcontainer-deploy-result]")
    result.wait_for(timeout=DEPLOY_TIMEOUT)
    front = result.locator("a").get_attribute("href")
    assert result.inner_text() == f"Deployed {NAME} at {front}"
    assert predict(front)[0] == ["v1", "v1"]

    item = page.locator(f"[data-testid=mlcontainer-deployment][data-name='{NAME}']")
    counts = item.locator("[data-testid=mlcontainer-deployment-replicas]")
    expect(counts).to_have_text("2/2 running")
    item.locator("[data-testid=mlcontainer-scale-replicas]").fill("1")
    item.locator("[data-testid=mlcontainer-scale]").click()
    done = item.locator("[data-testid=mlcontainer-deployment-result]")
    expect(done).to_have_text("Scaled to 1/1 replicas", timeout=DEPLOY_TIMEOUT)
    expect(counts).to_have_text("1/1 running")
    assert swarm_as_found.service(NAME).replicas == 1
    assert len({predict(front)[1] for _ in range(5)}) == 1, "one replica answers"

    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()  # the first-run question about Jupyter news, out of the screenshot
        page.locator(".Toastify__toast").first.wait_for(state="detached", timeout=10_000)
    page.add_style_tag(
        content=f"[data-testid=mlcontainer-instance]:not([data-name='{instance.name}']),"
        f" [data-testid=mlcontainer-deployment]:not([data-name='{NAME}']) {{ display: none; }}"
    )
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMAGE))

    item.locator("[data-testid=mlcontainer-undeploy]").click()
    page.locator(".jp-Dialog-button.jp-mod-warn").click()
    item.wait_for(state="detached", timeout=DEPLOY_TIMEOUT)
    assert swarm_as_found.service(NAME) is None
    # Swarm mode as it was: turned off again when this deploy had turned it on, and with it the
    # gateway bridge it created.
    assert swarm_as_found.swarm_state() == ("active" if swarm_was_on else "inactive")
    if not swarm_was_on:
        assert {network.name for network in swarm_as_found.client.networks.list()} == (
            networks_before
        )
