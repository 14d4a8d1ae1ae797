"""/mlcontainer/deployments: deploy, scale, roll out and undeploy as jobs, against the real engine
and swarm mode. One deployment is shared by the module: the first test deploys it through the
API and the following ones act on it in order; the module fixture removes whatever is left."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from retrained import ROWS, build_trained_image
from test_server_api import call, wait_for_job

pytestmark = pytest.mark.engine

NAME = f"rest-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def jp_server_config(test_labels):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlcontainer": True}},
        "MLContainerConfig": {"labels": test_labels},
    }


@pytest.fixture(scope="module")
def images(engine, base_image, test_labels, tmp_path_factory) -> dict:
    """The model, and a second image of it that differs only by a label: enough for a rollout."""
    folder = tmp_path_factory.mktemp("rest-deploy")
    first = build_trained_image(base_image, test_labels, folder, NAME, "v1")
    (folder / "v2").mkdir()
    (folder / "v2" / "Dockerfile").write_text(f"FROM {first}\nLABEL io.mlcontainer.test=v2\n")
    second = f"mlcontainer/{NAME}:v2"
    list(engine.build(folder / "v2", second, labels=test_labels))
    return {"v1": first, "v2": second}


@pytest.fixture(scope="module")
def deployment(swarm, images):
    """The shared deployment's name; made by the first test, removed at the end if still there."""
    yield NAME


def predict(url: str) -> dict:
    request = urllib.request.Request(
        f"{url}/predict",
        json.dumps({"instances": ROWS}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


async def run_job(jp_fetch, method: str, route: str, body=None, timeout: float = 120) -> dict:
    status, reply = await call(jp_fetch, method, route, body)
    assert status == 202, reply
    return await wait_for_job(jp_fetch, reply["id"], timeout)


async def test_deploy_two_replicas_behind_one_url(jp_fetch, deployment, images):
    job = await run_job(
        jp_fetch, "POST", "deployments", {"source": images["v1"], "name": deployment}, 240
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "deploy" and job["name"] == deployment
    assert job["result"]["name"] == deployment and job["result"]["replicas"] == 2
    assert any("replicas running" in e["message"] for e in job["events"])

    status, listing = await call(jp_fetch, "GET", "deployments")
    assert status == 200 and listing["swarm"] == "active"
    (listed,) = [d for d in listing["deployments"] if d["name"] == deployment]
    assert (listed["replicas"], listed["running"]) == (2, 2)
    assert listed["image"] == images["v1"]
    assert listed["url"].startswith("http://127.0.0.1:")
    assert predict(listed["url"])["predictions"] == ["v1", "v1"]


async def test_scale_to_one(jp_fetch, deployment):
    job = await run_job(jp_fetch, "PATCH", f"deployments/{deployment}", {"replicas": 1})
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "scale"
    assert (job["result"]["replicas"], job["result"]["running"]) == (1, 1)
    status, one = await call(jp_fetch, "GET", f"deployments/{deployment}")
    assert status == 200 and one["running"] == 1


async def test_rollout_to_a_second_image(jp_fetch, deployment, images):
    job = await run_job(
        jp_fetch, "POST", f"deployments/{deployment}/rollout", {"image": images["v2"]}
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "rollout"
    assert job["result"]["image"] == images["v2"] and job["result"]["update"] == "completed"
    assert predict(job["result"]["url"])["predictions"] == ["v1", "v1"]  # same model, new image


async def test_undeploy_then_it_is_gone(jp_fetch, deployment):
    job = await run_job(jp_fetch, "DELETE", f"deployments/{deployment}")
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "undeploy" and job["result"] is None
    status, reply = await call(jp_fetch, "GET", f"deployments/{deployment}")
    assert status == 404 and f"No deployment is named {deployment!r}" in reply["message"]
    status, listing = await call(jp_fetch, "GET", "deployments")
    assert deployment not in [d["name"] for d in listing["deployments"]]


@pytest.mark.parametrize(
    "method,route,body,expected",
    [
        ("POST", "deployments", {"replicas": 2}, "'source' is required"),
        ("POST", "deployments", {"source": "x", "replicas": "2"}, "'replicas' must be"),
        ("POST", "deployments", {"source": "x", "replicas": True}, "'replicas' must be"),
        ("POST", "deployments", {"source": "x", "port": 8080.5}, "'port' must be"),
        ("POST", "deployments", {"source": "x", "init_swarm": "yes"}, "'init_swarm' must be"),
        ("POST", "deployments", {"source": "x", "tag": "v1"}, "Unknown field(s): tag"),
        ("POST", "deployments", {"source": "x", "replicas": 99}, "99 replicas is outside 1..32"),
        ("PATCH", "deployments/any", {}, "'replicas' is required"),
        ("PATCH", "deployments/any", {"replicas": 99}, "99 replicas is outside"),
        ("PATCH", "deployments/any", {"replicas": 1, "image": "x"}, "Unknown field(s): image"),
        ("POST", "deployments/any/rollout", {"image": 3}, "'image' must be"),
        ("POST", "deployments", "[1]", "must be a JSON object"),
    ],
)
async def test_bad_bodies_are_refused_before_anything_runs(jp_fetch, method, route, body, expected):
    status, reply = await call(jp_fetch, method, route, body)
    assert status == 400, reply
    assert expected in reply["message"]
    assert reply["hint"]


async def test_an_unknown_deployment_is_404_before_any_job(jp_fetch, swarm):
    for method, route, body in [
        ("GET", "deployments/rest-nothing-here", None),
        ("PATCH", "deployments/rest-nothing-here", {"replicas": 1}),
        ("DELETE", "deployments/rest-nothing-here", None),
        ("POST", "deployments/rest-nothing-here/rollout", {}),
    ]:
        status, reply = await call(jp_fetch, method, route, body)
        assert status == 404, (method, route, reply)
        assert "No deployment is named 'rest-nothing-here'" in reply["message"]
        assert "jupyter mlcontainer deployments" in reply["hint"]


async def test_with_swarm_mode_off_a_deploy_fails_and_says_how_to_turn_it_on(
    jp_fetch, monkeypatch, images
):
    from jupyter_mlcontainer.engine.swarm import SwarmOrchestrator

    # Swarm mode is on for the tests above: this engine pretends it is off.
    monkeypatch.setattr(SwarmOrchestrator, "swarm_state", lambda self: "inactive")
    status, listing = await call(jp_fetch, "GET", "deployments")
    assert status == 200 and listing == {"swarm": "inactive", "deployments": []}
    job = await run_job(jp_fetch, "POST", "deployments", {"source": images["v1"]})
    assert job["status"] == "failed"
    assert "swarm mode, which is off" in job["error"]["message"]
    assert "--init-swarm" in job["error"]["hint"]
