"""Shared fixtures: a real Docker engine, the base image, and clean-up by label."""

from __future__ import annotations

import os
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Every container and image a test makes carries this label; the session removes them all.
TEST_LABEL = "io.mlcontainer.test-session"
SESSION_ID = uuid.uuid4().hex[:12]


#: The fast tier (`scripts/check.sh --fast`): no engine, no kernel, no browser. Under it the
#: Docker client points nowhere and a kernel refuses to start, so a test that needs either but
#: does not say so through its fixtures fails at once instead of slowing the tier down.
FAST_TIER = os.environ.get("MLCONTAINER_TEST_TIER") == "fast"
#: Tiers a test belongs to, from the fixtures it uses (directly or through other fixtures).
FIXTURE_MARKERS = {
    "engine": "engine",
    "engine_host": "engine",
    "podman_host": "engine",
    "kernel": "kernel",
    "page": "browser",
    "lab": "browser",
}
if FAST_TIER:
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/fast-tier-has-no-engine.sock"


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)


@pytest.fixture(scope="session", autouse=FAST_TIER)
def _no_kernel_in_the_fast_tier():
    """In the fast tier, starting a kernel fails with the fixture to ask for instead."""
    from jupyter_client.manager import KernelManager

    async def refuse(self, *args, **kwargs):
        raise RuntimeError(
            "this test starts a kernel: request the `kernel` fixture (tests/conftest.py), "
            "which keeps it out of the fast tier"
        )

    original = KernelManager._async_launch_kernel
    KernelManager._async_launch_kernel = refuse
    yield
    KernelManager._async_launch_kernel = original


@pytest.fixture(scope="session")
def kernel() -> str:
    """The kernel a test's notebooks run in: this environment's python3 (ipykernel)."""
    pytest.importorskip("ipykernel")
    return "python3"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Everything must run in CI: under CI=true a skip (no engine, no Chromium, a test extra
    missing) is a failure; only a developer's machine may skip."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{reason} (CI=true requires it; run scripts/setup.sh)"


@pytest.fixture(scope="session")
def engine():
    from jupyter_mlcontainer.engine import DockerEngine
    from jupyter_mlcontainer.shared.errors import EngineUnavailable

    try:
        engine = DockerEngine()
    except EngineUnavailable as error:
        pytest.skip(f"no Docker engine: {error.message}")
    yield engine
    _remove_labelled(engine)


def _remove_labelled(engine) -> None:
    selector = {"label": f"{TEST_LABEL}={SESSION_ID}"}
    for container in engine.client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    # Newest first: an image built FROM another (and so labelled too) goes before its parent.
    images = engine.client.images.list(filters=selector)
    for image in sorted(images, key=lambda image: image.attrs["Created"], reverse=True):
        engine.remove_image(image.id)
    engine.client.images.prune(filters={"dangling": True, **selector})  # builder stages' cache


@pytest.fixture(scope="session")
def podman_host(engine, base_image, tmp_path_factory):
    """Rootful Podman's Docker-compatible socket in a temporary folder, with the base image
    copied in from Docker; yields its DOCKER_HOST. The service is stopped and what the tests
    made in Podman removed afterwards."""
    import shutil
    import subprocess

    import docker

    from jupyter_mlcontainer.engine import DockerEngine

    if shutil.which("podman") is None:
        pytest.skip("no Podman (apt-get install podman catatonit; scripts/setup.sh does)")
    folder = tmp_path_factory.mktemp("podman")
    host = f"unix://{folder}/podman.sock"
    with open(folder / "service.log", "w") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", host], stdout=log, stderr=log
        )
    try:
        podman = _answering(lambda: DockerEngine(docker.DockerClient(base_url=host)), 30)
        if not podman.image_exists(base_image):
            saved = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
            subprocess.run(["podman", "load", "-q"], stdin=saved.stdout, check=True)
            saved.wait(timeout=300)
        yield host
        _remove_labelled(podman)
    finally:
        service.terminate()
        service.wait(timeout=30)


def _answering(connect, seconds: float):
    """`connect()`'s result once it stops raising, trying for `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return connect()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(params=["docker", "podman"])
def engine_host(request) -> str:
    """Each engine this machine can start, as a DOCKER_HOST value: Docker's daemon, Podman."""
    if request.param == "docker":
        request.getfixturevalue("engine")
        return "unix:///var/run/docker.sock"
    return request.getfixturevalue("podman_host")


@pytest.fixture(scope="session")
def test_labels() -> dict:
    return {TEST_LABEL: SESSION_ID}


@pytest.fixture(scope="session")
def base_image(engine) -> str:
    """The configured base image, or the offline one `jupyter mlcontainer base-image` makes."""
    from jupyter_mlcontainer.engine.baseimage import base_image_tag
    from jupyter_mlcontainer.shared.config import MLContainerConfig

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [MLContainerConfig().base_image_for(python), base_image_tag()]
    for image in candidates:
        if engine.image_exists(image):
            return image
    pytest.skip(
        f"none of the base images {candidates} exists; run `jupyter mlcontainer base-image`"
    )


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclass(frozen=True)
class ExampleBuild:
    """An example notebook built (not run) once in a test run, and the events its build sent."""

    result: object  # workflow.build.BuildResult
    events: tuple


@pytest.fixture(scope="session")
def example_build(engine, base_image, test_labels, tmp_path_factory):
    """`example_build("iris_classifier")`: the example executed, captured and built once per test
    run, then shared by every test that serves it unchanged (each notebook execution and trial
    costs seconds; the image is the same content-hash tag every time)."""
    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    config = MLContainerConfig(labels=test_labels, base_image=base_image)
    built = {}

    def build(name: str) -> ExampleBuild:
        if name not in built:
            events = []
            result = containerize(
                ExportOptions(notebook=str(EXAMPLES / f"{name}.ipynb"), name=f"test-{name}"),
                config=config,
                on_event=events.append,
                out_dir=str(tmp_path_factory.mktemp(name) / "context"),
            )
            built[name] = ExampleBuild(result, tuple(events))
        return built[name]

    return build


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlcontainer": True}}}


@pytest.fixture(scope="module")
def serving_image(engine, base_image, test_labels, tmp_path_factory) -> str:
    """A small image serving the stub runtime (tests/stubs.py), for run-side engine tests."""
    from stubs import build_serving_image

    return build_serving_image(
        engine, base_image, test_labels, tmp_path_factory.mktemp("stub-image")
    )


@contextmanager
def _swarm_left_as_found(engine, labels: dict, turn_on: bool):
    """Swarm mode for a test, turned on first when `turn_on`; afterwards the tests' own
    deployments are removed and swarm mode is off again if it was off before (unless the last
    undeploy did it already)."""
    from jupyter_mlcontainer.deploy.replicas import remove_parts

    orchestrator = engine.orchestrator()
    was_active = orchestrator.swarm_state() == "active"
    if turn_on and not was_active:
        orchestrator.init_swarm()
    try:
        yield orchestrator
    finally:
        if orchestrator.swarm_state() == "active":
            for service in orchestrator.services(labels):
                remove_parts(orchestrator, service.name)
            if not was_active:
                orchestrator.leave_swarm()


@pytest.fixture(scope="module")
def swarm(engine, test_labels):
    """Docker's swarm mode for deployment tests, on for the length of the module."""
    with _swarm_left_as_found(engine, test_labels, turn_on=True) as orchestrator:
        yield orchestrator


@pytest.fixture
def swarm_as_found(engine, test_labels):
    """Swarm mode as the engine has it, for a test that turns it on through the product."""
    with _swarm_left_as_found(engine, test_labels, turn_on=False) as orchestrator:
        yield orchestrator


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's reference registry (v2) on 127.0.0.1 with its storage in a temporary folder;
    yields its address (host:port). The Docker engine trusts plain HTTP on 127.0.0.0/8."""
    import shutil
    import subprocess

    from ports import free_port, wait_until_answers

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("no docker-registry (apt-get install docker-registry; scripts/setup.sh does)")
    folder = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: {address}\n"
    )
    with open(folder / "registry.log", "w") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        wait_until_answers(f"http://{address}/v2/", process, folder / "registry.log", 20)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=10)
