"""JupyterLab opened while the Docker engine is down: the sidebar says so and how to fix it,
instead of spinning, and recovers by itself once the engine answers."""

from __future__ import annotations

import os

import pytest
from lab_server import running_lab

pytestmark = [pytest.mark.browser, pytest.mark.engine]

ENGINE_SOCKET = "/var/run/docker.sock"


@pytest.fixture(scope="module")
def engine_socket(tmp_path_factory):
    """Where the lab's DOCKER_HOST points: nothing there until the test links the real socket."""
    return tmp_path_factory.mktemp("engine") / "docker.sock"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, base_image, test_labels, engine_socket):
    """Overrides the shared lab for this module: its engine is down when it starts."""
    with running_lab(
        tmp_path_factory, base_image, test_labels, DOCKER_HOST=f"unix://{engine_socket}"
    ) as started:
        yield started


def test_the_sidebar_says_the_engine_is_down_then_recovers(lab, page, engine_socket):
    if "DOCKER_HOST" in os.environ or not os.path.exists(ENGINE_SOCKET):
        pytest.skip(f"the engine is not on {ENGINE_SOCKET}")
    url, token = lab
    page.goto(f"{url}/lab?reset&token={token}")
    page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
    message = page.locator("[data-testid=mlcontainer-sidebar-message]")
    message.wait_for(state="visible", timeout=30_000)
    text = message.inner_text()
    assert "Docker engine" in text and "Start the Docker engine" in text, text
    assert page.locator("[data-testid=mlcontainer-instance]").count() == 0

    # The engine comes back at that address: the next refresh (every 5 s) clears the message.
    os.symlink(ENGINE_SOCKET, engine_socket)
    message.wait_for(state="hidden", timeout=20_000)
    page.locator("[data-testid=mlcontainer-instances]").wait_for()
