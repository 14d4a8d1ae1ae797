"""The instance HTTP client, against a stdlib server on 127.0.0.1 (the same one the engine tests
put in an image)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.shared.errors import InstanceUnreachable

from ports import free_port
from stubs import STUB_SERVER


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
