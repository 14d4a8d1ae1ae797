"""Which replicas the front serves from, read off HAProxy's statistics CSV: a server counts while
it is up, including one that has failed a check but not yet enough to leave ("UP 1/2"), and never
a slot that is down or has no address. The real front is exercised by test_replicas.py."""

from __future__ import annotations

import http.server
import threading

import pytest

from jupyter_mlcontainer.deploy.front import STATS_PATH, serving_addresses, wait_front_sees

STATS = """\
# pxname,svname,qcur,status,addr,
model,FRONTEND,,OPEN,,
replicas,replica1,0,UP,10.0.1.2:8080,
replicas,replica2,0,UP 1/2,10.0.1.3:8080,
replicas,replica3,0,DOWN,10.0.1.4:8080,
replicas,replica4,0,MAINT (resolution),,
replicas,BACKEND,0,UP,,
"""


@pytest.fixture
def front_url():
    paths = []

    class Stats(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(STATS.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stats)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    assert paths and all(path == f"{STATS_PATH};csv" for path in paths)


def test_the_replicas_up_are_those_with_an_address_that_are_up(front_url):
    assert serving_addresses(front_url) == {"10.0.1.2", "10.0.1.3"}


def test_the_wait_ends_on_exactly_the_new_replicas_and_not_on_as_many(front_url):
    assert wait_front_sees(front_url, {"10.0.1.2", "10.0.1.3"}, timeout=2)
    assert not wait_front_sees(front_url, {"10.0.1.2", "10.0.1.9"}, timeout=0.5)


def test_a_front_that_does_not_answer_is_waited_for_then_reported():
    assert not wait_front_sees("http://127.0.0.1:9", {"10.0.1.2"}, timeout=0.5)
