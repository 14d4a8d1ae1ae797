"""TestPanel driven through its buttons against a small model server on 127.0.0.1, and its
Drift view against the real serving runtime.

The server "model" answers the sum of each row, so a reference that sums too agrees with it and
one that does not shows a parity failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jupyter_mlcontainer.notebook.widget import TestPanel
from jupyter_mlcontainer.notebook.widget.loadtest import run_load_test
from jupyter_mlcontainer.runtime.datacontract import ColumnContract, DataContract

from ports import free_port, wait_until_answers

SAMPLE = {"instances": [[1, 2], [3, 4]]}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/ready":
            ready = self.server.ready
            body = (
                {"status": "ready"}
                if ready
                else {"status": "loading", "error": "the model is still loading"}
            )
            self._answer(200 if ready else 503, body)
        elif self.path == "/metadata":
            self._answer(200, {"sample": SAMPLE})
        else:
            self._answer(404, {"error": f"no route {self.path}"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.predictions += 1
        time.sleep(self.server.delay)
        if not isinstance(body, dict) or "instances" not in body:
            self._answer(400, {"error": 'expected {"instances": [row, ...]}'})
            return
        self._answer(200, {"predictions": [sum(row) for row in body["instances"]]})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.ready, httpd.delay, httpd.predictions, httpd.lock = True, 0.0, 0, threading.Lock()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_port}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def closed_url():
    return f"http://127.0.0.1:{free_port()}"


def summing(request):
    return [sum(row) for row in request["instances"]]


def click(panel, button):
    button.click()
    panel.wait(30)


def test_send_shows_status_body_and_latency(server):
    panel = TestPanel(server.url, sample=SAMPLE)
    assert json.loads(panel.editor.value) == SAMPLE
    click(panel, panel.send_button)
    assert panel.message.value.startswith('<span style="color:#2e7d32">200 in ')
    assert " ms" in panel.message.value
    assert '"predictions": [\n    3,\n    7\n  ]' in panel.response.value.replace("&quot;", '"')
    assert not panel.send_button.disabled  # re-enabled after the action


def test_a_bad_request_shows_the_servers_explanation(server):
    panel = TestPanel(server.url, sample=SAMPLE)
    panel.editor.value = '{"rows": [[1, 2]]}'
    click(panel, panel.send_button)
    assert "400" in panel.message.value and "#c62828" in panel.message.value
    assert "expected {&quot;instances&quot;: [row, ...]}" in panel.message.value


def test_invalid_json_in_the_editor_is_reported_without_a_request(server):
    panel = TestPanel(server.url, sample=SAMPLE)
    panel.editor.value = '{"instances": [[1, 2]'
    click(panel, panel.send_button)
    assert "not valid JSON" in panel.message.value
    assert server.predictions == 0


def test_parity_passes_when_the_reference_agrees(server):
    panel = TestPanel(server.url, sample=SAMPLE, reference=summing)
    click(panel, panel.parity_button)
    assert "Parity PASS" in panel.parity.value
    assert "all 2 rows match" in panel.parity.value


def test_parity_mismatch_lists_the_differing_rows(server):
    def off_by_one_on_row_1(request):
        answer = summing(request)
        answer[1] += 1
        return answer

    panel = TestPanel(server.url, sample=SAMPLE, reference=off_by_one_on_row_1)
    report = panel.check_parity()
    assert not report.passed
    assert "Parity FAIL" in panel.parity.value
    assert "1 of 2 rows differ" in panel.parity.value
    assert (
        "<td>1</td><td><code>8</code></td><td><code>7</code></td><td>8 != 7</td>"
        in panel.parity.value
    )
    assert "<td>0</td>" not in panel.parity.value  # only differing rows are listed


def test_parity_uses_the_samples_expected_answer_without_a_reference(server):
    panel = TestPanel(server.url, sample={"request": SAMPLE, "expected": {"predictions": [3, 7]}})
    click(panel, panel.parity_button)
    assert "Parity PASS" in panel.parity.value
    panel.editor.value = json.dumps({"instances": [[5, 5]]})
    click(panel, panel.parity_button)
    assert "nothing to compare with" in panel.message.value


def test_parity_fails_clearly_when_the_instance_refuses_the_request(server):
    panel = TestPanel(server.url, sample={"rows": []}, reference=lambda request: [])
    click(panel, panel.parity_button)
    assert "Parity FAIL" in panel.parity.value and "answered 400" in panel.parity.value


def test_health_ready_loading_and_down(server, closed_url):
    panel = TestPanel(server.url, sample=SAMPLE)
    assert panel.refresh_health() == "ready"
    server.ready = False
    assert panel.refresh_health() == "not ready"
    assert "loading" in panel.health.value
    down = TestPanel(closed_url, sample=SAMPLE)
    assert down.refresh_health() == "down"
    assert "nothing answers" in down.health.value


def test_a_down_instance_shows_nothing_answers_on_send(closed_url):
    panel = TestPanel(closed_url, sample=SAMPLE)
    click(panel, panel.send_button)
    assert "Nothing answers at" in panel.message.value and "#c62828" in panel.message.value


def test_polling_follows_the_instance_and_stops_when_closed(server):
    panel = TestPanel(server.url, sample=SAMPLE, poll_seconds=0.05, poll_limit=100)
    panel.start_polling()
    deadline = time.monotonic() + 5
    while "ready" not in panel.health.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "ready (" in panel.health.value
    server.ready = False
    while "not ready" not in panel.health.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "not ready" in panel.health.value
    panel.close()
    panel._polling.join(2)
    assert not panel._polling.is_alive()


def test_the_sample_comes_from_metadata_when_none_is_given(server):
    panel = TestPanel(server.url)
    panel.wait(10)
    assert json.loads(panel.editor.value) == SAMPLE


def test_load_test_shows_throughput_percentiles_and_a_histogram(server):
    panel = TestPanel(server.url, sample=SAMPLE)
    panel.requests_input.value = 40
    panel.concurrency_input.value = 4
    click(panel, panel.load_button)
    assert server.predictions == 40
    summary = panel.load_summary.value
    assert "40 requests at concurrency 4" in summary and "req/s" in summary
    assert "p50" in summary and "p99" in summary
    assert bytes(panel.histogram.value).startswith(b"\x89PNG")
    assert panel.histogram.layout.display is None


def test_load_test_counts_error_answers(server):
    panel = TestPanel(server.url, sample={"rows": []})
    panel.requests_input.value = 5
    result = panel.load_test()
    assert result.statuses == {400: 5} and result.ok == 0
    assert "none answered 2xx (5× 400)" in panel.load_summary.value


def test_load_test_is_refused_for_other_hosts():
    panel = TestPanel("http://model.example:8080", sample=SAMPLE)
    click(panel, panel.load_button)
    assert "only run against instances on this machine" in panel.message.value


def test_load_test_stops_at_its_time_limit(server):
    server.delay = 0.1
    started = time.monotonic()
    result = run_load_test(server.url, SAMPLE, requests=200, concurrency=2, max_seconds=0.5)
    assert time.monotonic() - started < 2
    assert result.timed_out and 2 <= result.completed < 20
    assert "stopped by the time limit" in result.summary()


def test_an_answer_slower_than_the_time_limit_counts_as_no_answer(server):
    server.delay = 0.6
    result = run_load_test(server.url, SAMPLE, requests=4, concurrency=2, max_seconds=0.2)
    assert result.statuses == {0: 2} and result.timed_out


def test_logs_and_stop_need_an_instance(server):
    panel = TestPanel(server.url, sample=SAMPLE)
    assert panel.logs_button.disabled and panel.stop_button.disabled


# -- the Drift view, against the runtime every image serves with -------------------------------

RUNTIME = Path(__file__).resolve().parents[3] / "jupyter_mlcontainer" / "runtime"
TENTHS = tuple([0.1] * 10)
#: Training had ages 18 to 79 in even deciles and the three cities in equal shares.
CONTRACT = DataContract(
    source="the data passed to `model.fit`",
    rows=200,
    columns=(
        ColumnContract(
            "age", "integer", False, 18, 79, tuple(range(24, 78, 6)), None, False, TENTHS
        ),
        ColumnContract(
            "city",
            "category",
            False,
            categories=("lyon", "nice", "paris"),
            expected=(0.33, 0.33, 0.34, 0.0),
        ),
    ),
)
MODEL = """
def predict(inputs):
    return (inputs["age"] / 100.0).tolist()
"""
ROWS = [{"age": 20 + 6 * i, "city": city} for i, city in enumerate(["lyon", "nice", "paris"] * 3)]


def serving_root(path: Path, contract: DataContract | None) -> Path:
    """A serving root as a build lays it out (app/serving.json, the runtime, the code, the
    sample), with or without a data contract."""
    app = path / "app"
    shutil.copytree(
        RUNTIME, app / "mlcontainer_runtime", ignore=shutil.ignore_patterns("__pycache__")
    )
    serving = {
        "module": "notebook_code",
        "entry": {"kind": "function", "name": "predict"},
        "input": {
            "kind": "dataframe",
            "columns": ["age", "city"],
            "dtypes": {"age": "int64", "city": "object"},
        },
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    if contract is not None:
        serving["contract"] = contract.to_dict()
    (app / "serving.json").write_text(json.dumps(serving))
    (app / "notebook_code.py").write_text(MODEL)
    sample = {"request": {"instances": ROWS[:2]}, "expected": {"predictions": [0.2, 0.26]}}
    (path / "sample.json").write_text(json.dumps(sample))
    return path


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    """`serve(contract)`: the runtime on a free 127.0.0.1 port, serving a root with that
    contract; its URL. Every one started is stopped at the end of the module."""
    processes = []

    def serve(contract: DataContract | None) -> str:
        root = serving_root(tmp_path_factory.mktemp("served"), contract)
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(root / "app"),
            "MLCONTAINER_HOST": "127.0.0.1",
            "PORT": str(port),
        }
        env.pop("MLCONTAINER_ROOT", None)
        log = root / "serve.log"
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "mlcontainer_runtime"],
                cwd=root,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{url}/ready", process, log, 60)
        return url

    yield serve
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


def post(url: str, rows: list) -> None:
    request = urllib.request.Request(
        f"{url}/predict",
        json.dumps({"instances": rows}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def test_drift_before_any_traffic_says_so(runtime):
    panel = TestPanel(runtime(CONTRACT), sample=SAMPLE)
    frame = panel.show_drift()
    assert list(frame["rows"]) == [0, 0]
    assert "No traffic yet" in panel.drift_table.value
    assert panel.drift_plot.layout.display == "none"


def test_drift_shows_the_worst_feature_first_marked_and_its_histograms(runtime):
    url = runtime(CONTRACT)
    # 300 rows all at the old end of the age range, in the cities training had.
    for chunk in range(3):
        post(url, [{"age": 79, "city": ["lyon", "nice", "paris"][chunk]}] * 100)
    panel = TestPanel(url, sample=SAMPLE)
    click(panel, panel.drift_button)
    assert "#c62828" in panel.message.value and "drift: 1 of 2 drifting" in panel.message.value
    table = panel.drift_table.value
    assert "last 300 rows" in table and "PSI above 0.2 is drifting." in table
    age, city = table.index('data-feature="age"'), table.index('data-feature="city"')
    assert age < city, "the worst feature comes first"
    assert 'data-feature="age" data-drifting="true"' in table
    assert 'data-feature="city" data-drifting="false"' in table
    assert table.count(">drifting</b>") == 1
    assert bytes(panel.drift_plot.value).startswith(b"\x89PNG")
    assert panel.drift_plot.layout.display is None
    frame = panel.show_drift()
    assert list(frame["feature"]) == ["age", "city"] and list(frame["rows"]) == [300, 300]
    assert frame["psi"][0] > 0.2 > frame["psi"][1] and list(frame["drifting"]) == [True, False]


def test_drift_of_an_image_without_a_contract_shows_the_instances_message(runtime):
    panel = TestPanel(runtime(None), sample=SAMPLE)
    click(panel, panel.drift_button)
    assert "No drift to show: this image has no data contract" in panel.drift_table.value
    assert panel.drift_plot.layout.display == "none"
    assert panel.show_drift() is None
    assert not panel.drift_button.disabled
