"""POST /mlcontainer/push: a push job that streams like a build, against a real registry."""

from __future__ import annotations

import pytest

from test_server_api import call, wait_for_job

pytestmark = pytest.mark.engine


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlcontainer": True}}}


async def test_a_push_job_streams_layers_and_ends_with_the_digest(
    jp_fetch, engine, serving_image, registry
):
    target = f"{registry}/rest/stub:v1"
    status, reply = await call(jp_fetch, "POST", "push", {"source": serving_image, "to": target})
    assert status == 202, reply
    job = await wait_for_job(jp_fetch, reply["id"], timeout=300)
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "push" and job["name"] == target
    assert job["result"]["target"] == target and job["result"]["digest"].startswith("sha256:")
    steps = [e for e in job["events"] if e["kind"] == "step"]
    assert steps and steps[-1]["step"] == steps[-1]["total"] == job["result"]["layers"]
    assert job["events"][-1]["kind"] == "done"


async def test_a_push_that_cannot_reach_its_registry_fails_with_what_to_do(
    jp_fetch, engine, serving_image
):
    from ports import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    status, reply = await call(
        jp_fetch, "POST", "push", {"source": serving_image, "to": f"{nowhere}/team/stub"}
    )
    job = await wait_for_job(jp_fetch, reply["id"], timeout=120)
    assert job["status"] == "failed"
    assert f"Check that a registry runs at {nowhere}" in job["error"]["hint"]


@pytest.mark.parametrize(
    "body,expected",
    [
        ({"to": "127.0.0.1:5000/team/stub"}, "'source' is required"),
        ({"source": "x", "to": 5}, "'to' must be"),
        ({"source": "x", "to": "y", "tag": "z"}, "Unknown field"),
    ],
)
async def test_bad_push_bodies_are_refused_before_anything_runs(jp_fetch, body, expected):
    status, reply = await call(jp_fetch, "POST", "push", body)
    assert status == 400 and expected in reply["message"]
