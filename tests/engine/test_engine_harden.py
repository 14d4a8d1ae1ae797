"""Least privilege, limits, OOM kills and graceful stops, with real images built by the pipeline:
a scikit-learn example and a small model whose requests say how long to compute and how much
memory to take."""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from jupyter_mlcontainer.cli.instances import add_commands
from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.running.readiness import wait_ready
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.workflow.build import containerize

from stubs import remove_instance

pytestmark = pytest.mark.engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: predict(rows): the first row says how long to compute (seconds) and how much to allocate (MB).
#: The sample has one row, so the image does not batch: concurrent requests compute one by one.
HUNGRY_MODEL = """\
import time

SAMPLE = [[0.5, 0]]


def predict(rows):
    seconds, megabytes = rows[0]
    hog = b"x" * int(megabytes * 2**20)  # touched, so it counts against the memory limit
    time.sleep(seconds)
    del hog
    return [sum(row) for row in rows]
"""


@pytest.fixture(scope="module")
def config(test_labels, base_image):
    return MLContainerConfig(labels=test_labels, base_image=base_image)


@pytest.fixture(scope="module")
def hungry_image(config, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("hungry")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(HUNGRY_MODEL)])
    nbformat.write(notebook, folder / "hungry.ipynb")
    result = containerize(
        ExportOptions(notebook=str(folder / "hungry.ipynb"), sample="SAMPLE", name="test-hungry"),
        config=config,
        out_dir=str(folder / "context"),
    )
    return result.tag


@pytest.fixture(scope="module")
def sklearn_image(example_build) -> str:
    """The one-cell scikit-learn example: numpy, scipy, scikit-learn and joblib at load time."""
    return example_build("one_cell").result.tag


@pytest.fixture
def started(engine):
    """Instances a test starts; each is removed afterwards, even on failure."""
    instances = []
    yield instances
    for instance in instances:
        remove_instance(engine, instance)


def host_config(engine, instance) -> dict:
    return engine.client.containers.get(instance.id).attrs["HostConfig"]


def test_instances_are_hardened_by_default_and_still_serve(engine, sklearn_image, config, started):
    instance = engine.run(sklearn_image, port=0, labels=config.labels)
    started.append(instance)
    instance = wait_ready(engine, instance, timeout=60)
    host = host_config(engine, instance)
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert "/tmp" in host["Tmpfs"]
    assert instance.hardened

    sample = json.loads(engine.run_command(sklearn_image, ["cat", "/srv/sample.json"]))
    answer = ServingClient(instance.url).predict(sample["request"])
    assert answer.ok, answer.body
    assert answer.body["predictions"] == pytest.approx(sample["expected"]["predictions"])
    for path in ("/health", "/ready", "/metadata", "/openapi.json", "/metrics"):
        with urllib.request.urlopen(instance.url + path, timeout=10) as response:
            assert response.status == 200, path

    container = engine.client.containers.get(instance.id)
    for path, writable in (("/srv/app/x", False), ("/x", False), ("/tmp/x", True)):
        code, _ = container.exec_run(["python", "-c", f"open({path!r}, 'w').write('x')"])
        assert (code == 0) is writable, path
    _, output = container.exec_run(["python", "-c", "import os; print(os.environ['HOME'])"])
    assert output.decode().strip() == "/tmp"
    logs = container.logs().decode()
    assert "Read-only file system" not in logs and "Permission denied" not in logs, logs


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="jupyter mlcontainer")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_run_takes_limits_and_can_be_relaxed(
    engine, hungry_image, test_labels, started, capsys, monkeypatch
):
    monkeypatch.setenv("MLCONTAINER_LABELS", ",".join(f"{k}={v}" for k, v in test_labels.items()))
    assert cli(["run", hungry_image, "--memory", "256m", "--cpus", "1.5", "--json"]) == 0
    limited = json.loads(capsys.readouterr().out)
    started.append(engine.find_instance(limited["id"]))
    host = host_config(engine, started[-1])
    assert host["Memory"] == 256 * 2**20 and host["NanoCpus"] == 1_500_000_000
    assert host["ReadonlyRootfs"] is True and limited["hardened"] is True
    assert limited["memory_limit"] == 256 * 2**20

    assert cli(["run", hungry_image, "--no-harden", "--json"]) == 0
    relaxed = json.loads(capsys.readouterr().out)
    started.append(engine.find_instance(relaxed["id"]))
    host = host_config(engine, started[-1])
    assert host["ReadonlyRootfs"] is False and not host["CapDrop"] and not host["Memory"]
    assert relaxed["hardened"] is False
    answer = ServingClient(relaxed["url"]).predict({"instances": [[0, 0], [1, 2]]})
    assert answer.body == {"predictions": [0, 3]}


def test_an_instance_killed_for_memory_says_so(engine, hungry_image, config, started, capsys):
    from jupyter_mlcontainer.notebook.instance import ServingInstance

    instance = engine.run(hungry_image, port=0, labels=config.labels, memory="96m")
    started.append(instance)
    instance = wait_ready(engine, instance, timeout=60)
    assert not instance.oom_killed and instance.state == "running"
    served = ServingInstance(instance, engine=engine)
    try:  # the model allocates 400 MB under a 96 MB limit: the kernel kills the process
        ServingClient(instance.url, timeout=20).predict({"instances": [[0, 400]]})
    except Exception:  # noqa: BLE001 (the connection drops with the process)
        pass
    deadline = time.monotonic() + 20
    while engine.find_instance(instance.id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    killed = engine.find_instance(instance.id)
    assert killed.oom_killed, killed
    assert killed.state == "OOM-killed (limit 96 MB)"
    assert served.state == "OOM-killed (limit 96 MB)"
    assert "OOM-killed (limit 96 MB)" in repr(served)
    assert "OOM-killed (limit 96 MB)" in served._repr_html_()
    ((key, value),) = config.labels.items()
    assert cli(["ls", "--all", "--label", f"{key}={value}"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if killed.name in line)
    assert "OOM-killed (limit 96 MB)" in row


def test_sigterm_under_load_finishes_the_requests_in_flight(engine, hungry_image, config, started):
    instance = engine.run(hungry_image, port=0, labels=config.labels)
    started.append(instance)
    instance = wait_ready(engine, instance, timeout=60)
    client = ServingClient(instance.url, timeout=30)
    in_flight = 8  # each computes 0.5 s on the one worker: 4 s in all, within docker stop's 10 s

    def send(_):
        return client.predict({"instances": [[0.5, 0], [1, 1]]})

    with ThreadPoolExecutor(in_flight) as pool:
        answers = [pool.submit(send, i) for i in range(in_flight)]
        time.sleep(0.8)  # all connected, one or two answered
        signalled = time.monotonic()
        assert sum(answer.done() for answer in answers) < in_flight - 2  # most still in flight
        stop = threading.Thread(
            target=subprocess.run, args=(["docker", "stop", instance.id],), kwargs={"check": True}
        )
        stop.start()
        results = [answer.result() for answer in answers]
        stop.join(timeout=30)
    failed = [r for r in results if not r.ok]
    assert not failed, [(r.status, r.body) for r in failed]
    assert all(r.body == {"predictions": [0.5, 2]} for r in results)
    stopped = engine.find_instance(instance.id)
    assert stopped.status == "exited" and stopped.exit_code == 0, stopped
    assert time.monotonic() - signalled < 9  # it exited on its own, not killed at 10 s
    assert "Waiting for connections to close" in engine.logs(instance.id)
