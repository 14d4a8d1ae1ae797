"""JupyterLab under a real JupyterHub, each user on their own rootless Podman: a user logs in,
containerizes a notebook from the toolbar and reaches the instance through the hub's proxy; the
other user's server neither sees nor stops it."""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings

import pytest
from lab_server import CHROMIUM, CHROMIUM_ARGS, REPO
from test_lab_ui import run_all_cells, shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.engine]

NOTEBOOK = "iris_classifier.ipynb"
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
#: Milliseconds: a rootless Podman build on a loaded 2-core machine (about a minute when its
#: wheels are cached, many more when not); the test still ends by itself.
BUILD_TIMEOUT = 1_500_000
#: Milliseconds: the hub spawns the user's server after the login.
SPAWN_TIMEOUT = 240_000


@pytest.fixture
def hub_page(hub):
    """A Chromium page of its own (no `jupyter lab` of the `page` fixture's: the hub runs it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.troubles = []  # what went wrong on the page's side, for a failure's message

        def note(text: str) -> None:
            page.troubles.append(f"{time.strftime('%H:%M:%S')} {text}")

        page.on("requestfailed", lambda r: note(f"{r.method} {r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and note(f"{r.status} {r.url}"))
        page.on("console", lambda m: m.type == "error" and note(m.text))
        yield page
        browser.close()


def log_in(page, hub, user: str) -> None:
    """Through the hub's own login page; the hub then spawns the user's server and sends the
    browser to its JupyterLab."""
    page.goto(f"{hub.url}/hub/login")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill(hub.password)
    page.locator("#login_submit").click()
    page.wait_for_url(f"**/user/{user}/lab**", timeout=SPAWN_TIMEOUT)
    hub.wait_for_server(user, 10)


def open_and_run(page, hub, user: str, notebook: str) -> None:
    """Open `notebook` (in the user's home, the server's root) and run all its cells."""
    page.goto(f"{hub.url}/user/{user}/lab/tree/{notebook}?reset")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=120_000)
    if wait_until(page, "() => !!document.querySelector('.jp-Dialog')", 5):
        assert "Select Kernel" in page.locator(".jp-Dialog").inner_text()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=120_000
    )
    run_all_cells(page)
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()


def network_blips_only(page) -> bool:
    """Whether every request that failed (page loads aside) was one Chromium aborted because
    this machine's network changed: other tests' containers add and remove interfaces, and
    Chromium then fails every request in flight, even to 127.0.0.1."""
    failed = [t for t in page.troubles if " net::" in t and "ERR_ABORTED" not in t]
    return bool(failed) and all(NETWORK_CHANGED in t for t in failed)


def settle(page) -> None:
    """Dismiss JupyterLab's "server unavailable" dialog when a network change caused it; fail,
    with what the page saw go wrong, on any other dialog."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return
    if "Server unavailable" in dialog.inner_text() and network_blips_only(page):
        dialog.locator(".jp-Dialog-button", has_text="Dismiss").click()
        dialog.wait_for(state="detached")
        warnings.warn(
            "dismissed JupyterLab's 'server unavailable' after a network change", stacklevel=2
        )
        return
    shot(page, "hub-dialog")
    pytest.fail(f"{dialog.inner_text()}\n" + "\n".join(page.troubles))


def wait_for_build(page, hub, user: str, token: str) -> None:
    """Wait until the build panel shows the instance's URL. A network change that breaks the
    panel's event stream shows as an error there while the build goes on: then wait for the job
    through the REST API and reopen its panel from the sidebar, as a reloaded page would."""
    deadline = time.monotonic() + BUILD_TIMEOUT / 1000
    outcome = "[data-testid=mlcontainer-url], [data-testid=mlcontainer-error]:visible, .jp-Dialog"
    while True:
        remaining = max(1.0, deadline - time.monotonic()) * 1000
        page.locator(outcome).first.wait_for(timeout=remaining)
        if page.locator(".jp-Dialog").count():
            settle(page)
            continue
        error = page.locator("[data-testid=mlcontainer-error]")
        if not error.is_visible():
            return
        assert network_blips_only(page), f"{error.inner_text()}\n" + "\n".join(page.troubles)
        while True:
            status, reply = hub.api("GET", f"/user/{user}/mlcontainer/jobs", token=token)
            assert status == 200, reply
            (job,) = [job for job in reply["jobs"] if job["kind"] == "build"]
            if job["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, "the build is still running"
            time.sleep(2)
        warnings.warn(
            "a network change broke the build panel's event stream; reopened it", stacklevel=2
        )
        page.reload()
        page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
        page.locator(".jp-mlcontainer-job button").first.click()


def test_a_hub_user_containerizes_and_reaches_the_instance_through_the_hub_and_no_one_else_can(
    hub, hub_page, rootless_podman, second_rootless_podman
):
    alice, bob, page = rootless_podman, second_rootless_podman, hub_page
    notebook = alice.home / NOTEBOOK
    shutil.copy(REPO / "examples" / NOTEBOOK, notebook)
    os.chown(notebook, alice.uid, alice.gid)
    context, name = "", ""
    try:
        log_in(page, hub, alice.name)
        alice_token = hub.user_token(alice.name)
        open_and_run(page, hub, alice.name, NOTEBOOK)
        settle(page)
        page.locator("[data-testid=mlcontainer-toolbar-button]").first.click()
        page.locator("[data-testid=mlcontainer-dialog]").wait_for()
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
        page.locator("[data-testid=mlcontainer-panel]").wait_for()
        wait_for_build(page, hub, alice.name, alice_token)
        context = page.locator("[data-testid=mlcontainer-context]").inner_text()
        name = page.locator("[data-testid=mlcontainer-instance]").inner_text()
        url = page.locator("[data-testid=mlcontainer-url]").inner_text()
        assert url.startswith(f"/user/{alice.name}/proxy/"), url
        assert "PASS" in page.locator("[data-testid=mlcontainer-parity] h3").inner_text()
        settle(page)
        page.locator("[data-testid=mlcontainer-send]").click()  # the test panel, through the server
        response = page.locator("[data-testid=mlcontainer-response]")
        response.filter(has_text="predictions").wait_for(timeout=120_000)
        assert response.inner_text().startswith("HTTP 200 in ")
        shot(page, "hub-1-result")

        settle(page)
        page.locator(".lm-TabBar-tab[data-id=mlcontainer-sidebar]").click()
        listed = page.locator(f"[data-testid=mlcontainer-instance][data-name='{name}']")
        listed.wait_for()
        assert url in listed.inner_text()
        shot(page, "hub-2-sidebar")

        # The URL the sidebar shows answers through the hub, with the browser's own login.
        health = f"{hub.url}{url}health"
        assert page.request.get(health).status == 200

        status, listing = hub.api(
            "GET", f"/user/{alice.name}/mlcontainer/instances", token=alice_token
        )
        assert status == 200, listing
        mine = {i["name"]: i for i in listing["instances"]}[name]
        assert mine["url"] == url and mine["direct_url"].startswith("http://127.0.0.1:")

        # Bob's server talks to Bob's Podman: Alice's instance is not there to see or stop.
        hub.start_server(bob.name)
        bob_token = hub.user_token(bob.name)
        status, listing = hub.api("GET", f"/user/{bob.name}/mlcontainer/instances", token=bob_token)
        assert status == 200, listing
        assert name not in {i["name"] for i in listing["instances"]}, listing
        status, reply = hub.api(
            "DELETE", f"/user/{bob.name}/mlcontainer/instances/{name}", token=bob_token
        )
        assert status == 404, reply
        status, _ = hub.api("GET", f"/user/{alice.name}/mlcontainer/instances", token=bob_token)
        assert status == 403, "Bob's token opens no door of Alice's server"
        assert page.request.get(health).status == 200, "Alice's instance still answers"

        settle(page)
        listed.locator("[data-testid=mlcontainer-sidebar-stop]").click()
        listed.wait_for(state="detached", timeout=120_000)
        name = ""  # stopped
    finally:
        if name:  # the test failed with the instance running: stop it as Alice
            alice.run([sys.executable, "-m", "jupyter_mlcontainer.cli", "stop", name], timeout=120)
        notebook.unlink(missing_ok=True)
        if context.startswith(str(alice.home)):
            shutil.rmtree(context, ignore_errors=True)
