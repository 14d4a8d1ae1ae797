"""A real JupyterLab on 127.0.0.1 and a real Chromium driving it, for every browser test."""

from __future__ import annotations

import pytest
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
