"""Taking a port over (MLCONTAINER_REUSE_PORT, runtime/handover.py), on the host: the newcomer
listens beside the old server only once its model is loaded, and the old one, on the retire
signal, stops listening at once, drains and stops; the port answers every request throughout."""

import http.client
import json
import threading
import time

import pytest

from jupyter_mlcontainer.runtime.handover import RETIRE_DRAIN_SECONDS, RETIRE_SIGNAL

ANSWERS = """
    import time

    time.sleep({load})


    def predict(rows):
        return [{answer!r} for _ in rows]
"""
SAMPLE = {"request": {"instances": [[1, 2]]}}


class Client(threading.Thread):
    """Predicts on a new connection every 10 ms until stopped: every answer, every failure."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.answers, self.failures = port, [], []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request(
                    "POST",
                    "/predict",
                    json.dumps(SAMPLE["request"]),
                    {"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                body = json.loads(response.read())
                self.answers.append((time.monotonic(), body["predictions"][0]))
            except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                self.failures.append(repr(error))
            finally:
                connection.close()
            time.sleep(0.01)

    def since(self, moment: float) -> set:
        return {answer for at, answer in self.answers if at > moment}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_newcomer_takes_the_port_over_with_no_request_lost(serve, new_root, workers):
    old_root = new_root(ANSWERS.format(load=0, answer="old"), {"kind": "list"}, SAMPLE)
    newcomer = new_root(ANSWERS.format(load=1.5, answer="new"), {"kind": "list"}, SAMPLE)
    env = {"MLCONTAINER_REUSE_PORT": "1", "MLCONTAINER_WORKERS": workers}
    old = serve(old_root, **env)
    client = Client(old.port)
    client.start()
    started = time.monotonic()
    new = serve(newcomer, wait=None, port=old.port, **env)
    time.sleep(1.0)
    assert client.since(started) == {"old"}, "the newcomer took requests while it loaded"

    deadline = time.monotonic() + 20
    while "new" not in client.since(started):  # both listen: the kernel shares connections
        assert time.monotonic() < deadline and new.process.poll() is None
        time.sleep(0.05)
    retired = time.monotonic()
    old.process.send_signal(RETIRE_SIGNAL)
    old.process.wait(timeout=10)
    stopped = time.monotonic()
    time.sleep(0.5)
    client.stopping.set()
    client.join(timeout=10)

    assert client.failures == [], client.failures[:5]
    assert client.since(retired + 0.3) == {"new"}, "new connections still reached the old one"
    assert RETIRE_DRAIN_SECONDS - 0.2 < stopped - retired < RETIRE_DRAIN_SECONDS + 3
    stderr = old.stop()
    assert "stopped listening, draining" in stderr
    assert new.get("/ready").status == 200
