"""Push from JupyterLab's sidebar, in a real Chromium, to a real registry."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from ports import free_port
from stubs import remove_instance

pytestmark = [pytest.mark.browser, pytest.mark.engine]

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "push.png"
#: Milliseconds: the stub image's first push into an empty registry.
PUSH_TIMEOUT = 120_000


@pytest.fixture
def instance(engine, serving_image, test_labels):
    """The stub image running, as the sidebar lists any instance; removed afterwards."""
    started = engine.run(serving_image, labels=test_labels)
    yield started
    remove_instance(engine, started)


def open_push_dialog(page, name: str):
    """Click Push on the instance `name` in the sidebar; returns the destination input."""
    listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{name}']")
    listed.wait_for()
    listed.locator("[data-testid=mlcontainer-sidebar-push]").click()
    page.locator("[data-testid=mlcontainer-push-dialog]").wait_for()
    return listed, page.locator("[data-testid=mlcontainer-push-target]")


def tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as r:
        return json.load(r)["tags"] or []


def test_push_from_the_sidebar_reaches_the_registry_and_a_refused_one_says_why(
    lab, page, instance, registry
):
    url, token = lab
    page.set_viewport_size({"width": 1000, "height": 560})  # small, for the docs' screenshot
    page.goto(f"{url}/lab?reset&token={token}")
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    image_name = instance.image.rsplit("/", 1)[-1].split(":")[0]

    listed, target = open_push_dialog(page, instance.name)
    assert target.input_value() == image_name, "no registry in the settings yet"
    invalid = page.locator("[data-testid=mlcontainer-push-invalid]")
    assert "registry's host" in invalid.inner_text()
    target.fill(f"{registry}/Lab/Stub")
    assert "lowercase" in invalid.inner_text()
    target.fill(f"{registry}/lab/stub:ui")
    assert not invalid.is_visible()
    page.locator(".jp-Dialog-button.jp-mod-accept").click()

    status = listed.locator("[data-testid=mlcontainer-push-status]")
    status.wait_for()
    pushed = listed.locator("[data-testid=mlcontainer-push-result]")
    pushed.wait_for(timeout=PUSH_TIMEOUT)
    assert pushed.inner_text().startswith(f"{registry}/lab/stub:ui@sha256:")
    assert "layers sent" in status.inner_text()
    assert "ui" in tags(registry, "lab/stub")

    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()  # the first-run question about Jupyter news, out of the screenshot
        page.locator(".Toastify__toast").first.wait_for(state="detached", timeout=10_000)

    # The registry part is remembered: the next push proposes it with this image's name.
    listed, target = open_push_dialog(page, instance.name)
    assert target.input_value() == f"{registry}/lab/{image_name}"
    # Other containers the engine runs stay out of the picture.
    page.add_style_tag(
        content=f"[data-testid=mlcontainer-instance]:not([data-name='{instance.name}'])"
        " { display: none; }"
    )
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMAGE))
    nowhere = f"127.0.0.1:{free_port()}"
    target.fill(f"{nowhere}/team/stub")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()

    error = listed.locator("[data-testid=mlcontainer-push-error]")
    error.wait_for(timeout=PUSH_TIMEOUT)
    assert f"Pushing to {nowhere} failed" in error.inner_text()
    assert f"Check that a registry runs at {nowhere}" in error.inner_text()
    assert listed.locator("[data-testid=mlcontainer-sidebar-push]").is_enabled()
