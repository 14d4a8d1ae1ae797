"""Start-up, readiness, slow models, graceful shutdown, and the check and healthcheck commands."""

import http.client
import json
import signal
import threading
import time

SLOW_CODE = """
    import time

    time.sleep(1.5)  # a model that takes a while to load


    def predict(rows):
        time.sleep(rows[0][0])  # the first value says how long the model computes
        return [sum(row) for row in rows]
"""
SLOW_SAMPLE = {"request": {"instances": [[0.2, 1]]}, "expected": {"predictions": [1.2]}}


def test_slow_model_loads_in_the_background_and_shuts_down_gracefully(serve, new_root):
    root = new_root(SLOW_CODE, {"kind": "list"}, SLOW_SAMPLE)
    server = serve(root, wait="/health")

    # Listening while the module loads: liveness yes, readiness and predictions not yet.
    assert server.get("/health").status == 200
    assert server.get("/ready").json()["status"] == "loading"
    early = server.post("/predict", {"instances": [[0, 1]]})
    assert early.status == 503 and early.headers["Retry-After"] == "1"
    assert "loading" in early.json()["error"]
    server.wait("/ready")

    # The warm-up took 0.2 s, so predictions run off the event loop and probes still answer.
    answers = []
    slow = threading.Thread(
        target=lambda: answers.append(server.post("/predict", {"instances": [[2.0, 1]]}))
    )
    slow.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert server.get("/health").status == 200
    assert time.monotonic() - started < 0.5

    # SIGTERM while that prediction is in flight: it still completes, then the process exits.
    stderr = server.stop()
    slow.join(timeout=10)
    assert answers and answers[0].status == 200
    assert answers[0].json() == {"predictions": [3.0]}
    assert server.process.returncode is not None
    assert "Waiting for connections to close" in stderr, stderr


def test_a_model_that_fails_to_load_is_never_ready(serve, new_root):
    root = new_root(
        "raise ImportError('no module named sklearn_extra')\n", {"kind": "list"}, SLOW_SAMPLE
    )
    server = serve(root, wait="/health")
    deadline = time.monotonic() + 10
    while server.get("/ready").json()["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.05)
    ready = server.get("/ready")
    assert ready.status == 503
    assert ready.json()["status"] == "failed"
    assert "ImportError: no module named sklearn_extra" in ready.json()["error"]
    predict = server.post("/predict", {"instances": [[0, 1]]})
    assert predict.status == 503 and "failed to load" in predict.json()["error"]
    assert server.get("/health").status == 200


def test_check_passes_when_the_model_answers_like_the_notebook(churn_root, runtime_command):
    result = runtime_command(churn_root, "check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["row", "0", "PASS"],
        ["row", "1", "PASS"],
        ["row", "2", "PASS"],
    ]
    assert lines[-1] == "PASS"


def test_check_fails_on_a_different_answer(new_root, runtime_command):
    sample = {"request": {"instances": [[1, 2], [3, 4]]}, "expected": {"predictions": [3, 8]}}
    root = new_root(
        "def predict(rows):\n    return [sum(row) for row in rows]\n", {"kind": "list"}, sample
    )
    result = runtime_command(root, "check")
    assert result.returncode == 1
    assert "row 0 PASS" in result.stdout
    assert "row 1 FAIL expected=8 actual=7" in result.stdout
    assert result.stdout.splitlines()[-1] == "FAIL"


WRONG_SAMPLE = {"request": {"instances": [[1, 2]]}, "expected": {"predictions": [4]}}
SUM_CODE = "def predict(rows):\n    return [sum(row) for row in rows]\n"


def test_a_rollouts_build_leaves_the_check_to_the_replicas(new_root, runtime_command):
    """CHECK_AT=start (a rollout's build argument): the build's check step passes at once."""
    root = new_root(SUM_CODE, {"kind": "list"}, WRONG_SAMPLE)
    assert runtime_command(root, "check").returncode == 1
    result = runtime_command(root, "check", CHECK_AT="start")
    assert result.returncode == 0, result.stderr
    assert "each instance checks sample.json when it starts" in result.stdout


def test_a_replica_whose_model_answers_otherwise_than_its_sample_exits(serve, new_root):
    """A replica (MLCONTAINER_EXIT_ON_FAILED_LOAD=1) checks the sample as it starts: a wrong
    answer ends it with code 3, so that the rollout rolls the deployment back; a plain instance
    serves on."""
    root = new_root(SUM_CODE, {"kind": "list"}, WRONG_SAMPLE)
    replica = serve(root, wait=None, MLCONTAINER_EXIT_ON_FAILED_LOAD=1)
    assert replica.process.wait(timeout=30) == 3
    stderr = replica.stop()
    assert "does not answer sample.json as the notebook did" in stderr, stderr
    assert "row 0 FAIL expected=4 actual=3" in stderr
    assert serve(root).get("/ready").status == 200
    right = new_root(SUM_CODE, {"kind": "list"}, FAST_SAMPLE)
    assert serve(right, MLCONTAINER_EXIT_ON_FAILED_LOAD=1).get("/ready").status == 200


def test_check_calls_a_model_method(churn_root, new_root, runtime_command, churn_model):
    model, frame = churn_model
    rows = frame.head(2)
    sample = {
        "request": {"instances": json.loads(rows.to_json(orient="records"))},
        "expected": {"predictions": model.predict(rows).tolist()},
    }
    code = (churn_root / "app" / "notebook_code.py").read_text()
    input_spec = json.loads((churn_root / "app" / "serving.json").read_text())["input"]
    state = (churn_root / "artifacts" / "state" / "model.joblib").read_bytes()
    entry = {"kind": "model", "name": "model", "method": "predict"}
    root = new_root(
        code,
        input_spec,
        sample,
        entry=entry,
        state={"model.joblib": lambda path: path.write_bytes(state)},
    )
    result = runtime_command(root, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "PASS"


def test_healthcheck_follows_readiness(serve, new_root, runtime_command):
    root = new_root(SLOW_CODE, {"kind": "list"}, SLOW_SAMPLE)
    server = serve(root, wait="/health")
    assert runtime_command(root, "healthcheck", PORT=server.port).returncode == 1
    server.wait("/ready")
    assert runtime_command(root, "healthcheck", PORT=server.port).returncode == 0
    server.stop()
    assert runtime_command(root, "healthcheck", PORT=server.port).returncode == 1


FAST_CODE = """
    def predict(rows):
        return [sum(row) for row in rows]
"""
FAST_SAMPLE = {"request": {"instances": [[1, 2]]}, "expected": {"predictions": [3]}}


def test_a_replica_drains_before_it_stops(serve, new_root):
    """With MLCONTAINER_DRAIN_SECONDS (set on replicas), SIGTERM first takes the server out of
    rotation while it keeps answering, each connection closed after its response; it stops after."""
    server = serve(new_root(FAST_CODE, {"kind": "list"}, FAST_SAMPLE), MLCONTAINER_DRAIN_SECONDS=2)
    kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    kept.request("GET", "/ready")
    before = kept.getresponse()
    assert before.read() and before.getheader("Connection") is None
    signaled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)

    # The idle kept-alive connection still works, and its answer closes it.
    kept.request(
        "POST",
        "/predict",
        json.dumps({"instances": [[1, 2]]}),
        {"Content-Type": "application/json"},
    )
    answer = kept.getresponse()
    assert (answer.status, json.loads(answer.read())) == (200, {"predictions": [3]})
    assert answer.getheader("Connection") == "close"
    ready = server.get("/ready")
    assert (ready.status, ready.json()["status"]) == (503, "draining")
    v2_ready = server.get("/v2/health/ready")
    assert (v2_ready.status, v2_ready.json()["ready"]) == (503, False)
    assert server.get("/health").status == 200
    assert server.process.poll() is None

    server.process.wait(timeout=10)
    assert 1.8 < time.monotonic() - signaled < 6
    assert "draining for 2 s" in server.process.stderr.read().decode()


def test_without_a_drain_sigterm_stops_at_once(serve, new_root):
    server = serve(new_root(FAST_CODE, {"kind": "list"}, FAST_SAMPLE))
    signaled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=10)
    assert time.monotonic() - signaled < 1.5
