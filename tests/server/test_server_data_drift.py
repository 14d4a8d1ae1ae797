"""GET /mlcontainer/instances/{name}/data-drift: the instance's own /drift, proxied from the
server with the features above the configured threshold listed as `drifting`.

The engine is replaced by one that knows a single instance, whose URL is a small server on
127.0.0.1 answering /drift as the runtime does, so these tests need no Docker.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyter_mlcontainer.engine.base import Instance
from jupyter_mlcontainer.shared.errors import InstanceNotFound

from ports import free_port
from test_server_api import call

NAME = "churn"


def histogram(psi: float, rows: int = 300) -> dict:
    return {
        "psi": psi,
        "rows": rows,
        "bins": ["< 1", "≥ 1"],
        "expected": [0.5, 0.5],
        "actual": [0.5, 0.5],
    }


#: What the runtime answers at /drift: age drifts far, income a little, city not at all.
REPORT = {
    "features": {"city": histogram(0.01), "income": histogram(0.3), "age": histogram(2.5)},
    "prediction": histogram(0.05),
    "window_rows": 300,
    "window_limit": 10_000,
    "drifting_above": 0.2,
}
NO_CONTRACT = "this image has no data contract to measure drift against"


class _Drift(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.paths.append(self.path)  # before answering: the test reads it on the answer
        status, body = self.server.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def instance_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Drift)
    httpd.answer, httpd.paths = (200, REPORT), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


class _Engine:
    """An engine with one instance, `NAME`, served at `url` (empty: not running)."""

    def __init__(self, url: str):
        self.url = url

    def find_instance(self, name: str) -> Instance:
        if name != NAME:
            raise InstanceNotFound(f"No instance named {name!r}.", "List them: `ls`.")
        status = "running" if self.url else "exited"
        return Instance("c0ffee", NAME, "mlcontainer/churn:abc", self.url, status)


@pytest.fixture
def engine_at(monkeypatch):
    """`engine_at(url)`: the server's engine knows one instance, NAME, at `url`."""

    def use(url: str) -> None:
        monkeypatch.setattr("jupyter_mlcontainer.engine.open_engine", lambda *a, **k: _Engine(url))

    return use


async def test_the_instances_drift_comes_back_with_the_drifting_features(
    jp_fetch, engine_at, instance_server
):
    engine_at(f"http://127.0.0.1:{instance_server.server_port}")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 200, reply
    assert instance_server.paths == ["/drift"]
    assert reply["drifting"] == ["age", "income"], "the worst first, above 0.2"
    assert reply["threshold"] == 0.2 and reply["name"] == NAME
    assert reply["worst"] == {"feature": "age", "psi": 2.5}
    assert reply["features"] == REPORT["features"] and reply["window_rows"] == 300


@pytest.mark.parametrize(
    "jp_server_config",
    [
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_mlcontainer": True}},
            "MLContainerConfig": {"data_drift_threshold": 1.0},
        }
    ],
)
async def test_the_threshold_is_the_servers_configuration(jp_fetch, engine_at, instance_server):
    engine_at(f"http://127.0.0.1:{instance_server.server_port}")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 200, reply
    assert reply["threshold"] == 1.0 and reply["drifting"] == ["age"]


async def test_an_unknown_instance_is_404(jp_fetch, engine_at):
    engine_at("http://127.0.0.1:1")
    status, reply = await call(jp_fetch, "GET", "instances/mlc-no-such-instance/data-drift")
    assert status == 404, reply
    assert "mlc-no-such-instance" in reply["message"]


async def test_an_image_without_a_contract_is_404_with_the_instances_message(
    jp_fetch, engine_at, instance_server
):
    instance_server.answer = (404, {"error": NO_CONTRACT})
    engine_at(f"http://127.0.0.1:{instance_server.server_port}")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 404, reply
    assert reply["message"] == f"{NAME}: {NO_CONTRACT}"
    assert "Build the image again" in reply["hint"]


async def test_an_instance_that_does_not_answer_is_502(jp_fetch, engine_at, instance_server):
    engine_at(f"http://127.0.0.1:{free_port()}")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 502, reply
    assert reply["message"].startswith("Nothing answers at http://127.0.0.1:")
    instance_server.answer = (503, {"error": "the model is still loading"})
    engine_at(f"http://127.0.0.1:{instance_server.server_port}")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 502, reply
    assert reply["message"] == f"{NAME} answered GET /drift with 503: the model is still loading"


async def test_a_stopped_instance_is_502(jp_fetch, engine_at):
    engine_at("")
    status, reply = await call(jp_fetch, "GET", f"instances/{NAME}/data-drift")
    assert status == 502, reply
    assert reply["message"] == f"{NAME} is exited, not running."
