"""Build jobs through the REST API against the real pipeline and Docker engine."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from test_server_api import call, wait_for_job

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: A headless run, a wheel download, a docker build and a start, on a small shared machine.
BUILD_TIMEOUT = 600


@pytest.fixture
def jp_server_config(base_image, test_labels):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlcontainer": True}},
        "MLContainerConfig": {"base_image": base_image, "labels": test_labels},
    }


@pytest.fixture
def examples(jp_root_dir):
    for name in ("iris_classifier.ipynb", "one_cell.ipynb"):
        shutil.copy(EXAMPLES / name, jp_root_dir / name)
    return jp_root_dir


async def test_two_builds_run_at_once_and_serve_through_the_proxy(jp_fetch, engine, examples):
    first = await call(jp_fetch, "POST", "jobs", {"path": "iris_classifier.ipynb", "port": 0})
    second = await call(jp_fetch, "POST", "jobs", {"path": "one_cell.ipynb", "run": False})
    assert first[0] == second[0] == 202, (first, second)
    ids = [first[1]["id"], second[1]["id"]]

    both_running = False
    for _ in range(120):  # the slower notebook's headless run gives them a while together
        statuses = [(await call(jp_fetch, "GET", f"jobs/{i}"))[1]["status"] for i in ids]
        both_running = both_running or statuses == ["running", "running"]
        if both_running or "succeeded" in statuses or "failed" in statuses:
            break
        await asyncio.sleep(0.5)
    assert both_running, statuses

    iris, one_cell = [await wait_for_job(jp_fetch, i, BUILD_TIMEOUT) for i in ids]
    assert one_cell["status"] == "succeeded", one_cell["error"]
    assert one_cell["result"]["instance"] is None and one_cell["result"]["tag"].startswith(
        "mlcontainer/one"
    )
    assert iris["status"] == "succeeded", iris["error"]
    result = iris["result"]
    instance = result["instance"]
    assert instance["url"].startswith("http://127.0.0.1:")
    assert result["parity"]["passed"] and len(result["parity"]["rows"]) == 3
    assert result["size"] > 0 and result["tag"].startswith("mlcontainer/iris")
    stages = [e["stage"] for e in iris["events"] if e["kind"] == "stage"]
    assert stages == ["analyse", "capture", "environment", "render", "build", "run", "check"]

    # The event stream of a finished job replays everything, then says it ended.
    response = await jp_fetch("mlcontainer", "jobs", ids[0], "events")
    blocks = response.body.decode().strip().split("\n\n")
    assert [json.loads(b[len("data: ") :]) for b in blocks[:-1]] == iris["events"]
    assert blocks[-1].startswith("event: end")

    status, listing = await call(jp_fetch, "GET", "instances")
    listed = {i["name"]: i for i in listing["instances"]}
    assert listed[instance["name"]]["notebook"] == "iris_classifier.ipynb"

    status, answer = await call(
        jp_fetch,
        "POST",
        f"instances/{instance['name']}/predict",
        {"payload": result["sample"]["request"]},
    )
    assert status == 200 and answer["status"] == 200, answer
    assert answer["body"]["predictions"] == result["sample"]["expected"]["predictions"]
    assert answer["latency_ms"] > 0

    status, bad = await call(
        jp_fetch, "POST", f"instances/{instance['name']}/predict", {"payload": {"rows": 1}}
    )
    assert status == 200 and 400 <= bad["status"] < 500 and bad["error"]

    status, logs = await call(jp_fetch, "GET", f"instances/{instance['name']}/logs")
    assert status == 200 and "model ready" in logs["logs"]

    status, stopped = await call(jp_fetch, "DELETE", f"instances/{instance['name']}")
    assert status == 200 and stopped["stopped"]["name"] == instance["name"]
    status, listing = await call(jp_fetch, "GET", "instances")
    assert instance["name"] not in {i["name"] for i in listing["instances"]}


async def test_a_cancelled_build_ends_as_cancelled(jp_fetch, engine, examples):
    status, reply = await call(
        jp_fetch, "POST", "jobs", {"path": "iris_classifier.ipynb", "run": False}
    )
    assert status == 202
    for _ in range(240):
        job = (await call(jp_fetch, "GET", f"jobs/{reply['id']}"))[1]
        if (
            job["stage"] in ("capture", "environment")
            or job["status"] != "queued"
            and job["events"]
        ):
            break
        await asyncio.sleep(0.25)
    status, cancelling = await call(jp_fetch, "DELETE", f"jobs/{reply['id']}")
    assert status == 202 and cancelling["id"] == reply["id"]
    job = await wait_for_job(jp_fetch, reply["id"], BUILD_TIMEOUT)
    assert job["status"] == "cancelled", job["error"]
    assert "cancelled" in job["error"]["message"]
    assert job["result"] is None


async def test_an_explain_job_gives_the_slice_report_and_builds_nothing(jp_fetch, examples):
    status, job = await call(jp_fetch, "POST", "jobs", {"path": "one_cell.ipynb", "explain": True})
    assert status == 202, job
    done = await wait_for_job(jp_fetch, job["id"], BUILD_TIMEOUT)
    assert done["status"] == "succeeded", done["error"]
    assert done["kind"] == "explain"
    result = done["result"]
    assert result["tag"] == "" and result["context"] == "" and result["instance"] is None
    report = result["report"]
    assert any(s["kept"] and "the entry point" in s["reason"] for s in report["statements"])
    assert report["packages"] and report["size_estimate"]["app"] > 0
