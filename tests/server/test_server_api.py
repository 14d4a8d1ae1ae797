"""The REST API under /mlcontainer/: authentication, validation, paths, errors as JSON."""

from __future__ import annotations

import asyncio
import json

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from ports import free_port

ROUTES = [
    ("GET", "config"),
    ("GET", "candidates?path=model.ipynb"),
    ("GET", "jobs"),
    ("POST", "jobs"),
    ("GET", "jobs/abc123"),
    ("DELETE", "jobs/abc123"),
    ("GET", "jobs/abc123/events"),
    ("GET", "instances"),
    ("GET", "instances/some-name"),
    ("DELETE", "instances/some-name"),
    ("GET", "instances/some-name/logs"),
    ("GET", "instances/some-name/drift"),
    ("GET", "instances/some-name/data-drift"),
    ("POST", "instances/some-name/predict"),
    ("POST", "push"),
    ("GET", "deployments"),
    ("POST", "deployments"),
    ("GET", "deployments/some-name"),
    ("PATCH", "deployments/some-name"),
    ("DELETE", "deployments/some-name"),
    ("POST", "deployments/some-name/rollout"),
]


async def call(jp_fetch, method: str, route: str, body=None, **kwargs):
    """(status, parsed JSON) for any answer, 2xx or not."""
    path, _, query = route.partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&")) if query else None
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    if method in ("POST", "PUT", "PATCH") and body is None:
        body = "{}"
    try:
        response = await jp_fetch(
            "mlcontainer", *path.split("/"), method=method, body=body, params=params, **kwargs
        )
    except HTTPClientError as error:
        response = error.response
        assert response is not None, error
    return response.code, json.loads(response.body or b"null")


@pytest.fixture
def notebook(jp_root_dir):
    """A small notebook that fits a model, in the server's root."""
    cells = [
        nbformat.v4.new_code_cell(
            "from sklearn.linear_model import LinearRegression\nX = [[1.0], [2.0], [3.0]]\ny = [2.0, 4.0, 6.0]"
        ),
        nbformat.v4.new_code_cell("reg = LinearRegression()\nreg.fit(X, y)"),
        nbformat.v4.new_code_cell("def predict(rows):\n    return reg.predict(rows)"),
        nbformat.v4.new_code_cell("predict(X[-1:])"),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["mlcontainer"] = {"model": "reg", "sample": "X[:2]"}
    path = jp_root_dir / "model.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("method,route", ROUTES)
async def test_every_route_needs_a_token(jp_fetch, method, route):
    status, body = await call(jp_fetch, method, route, headers={"Authorization": ""})
    assert status == 403, body


#: What each route answers with a token and an empty body (`{}` where one is sent): the data,
#: 400 for the fields a body lacks, 404 for names that do not exist.
TOKEN_STATUS = {
    ("GET", "config"): 200,
    ("GET", "candidates?path=model.ipynb"): 404,
    ("GET", "jobs"): 200,
    ("POST", "jobs"): 400,
    ("GET", "jobs/abc123"): 404,
    ("DELETE", "jobs/abc123"): 404,
    ("GET", "jobs/abc123/events"): 404,
    ("GET", "instances"): 200,
    ("GET", "instances/some-name"): 404,
    ("DELETE", "instances/some-name"): 404,
    ("GET", "instances/some-name/logs"): 404,
    ("GET", "instances/some-name/drift"): 404,
    ("GET", "instances/some-name/data-drift"): 404,
    ("POST", "instances/some-name/predict"): 400,
    ("POST", "push"): 400,
    ("GET", "deployments"): 200,
    ("POST", "deployments"): 400,
    ("GET", "deployments/some-name"): 404,
    ("PATCH", "deployments/some-name"): 400,
    ("DELETE", "deployments/some-name"): 404,
    ("POST", "deployments/some-name/rollout"): 404,
}


@pytest.mark.parametrize("method,route", ROUTES)
async def test_a_token_opens_every_route(jp_fetch, engine, method, route):
    """The other side of the test above: with a token each route answers what it should."""
    status, body = await call(jp_fetch, method, route)
    assert status == TOKEN_STATUS[method, route], body
    assert body["message"] if status >= 400 else body


async def test_hidden_notebooks_are_refused_as_the_server_hides_them(jp_fetch, jp_root_dir):
    (jp_root_dir / ".private").mkdir()
    (jp_root_dir / ".private" / "model.ipynb").write_text("{}")
    for method, route, body in (
        ("POST", "jobs", {"path": ".private/model.ipynb"}),
        ("GET", "candidates?path=.private/model.ipynb", None),
    ):
        status, reply = await call(jp_fetch, method, route, body)
        assert status == 403, reply
        assert "hidden" in reply["message"] and "allow_hidden" in reply["hint"]


async def test_a_nul_in_the_path_is_400(jp_fetch, notebook):
    status, reply = await call(jp_fetch, "POST", "jobs", {"path": "model\u0000.ipynb"})
    assert status == 400, reply
    assert "NUL" in reply["message"]


async def test_candidates_come_from_the_notebook(jp_fetch, notebook):
    status, body = await call(jp_fetch, "GET", "candidates?path=model.ipynb")
    assert status == 200, body
    assert body["models"] == ["reg"]
    assert body["functions"] == ["predict"]
    assert body["sample"] == "X[:2]"
    assert body["samples"] == {"model:reg": "X", "entry:predict": "X[-1:]"}
    assert body["defaults"] == {"model": "reg", "sample": "X[:2]"}


@pytest.mark.parametrize("path", ["../model.ipynb", "sub/../../model.ipynb", "..\\model.ipynb"])
async def test_paths_that_climb_out_of_the_root_are_refused(jp_fetch, notebook, path):
    for method, route, body in (
        ("POST", "jobs", {"path": path}),
        ("GET", f"candidates?path={path}", None),
    ):
        status, reply = await call(jp_fetch, method, route, body)
        assert status == 403, reply
        assert "root" in reply["message"] and reply["hint"]


async def test_absolute_paths_are_refused(jp_fetch, notebook):
    status, reply = await call(jp_fetch, "POST", "jobs", {"path": str(notebook)})
    assert status == 403
    assert "absolute" in reply["message"]


async def test_a_symlink_out_of_the_root_is_refused(
    jp_fetch, jp_root_dir, notebook, tmp_path_factory
):
    outside = tmp_path_factory.mktemp("outside") / "secret.ipynb"
    outside.write_text(notebook.read_text())
    (jp_root_dir / "link.ipynb").symlink_to(outside)
    (jp_root_dir / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    for path in ("link.ipynb", "linked-dir/secret.ipynb"):
        status, reply = await call(jp_fetch, "POST", "jobs", {"path": path})
        assert status == 403, reply
        assert "outside" in reply["message"]


async def test_a_symlink_inside_the_root_is_followed(jp_fetch, jp_root_dir, notebook):
    (jp_root_dir / "alias.ipynb").symlink_to(notebook)
    status, reply = await call(jp_fetch, "GET", "candidates?path=alias.ipynb")
    assert status == 200, reply


async def test_a_missing_notebook_is_404(jp_fetch, jp_root_dir):
    for method, route, body in (
        ("POST", "jobs", {"path": "nope.ipynb"}),
        ("GET", "candidates?path=nope.ipynb", None),
    ):
        status, reply = await call(jp_fetch, method, route, body)
        assert status == 404, reply
        assert "nope.ipynb" in reply["message"]


@pytest.mark.parametrize(
    "body,expected",
    [
        ("not json", "not JSON"),
        ([1, 2], "JSON object"),
        ({}, "'path' is required"),
        ({"path": "model.ipynb", "colour": "red"}, "Unknown field(s): colour"),
        ({"path": 3}, "'path' must be"),
        ({"path": "model.ipynb", "port": "8080"}, "'port' must be"),
        ({"path": "model.ipynb", "port": True}, "'port' must be"),
        ({"path": "model.ipynb", "port": 70000}, "between 0 and 65535"),
        ({"path": "model.ipynb", "run": "yes"}, "'run' must be"),
        ({"path": "model.ipynb", "model": "reg", "entry": "predict"}, "not both"),
        ({"path": "model.ipynb", "kernel_id": "no-such-kernel"}, "No running kernel"),
    ],
)
async def test_bad_job_bodies_are_400_with_what_was_expected(jp_fetch, notebook, body, expected):
    status, reply = await call(jp_fetch, "POST", "jobs", body)
    assert status == 400, reply
    assert expected in reply["message"]
    assert reply["hint"]


async def test_a_non_notebook_file_is_400(jp_fetch, jp_root_dir):
    (jp_root_dir / "data.csv").write_text("a,b\n1,2\n")
    status, reply = await call(jp_fetch, "POST", "jobs", {"path": "data.csv"})
    assert status == 400
    assert ".ipynb" in reply["message"]


async def test_candidates_need_a_path(jp_fetch):
    status, reply = await call(jp_fetch, "GET", "candidates")
    assert status == 400
    assert "'path'" in reply["message"]


@pytest.mark.parametrize(
    "method,route",
    [
        ("GET", "jobs/0123abcd"),
        ("DELETE", "jobs/0123abcd"),
        ("GET", "jobs/0123abcd/events"),
    ],
)
async def test_unknown_jobs_are_404(jp_fetch, method, route):
    status, reply = await call(jp_fetch, method, route)
    assert status == 404, reply
    assert "0123abcd" in reply["message"] and reply["hint"]


async def test_a_broken_notebook_fails_its_job_with_a_message(jp_fetch, jp_root_dir):
    """The job runs the real pipeline in a thread; its failure is recorded, streamed and kept."""
    (jp_root_dir / "broken.ipynb").write_text("{ this is not a notebook")
    status, reply = await call(jp_fetch, "POST", "jobs", {"path": "broken.ipynb", "run": False})
    assert status == 202, reply
    job = await wait_for_job(jp_fetch, reply["id"], timeout=60)
    assert job["status"] == "failed"
    assert "broken.ipynb" in job["error"]["message"] and job["error"]["hint"]
    assert job["result"] is None

    response = await jp_fetch("mlcontainer", "jobs", reply["id"], "events")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    stream = response.body.decode()
    assert stream.rstrip().endswith("}") and "event: end" in stream
    end = json.loads(stream.split("event: end\ndata: ", 1)[1])
    assert end["status"] == "failed" and end["id"] == reply["id"]

    status, listing = await call(jp_fetch, "GET", "jobs")
    assert [j["id"] for j in listing["jobs"]] == [reply["id"]]


async def wait_for_job(jp_fetch, job_id: str, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status, job = await call(jp_fetch, "GET", f"jobs/{job_id}")
        assert status == 200, job
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert loop.time() < deadline, (
            f"job {job_id} still {job['status']} after {timeout} s: {job['events'][-5:]}"
        )
        await asyncio.sleep(0.5)


@pytest.mark.parametrize(
    "method,route,body",
    [
        ("GET", "instances", None),
        ("GET", "instances/any/logs", None),
        ("DELETE", "instances/any", None),
        ("POST", "instances/any/predict", {"payload": {"instances": [[1.0]]}}),
    ],
)
async def test_a_stopped_daemon_is_503_and_the_server_keeps_serving(
    jp_fetch, monkeypatch, method, route, body
):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    status, reply = await call(jp_fetch, method, route, body)
    assert status == 503, reply
    assert reply["message"].startswith("No container engine answers: tried DOCKER_HOST tcp://")
    assert "DOCKER_HOST" in reply["hint"] and "doctor" in reply["hint"]
    status, config = await call(jp_fetch, "GET", "config")
    assert status == 200 and config["version"]


@pytest.mark.parametrize(
    "body,expected",
    [
        ({}, "'payload' is required"),
        ({"payload": [1, 2]}, "'payload' must be"),
        ({"payload": {}, "extra": 1}, "Unknown field(s): extra"),
    ],
)
async def test_bad_predict_bodies_are_400(jp_fetch, body, expected):
    status, reply = await call(jp_fetch, "POST", "instances/any/predict", body)
    assert status == 400, reply
    assert expected in reply["message"]


async def test_a_bad_tail_is_400(jp_fetch):
    status, reply = await call(jp_fetch, "GET", "instances/any/logs?tail=many")
    assert status == 400
    assert "tail" in reply["message"]


@pytest.mark.engine
@pytest.mark.parametrize(
    "method,route,body",
    [
        ("GET", "instances/mlc-no-such-instance", None),
        ("GET", "instances/mlc-no-such-instance/logs", None),
        ("GET", "instances/mlc-no-such-instance/data-drift", None),
        ("DELETE", "instances/mlc-no-such-instance", None),
        ("POST", "instances/mlc-no-such-instance/predict", {"payload": {"instances": []}}),
    ],
)
async def test_unknown_instances_are_404(jp_fetch, engine, method, route, body):
    status, reply = await call(jp_fetch, method, route, body)
    assert status == 404, reply
    assert "mlc-no-such-instance" in reply["message"]


@pytest.mark.engine
async def test_instances_are_listed_from_the_engine(jp_fetch, engine):
    before = {instance.name for instance in engine.list_instances()}
    status, reply = await call(jp_fetch, "GET", "instances")
    after = {instance.name for instance in engine.list_instances()}
    assert status == 200
    # Another test may start or stop an instance meanwhile.
    assert before & after <= {instance["name"] for instance in reply["instances"]} <= before | after
