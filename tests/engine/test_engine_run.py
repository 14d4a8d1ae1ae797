"""The engine's run side against a real engine: run, readiness, list, logs, stop."""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time

import docker
import pytest

from jupyter_mlcontainer.engine.base import (
    INSTANCE_LABEL,
    MANAGED_LABEL,
    NOTEBOOK_LABEL,
    Instance,
    docker_name,
    image_tags,
    split_image_ref,
)
from jupyter_mlcontainer.engine.docker import DockerEngine
from jupyter_mlcontainer.engine.dockerapi import ENGINE_HINT
from jupyter_mlcontainer.running.client import ServingClient
from jupyter_mlcontainer.running.readiness import wait_ready
from jupyter_mlcontainer.shared.errors import (
    EngineUnavailable,
    InstanceNotFound,
    PortInUse,
    RunFailed,
)

from ports import free_port
from stubs import remove_instance

engine_test = pytest.mark.engine


@pytest.fixture
def start(engine, serving_image, test_labels):
    """Run the stub image; whatever a test started is stopped afterwards, even on failure."""
    started = []

    def start(**options):
        options["labels"] = {**test_labels, **options.get("labels", {})}
        instance = engine.run(serving_image, **options)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        remove_instance(engine, instance)


@engine_test
def test_tag_image_names_the_same_image(engine, serving_image):
    repository, tag = split_image_ref(serving_image)
    assert repository.startswith("mlcontainer/stub-") and tag == "latest"
    assert (
        engine.client.images.get(f"{repository}:v1").id
        == engine.client.images.get(serving_image).id
    )


@engine_test
def test_run_serve_list_log_and_stop(engine, start, test_labels):
    instance = start(labels={NOTEBOOK_LABEL: "examples/stub.ipynb"})
    assert instance.url.startswith("http://127.0.0.1:")
    assert instance.labels[MANAGED_LABEL] == "true" and instance.labels[INSTANCE_LABEL] == "true"

    ready = wait_ready(engine, instance, timeout=30)
    assert ready.status == "running" and ready.url == instance.url
    answer = ServingClient(ready.url).predict({"instances": [[1, 2], [3, 4]]})
    assert answer.body == {"predictions": [[1, 2], [3, 4]]}

    listed = {i.name: i for i in engine.list_instances(labels=test_labels)}
    assert listed[instance.name].url == instance.url
    assert listed[instance.name].labels[NOTEBOOK_LABEL] == "examples/stub.ipynb"
    assert engine.find_instance(instance.id[:12]).name == instance.name
    log = engine.logs(instance.name)
    assert "stub starting in serve mode" in log and "predict 2 instances" in log
    assert engine.logs(instance.name, tail=1).count("\n") == 1

    with pytest.raises(InstanceNotFound) as caught:
        engine.find_instance("no-such-instance")
    assert instance.name in caught.value.hint

    assert engine.stop(instance.name).id == instance.id
    assert instance.name not in {
        i.name for i in engine.list_instances(all=True, labels=test_labels)
    }
    with pytest.raises(InstanceNotFound):
        engine.logs(instance.name)


@engine_test
def test_explicit_port_and_the_error_when_it_is_taken(engine, start):
    port = free_port()
    first = start(port=port)
    assert first.url == f"http://127.0.0.1:{port}"
    with pytest.raises(PortInUse) as caught:  # held by another container
        start(port=port, name=f"{first.name}-second")
    assert f"Port {port}" in caught.value.message and "--port" in caught.value.hint
    assert not _exists_named(engine, f"{first.name}-second"), (
        "a container that did not start is removed"
    )

    with socket.socket() as holder:  # held by a process on the host
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(PortInUse, match=f"Port {holder.getsockname()[1]} "):
            start(port=holder.getsockname()[1])


def _exists_named(engine, name: str) -> bool:
    return any(c.name == name for c in engine.client.containers.list(all=True))


@engine_test
def test_a_taken_name_says_so(start):
    first = start()
    with pytest.raises(RunFailed, match=f"named {first.name} already exists"):
        start(name=first.name)


@engine_test
def test_a_container_that_crashes_fails_with_its_log(engine, start):
    instance = start(environment={"STUB_MODE": "crash"})
    with pytest.raises(RunFailed) as caught:
        wait_ready(engine, instance, timeout=30)
    assert "exit code 1" in caught.value.message
    assert "stub crashed: cannot load model.joblib" in caught.value.message
    assert engine.find_instance(instance.name).status == "exited"


@engine_test
def test_readiness_times_out_within_its_bound(engine, start):
    instance = start(environment={"STUB_MODE": "hang"})
    began = time.monotonic()
    with pytest.raises(RunFailed) as caught:
        wait_ready(engine, instance, timeout=2)
    assert 2 <= time.monotonic() - began < 10
    assert "not ready after 2 s" in caught.value.message
    assert "stub starting in hang mode" in caught.value.message


@engine_test
def test_health_stands_in_where_there_is_no_ready_route(engine, start):
    instance = start(environment={"STUB_MODE": "no-ready"})
    assert wait_ready(engine, instance, timeout=30).url == instance.url


@engine_test
def test_stop_all_stops_only_what_the_labels_select(engine, start, test_labels):
    selected = start(labels={"io.mlcontainer.test-group": "stop-all"})
    other = start()
    assert engine.stop_all(labels={**test_labels, "io.mlcontainer.test-group": "stop-all"}) == [
        selected.name
    ]
    assert [i.name for i in engine.list_instances(labels=test_labels)] == [other.name]


@engine_test
def test_the_base_image_chosen_is_one_that_is_present(engine, base_image):
    from jupyter_mlcontainer.engine.baseimage import choose_base_image
    from jupyter_mlcontainer.shared.config import MLContainerConfig

    configured = MLContainerConfig(base_image="registry.example/custom:1")
    assert choose_base_image(engine, configured, "3.11") == "registry.example/custom:1"
    slim_present = engine.image_exists("python:3.11-slim")
    expected = "python:3.11-slim" if slim_present else "mlcontainer/python:3.11-bookworm"
    assert engine.image_exists(expected)
    assert not engine.image_exists("E") and not engine.image_exists("x" * 300)  # no such names
    assert choose_base_image(engine, MLContainerConfig(base_image=""), "3.11") == expected
    assert choose_base_image(engine, MLContainerConfig(base_image=""), "3.99") == "python:3.99-slim"
    assert choose_base_image(None, MLContainerConfig(base_image=""), "3.11") == "python:3.11-slim"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("iris_classifier", "iris_classifier"),
        ("My Model (v2)", "my-model-v2"),
        ("a__b", "a__b"),
        ("a___b", "a-b"),
        ("a._b", "a-b"),
        ("v1.2", "v1.2"),
        ("Ünïcode", "n-code"),
        ("--", "model"),
        ("x", "x-model"),
        ("a" * 300, "a" * 100),
    ],
)
def test_names_fold_into_valid_docker_repository_components(text, expected):
    component = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")  # Docker's grammar
    assert docker_name(text) == expected
    assert component.fullmatch(docker_name(text))
    assert image_tags(text, "abc")[0] == f"mlcontainer/{expected}:abc"


def test_split_image_ref_keeps_registry_ports():
    assert split_image_ref("mlcontainer/churn:abc") == ("mlcontainer/churn", "abc")
    assert split_image_ref("mlcontainer/churn") == ("mlcontainer/churn", "latest")
    assert split_image_ref("localhost:5000/churn") == ("localhost:5000/churn", "latest")
    assert split_image_ref("localhost:5000/churn:v2") == ("localhost:5000/churn", "v2")
    assert image_tags("Churn Model (v2)", "0f3a") == (
        "mlcontainer/churn-model-v2:0f3a",
        "mlcontainer/churn-model-v2:latest",
    )


def test_an_unreachable_engine_is_reported_with_the_hint(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(EngineUnavailable) as caught:
        DockerEngine()
    assert caught.value.hint == ENGINE_HINT
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(EngineUnavailable):
        DockerEngine()


def engine_at(base_url: str) -> DockerEngine:
    """An engine object for `base_url` without the ping of __init__: as if the engine stopped,
    or began to misbehave, after it had answered."""
    engine = DockerEngine.__new__(DockerEngine)
    engine.client = docker.DockerClient(base_url=base_url, version="1.41", timeout=5)
    engine.api = engine.client.api
    return engine


def test_an_engine_lost_mid_way_is_reported_from_every_call(tmp_path):
    lost = engine_at(f"tcp://127.0.0.1:{free_port()}")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    calls = [
        lambda: lost.run("mlcontainer/any:latest"),
        lambda: lost.list_instances(all=True),
        lambda: lost.find_instance("any"),
        lambda: lost.stop_all(),
        lambda: lost.image_exists("mlcontainer/any:latest"),
        lambda: lost.image_size("mlcontainer/any:latest"),
        lambda: list(lost.build(tmp_path, "mlcontainer/any:latest")),
    ]
    for call in calls:
        with pytest.raises(EngineUnavailable) as caught:
            call()
        assert caught.value.hint == ENGINE_HINT


class EngineThatLeavesMidBuild(http.server.BaseHTTPRequestHandler):
    """Answers as an engine would until a build has sent its first line, then cuts the
    chunked stream and hangs up on every later connection: dockerd killed mid-build."""

    protocol_version = "HTTP/1.1"

    def handle(self):
        if not getattr(self.server, "gone", False):
            super().handle()

    def do_GET(self):  # the base image is present
        body = b'{"Id": "sha256:0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # /build
        self.rfile.read(int(self.headers["Content-Length"] or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = b'{"stream": "Step 1/2 : FROM scratch\\n"}\r\n'
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.server.gone = True
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def engine_that_leaves():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EngineThatLeavesMidBuild)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_build_stream_cut_off_by_the_engine_says_the_engine_stopped(engine_that_leaves, tmp_path):
    lost = engine_at(engine_that_leaves)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    events = []
    with pytest.raises(EngineUnavailable) as caught:
        for event in lost.build(tmp_path, "mlcontainer/any:latest"):
            events.append(event)
    assert "The Docker engine stopped during the build" in caught.value.message
    assert "nothing was tagged" in caught.value.message
    assert [event.step for event in events if event.kind == "step"] == [1]


def test_a_name_taken_meanwhile_moves_on_to_the_next():
    from jupyter_mlcontainer.shared.errors import NameTaken
    from jupyter_mlcontainer.workflow.build import _start

    class Racing:
        """An engine where another build takes `iris` between looking and starting."""

        def __init__(self):
            self.names = []

        def container_names(self):
            return {"iris"} if self.names else set()

        def run(self, tag, port, labels, name):
            self.names.append(name)
            if name == "iris":
                raise NameTaken("An instance named iris already exists.")
            return Instance("2", name, tag, "http://127.0.0.1:1", "running")

    engine = Racing()
    assert _start(engine, "mlcontainer/iris:1", 0, {}, "iris").name == "iris-2"
    assert engine.names == ["iris", "iris-2"]
