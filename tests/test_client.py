"""The instance HTTP client, against a stdlib server on 127.0.0.1 (the same one the engine tests
put in an image)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from ports import free_port

from jupyter_mlcontainer.client import ServingClient
from jupyter_mlcontainer.errors import InstanceUnreachable

#: A stand-in for the serving runtime: stdlib only, so it runs on the host and in the base image.
#: STUB_MODE: serve (default), no-ready (no /ready route), crash (exits at start), hang (never listens).
STUB_SERVER = r"""
import json, os, signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
mode = os.environ.get("STUB_MODE", "serve")
print(f"stub starting in {mode} mode", flush=True)
if mode == "crash":
    sys.exit("stub crashed: cannot load model.joblib")
if mode == "hang":
    time.sleep(3600)
time.sleep(float(os.environ.get("STUB_DELAY", "1")))
listening = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path == "/ready" and mode != "no-ready":
            ready = time.monotonic() - listening > 0.5
            self.reply(200 if ready else 503, {"ready": ready})
        elif self.path == "/metadata":
            self.reply(200, {"python": sys.version.split()[0], "mode": mode})
        elif self.path == "/fail":
            self.reply(500, "internal failure", "text/plain")
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path != "/predict":
            self.reply(404, {"error": f"no route {self.path}"})
        elif "instances" not in body:
            self.reply(400, {"error": 'expected {"instances": [...]}'})
        else:
            print(f"predict {len(body['instances'])} instances", flush=True)
            self.reply(200, {"predictions": body["instances"]})

    def reply(self, status, body, content_type="application/json"):
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(format % args, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def stub_url(tmp_path_factory):
    script = tmp_path_factory.mktemp("stub") / "stub.py"
    script.write_text(STUB_SERVER)
    port = free_port()
    env = {**os.environ, "PORT": str(port), "STUB_DELAY": "0"}
    process = subprocess.Popen(
        [sys.executable, "-u", str(script)], env=env, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                ServingClient(url, timeout=1).health()
                break
            except InstanceUnreachable:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_predict_returns_the_parsed_answer_and_its_latency(stub_url):
    answer = ServingClient(stub_url).predict({"instances": [[1, 2], [3, 4]]})
    assert answer.ok and answer.status == 200
    assert answer.body == {"predictions": [[1, 2], [3, 4]]}
    assert answer.error == ""
    assert 0 < answer.latency_ms < 10_000


def test_health_ready_and_metadata(stub_url):
    client = ServingClient(stub_url + "/")
    assert client.health().body == {"status": "ok"}
    time.sleep(0.6)  # the stub turns ready 0.5 s after it starts listening
    assert client.ready().status == 200 and client.ready().body == {"ready": True}
    assert client.metadata().body["python"] == ".".join(map(str, sys.version_info[:3]))


def test_client_errors_are_answers_with_the_servers_explanation(stub_url):
    client = ServingClient(stub_url)
    bad = client.predict({"rows": []})
    assert (bad.status, bad.ok) == (400, False)
    assert bad.error == 'expected {"instances": [...]}'
    assert client.request("GET", "/nowhere").error == "no route /nowhere"


def test_a_server_error_in_plain_text_keeps_the_text(stub_url):
    failed = ServingClient(stub_url).request("GET", "/fail")
    assert failed.status == 500
    assert failed.body == failed.error == "internal failure"


def test_a_closed_port_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(InstanceUnreachable) as caught:
        ServingClient(url).predict({"instances": [1]})
    assert f"Nothing answers at {url}/predict" in caught.value.message
    assert "jupyter mlcontainer ls" in caught.value.hint


def test_a_silent_server_times_out_as_unreachable():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(InstanceUnreachable, match="did not answer within 0.3 s"):
            ServingClient(url, timeout=0.3).health()
        assert time.monotonic() - started < 5


def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError, match="not an http"):
        ServingClient("127.0.0.1:8080")
