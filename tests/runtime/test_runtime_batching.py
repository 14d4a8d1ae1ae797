"""Micro-batching and worker processes, served from a subprocess as an image serves them."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

# Slow enough (50 ms a call) that requests sent together arrive while the model computes.
COUNTING_CODE = """
    import time


    def predict(inputs):
        with open("calls.log", "a") as log:
            log.write(f"{len(inputs)}\\n")
        time.sleep(0.05)
        return inputs[:, 0] * 2
"""
ONE_COLUMN = {"kind": "ndarray", "dtype": "float64", "shape": [None, 1]}
SAMPLE = {"request": {"instances": [[1.0], [2.0]]}, "expected": {"predictions": [2.0, 4.0]}}
BATCHING = {"enabled": True, "max_batch": 64, "max_wait_ms": 2}


def model_calls(root) -> list:
    """Rows per model call, the warm-up's left out."""
    return [int(line) for line in (root / "calls.log").read_text().split()][1:]


def post_together(server, bodies: list) -> list:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: server.post("/predict", body), bodies))


@pytest.fixture
def batching_root(new_root):
    return new_root(COUNTING_CODE, ONE_COLUMN, SAMPLE, batching=BATCHING)


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(serve, batching_root):
    server = serve(batching_root)
    answers = post_together(server, [{"instances": [[float(i)]]} for i in range(16)])
    assert [a.status for a in answers] == [200] * 16
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i] for i in range(16)]
    calls = model_calls(batching_root)
    assert sum(calls) == 16
    assert len(calls) < 16, calls
    assert server.get("/metadata").json()["server"]["batching"] is True


def test_one_bad_request_in_a_batch_gets_its_error_and_the_others_their_predictions(
    serve, batching_root
):
    server = serve(batching_root)
    alone = server.post("/predict", {"instances": [["seven"]]})
    assert 400 <= alone.status < 500
    bodies = [{"instances": [[float(i)]]} for i in range(8)]
    bodies.insert(4, {"instances": [["seven"]]})
    answers = post_together(server, bodies)
    assert answers[4].status == alone.status
    assert answers[4].json() == alone.json()
    good = answers[:4] + answers[5:]
    assert [a.status for a in good] == [200] * 8
    assert [a.json()["predictions"] for a in good] == [[2.0 * i] for i in range(8)]


def test_without_batching_each_request_is_one_model_call(serve, new_root):
    root = new_root(COUNTING_CODE, ONE_COLUMN, SAMPLE)  # serving.json without "batching"
    server = serve(root)
    answers = post_together(server, [{"instances": [[float(i)]]} for i in range(4)])
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i] for i in range(4)]
    assert model_calls(root) == [1, 1, 1, 1]
    assert server.get("/metadata").json()["server"]["batching"] is False


def test_workers_share_one_port_and_stop_together(serve, batching_root):
    server = serve(batching_root, MLCONTAINER_WORKERS=2)
    children = _children(server.process.pid)
    assert len(children) == 2
    answers = post_together(server, [{"instances": [[float(i)]]} for i in range(8)])
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i] for i in range(8)]
    log = server.stop()
    assert server.process.returncode == 0, log
    assert "serving with 2 worker processes" in log
    assert not any(os.path.exists(f"/proc/{pid}") for pid in children)


def _children(pid: int) -> list:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def test_mlflow_invocations_are_batched_too(serve, batching_root):
    """/invocations (its row forms, and CSV, which becomes rows) shares model calls as /predict
    does."""
    server = serve(batching_root)
    bodies = [{"instances": [[float(i)]]} for i in range(8)]
    bodies += [{"inputs": [[float(i)]]} for i in range(8, 16)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: server.post("/invocations", body), bodies))
    assert [a.status for a in answers] == [200] * 16
    assert [a.json() for a in answers] == [{"predictions": [2.0 * i]} for i in range(16)]
    calls = model_calls(batching_root)
    assert sum(calls) == 16 and len(calls) < 16, calls
    csv = server.request("POST", "/invocations", b"a\n3.0\n", {"Content-Type": "text/csv"})
    assert csv.json() == {"predictions": [6.0]}
