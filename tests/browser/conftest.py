"""A real JupyterLab on 127.0.0.1 and a real Chromium driving it, for every browser test."""

from __future__ import annotations

import pytest
from hub_server import running_hub
from lab_server import CHROMIUM, CHROMIUM_ARGS, running_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory, base_image, test_labels):
    """`jupyter lab` on 127.0.0.1 serving a temporary folder with the example notebooks that
    the tests open."""
    with running_lab(tmp_path_factory, base_image, test_labels) as started:
        yield started


@pytest.fixture
def page(lab):
    """Function-scoped, so Playwright's event loop comes and goes inside the test server's."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


@pytest.fixture(scope="session")
def hub(rootless_podman, second_rootless_podman, base_image, test_labels, tmp_path_factory):
    """JupyterHub on 127.0.0.1 (LocalProcessSpawner, a dummy authenticator with a password) for
    two users, each with their own rootless Podman: the first builds, the second only looks."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    ((label, value),) = test_labels.items()
    environment = {
        "MLCONTAINER_BASE_IMAGE": base_image,
        "MLCONTAINER_LABELS": f"{label}={value}",
        "PATH": rootless_podman.env["PATH"],  # this Python first
        "PYTHONPATH": rootless_podman.env["PYTHONPATH"],  # this checkout's code
    }
    users = [rootless_podman.name, second_rootless_podman.name]
    with running_hub(tmp_path_factory.mktemp("hub"), users, environment) as started:
        yield started
