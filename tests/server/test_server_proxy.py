"""Instance URLs through jupyter-server-proxy under JupyterHub: the rule, then the REST answers
that carry it (a build job's result, by GET and at the end of its event stream)."""

from __future__ import annotations

import json

import pytest

from jupyter_mlcontainer.engine.base import Instance
from jupyter_mlcontainer.server.jobs import JobManager
from jupyter_mlcontainer.server.proxy import proxied_url, proxy_base, reachable
from jupyter_mlcontainer.workflow.build import BuildResult

from test_server_api import call, wait_for_job

HUB = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}


def test_a_loopback_url_becomes_the_path_through_the_users_server():
    assert proxied_url("http://127.0.0.1:32819", "/user/alice/") == "/user/alice/proxy/32819/"
    assert proxied_url("http://localhost:8080/v2?x=1", "/user/a/") == "/user/a/proxy/8080/v2?x=1"
    assert proxied_url("http://127.0.0.1:5000/", "/") == "/proxy/5000/"


@pytest.mark.parametrize(
    "url",
    ["", "http://10.0.0.5:8080", "https://127.0.0.1:8443", "http://127.0.0.1", "/already/a/path"],
)
def test_what_the_proxy_cannot_reach_is_left_as_it_is(url):
    assert proxied_url(url, "/user/alice/") == url


@pytest.mark.parametrize(
    "mode,enabled,environ,expected",
    [
        ("auto", True, HUB, "/user/alice/"),
        ("auto", True, {}, ""),  # a plain Jupyter server: 127.0.0.1 is the browser's machine
        ("auto", False, HUB, ""),  # nothing would answer at proxy/PORT/
        ("always", True, {}, "/user/alice/"),
        ("always", False, {}, ""),
        ("never", True, HUB, ""),
    ],
)
def test_when_urls_are_proxied(mode, enabled, environ, expected):
    assert proxy_base(mode, "/user/alice/", enabled, environ) == expected


def test_every_url_in_an_answer_is_proxied_and_the_direct_one_kept():
    answer = {
        "instances": [{"name": "iris", "url": "http://127.0.0.1:4000", "labels": {}}],
        "result": {
            "instance": {"url": "http://127.0.0.1:4001"},
            "replacement": {"url": "http://127.0.0.1:4001"},
        },
        "stopped": {"url": ""},
    }
    proxied = reachable(answer, "/user/alice/")
    assert proxied["instances"][0] == {
        "name": "iris",
        "url": "/user/alice/proxy/4000/",
        "direct_url": "http://127.0.0.1:4000",
        "labels": {},
    }
    assert proxied["result"]["instance"]["url"] == "/user/alice/proxy/4001/"
    assert proxied["result"]["replacement"]["direct_url"] == "http://127.0.0.1:4001"
    assert proxied["stopped"] == {"url": ""}, "a stopped instance has no URL to proxy"
    assert reachable(answer, "") is answer
    assert reachable(proxied, "/user/alice/") == proxied, "proxying twice changes nothing"


def built_instance(job, on_event) -> BuildResult:
    """A stand-in build that started an instance on 127.0.0.1:4321."""
    instance = Instance("abc", "iris", "mlcontainer/iris:1", "http://127.0.0.1:4321", "running")
    return BuildResult(context="stand-in", name="iris", instance=instance)


@pytest.fixture
def proxy_mode():
    return "auto"


@pytest.fixture
def jp_server_config(monkeypatch, jp_base_url, proxy_mode):
    """A server as JupyterHub starts it: its prefix in the environment, the proxy enabled."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", jp_base_url)
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_mlcontainer": True, "jupyter_server_proxy": True}
        },
        "MLContainerConfig": {"proxy_urls": proxy_mode},
    }


async def build_job(jp_serverapp, jp_fetch) -> tuple[dict, dict]:
    """A stand-in build through the REST API: (GET jobs/<id>, the event stream's end summary)."""
    pytest.importorskip("jupyter_server_proxy")
    settings = jp_serverapp.web_app.settings
    settings["mlcontainer_jobs"] = JobManager(built_instance)
    notebook = jp_serverapp.root_dir + "/model.ipynb"
    with open(notebook, "w") as file:
        json.dump({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, file)
    status, accepted = await call(jp_fetch, "POST", "jobs", {"path": "model.ipynb", "run": False})
    assert status == 202, accepted
    job = await wait_for_job(jp_fetch, accepted["id"], 30)
    assert job["status"] == "succeeded", job["error"]
    response = await jp_fetch("mlcontainer", "jobs", accepted["id"], "events")
    end = response.body.decode().strip().split("\n\n")[-1]
    assert end.startswith("event: end\ndata: ")
    return job, json.loads(end.split("data: ", 1)[1])


async def test_under_jupyterhub_a_builds_instance_is_reached_through_the_proxy(
    jp_serverapp, jp_fetch, jp_base_url
):
    job, end = await build_job(jp_serverapp, jp_fetch)
    for summary in (job, end):
        instance = summary["result"]["instance"]
        assert instance["url"] == f"{jp_base_url}proxy/4321/"
        assert instance["direct_url"] == "http://127.0.0.1:4321"


@pytest.mark.parametrize("proxy_mode", ["never"])
async def test_proxied_urls_can_be_turned_off(jp_serverapp, jp_fetch):
    job, end = await build_job(jp_serverapp, jp_fetch)
    assert job["result"]["instance"]["url"] == end["result"]["instance"]["url"]
    assert job["result"]["instance"]["url"] == "http://127.0.0.1:4321"
    assert "direct_url" not in job["result"]["instance"]
