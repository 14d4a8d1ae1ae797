"""The load test's bounds and statistics, and the latency histogram it draws."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyter_mlcontainer.notebook.widget.histogram import latency_histogram_png
from jupyter_mlcontainer.notebook.widget.loadtest import (
    MAX_CONCURRENCY,
    MAX_REQUESTS,
    LoadTestResult,
    percentile,
    run_load_test,
)
from jupyter_mlcontainer.shared.errors import LoadTestRefused

from ports import free_port

ANSWER = b'{"predictions": [0]}'


def test_percentiles_are_latencies_some_request_had():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5:8080", "http://model.example", "https://localhost.example.com"]
)
def test_other_hosts_are_refused(url):
    with pytest.raises(LoadTestRefused, match="only run against instances on this machine"):
        run_load_test(url, {"instances": []})


@pytest.mark.parametrize(
    "bounds",
    [
        {"requests": 0},
        {"requests": MAX_REQUESTS + 1},
        {"concurrency": MAX_CONCURRENCY + 1},
        {"max_seconds": 600},
    ],
)
def test_bounds_are_enforced(bounds):
    with pytest.raises(LoadTestRefused, match="A load test takes 1 to"):
        run_load_test("http://127.0.0.1:9", {"instances": []}, **bounds)


def test_a_closed_port_counts_as_no_answer():
    result = run_load_test(
        f"http://localhost:{free_port()}", {"instances": []}, requests=6, concurrency=3
    )
    assert result.statuses == {0: 6}
    assert result.ok == 0 and result.errors == 6 and not result.timed_out
    assert result.summary() == "6 requests, none answered 2xx (6× no answer)"


def test_the_histogram_is_a_png_of_the_requested_size():
    from matplotlib.image import imread

    result = LoadTestResult(100, 4, latencies_ms=[1.0 + (i % 17) * 0.3 for i in range(100)])
    result.statuses, result.seconds = {200: 100}, 0.5
    picture = imread(io.BytesIO(latency_histogram_png(result, width=6, height=2.6)))
    assert picture.shape[:2] == (260, 600)
    assert picture[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_the_histogram_says_when_nothing_succeeded():
    result = LoadTestResult(3, 1, statuses={500: 3}, seconds=0.1)
    assert latency_histogram_png(result).startswith(b"\x89PNG")


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)


@pytest.fixture
def keep_alive_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    httpd.daemon_threads = True
    httpd.connections, httpd.bodies, httpd.lock = 0, [], threading.Lock()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_each_client_keeps_one_connection_alive(keep_alive_server):
    url = f"http://127.0.0.1:{keep_alive_server.server_port}"
    result = run_load_test(url, {"instances": [[1, 2]]}, requests=60, concurrency=3)
    assert result.statuses == {200: 60} and len(result.latencies_ms) == 60
    assert keep_alive_server.connections == 3
    assert set(keep_alive_server.bodies) == {b'{"instances": [[1, 2]]}'}
