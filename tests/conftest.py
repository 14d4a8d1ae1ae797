"""Shared fixtures: a real Docker engine, the base image, and clean-up by label."""

from __future__ import annotations

import contextlib
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
#: One id for the whole run, shared by pytest-xdist's workers (they inherit the environment of
#: the process that loaded this file first): the example images one worker builds, another
#: uses, so they carry this id and go once every worker has finished (`pytest_sessionfinish`).
RUN_ID = os.environ.setdefault("MLCONTAINER_TEST_RUN", SESSION_ID)
IS_WORKER = "PYTEST_XDIST_WORKER" in os.environ


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
    "hub": "browser",
}
if FAST_TIER:
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/fast-tier-has-no-engine.sock"


#: Fixtures that hold something of which the machine has one (swarm mode, a user's Podman
#: socket): the tests that use one run on the same worker, in turn.
ONE_AT_A_TIME = {
    "swarm": "swarm",
    "swarm_as_found": "swarm",
    "rootless_podman": "rootless",
    "second_rootless_podman": "rootless",
    "hub": "rootless",
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)
        group = _worker_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _worker_group(item) -> str | None:
    """Under `--dist loadgroup`, the tests of one group run on one worker in turn: those that
    share one of the machine's singletons (ONE_AT_A_TIME; the engine nodes' subnet of
    tests/nodes.py); the browser tests, which containerize the same example notebooks under
    the same names (and one Chromium is enough for two cores); then those of a module that
    needs an engine or a kernel (its module-scoped images are made once). Any other test goes
    wherever a worker is free."""
    for fixture, group in ONE_AT_A_TIME.items():
        if fixture in item.fixturenames:
            return group
    if "engine_nodes" in vars(item.module):
        return "nodes"
    if item.get_closest_marker("browser"):
        return "browser"
    if any(item.get_closest_marker(marker) for marker in ("engine", "kernel")):
        return item.nodeid.split("::")[0]
    return None


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


def pytest_sessionfinish(session):
    """Under pytest-xdist, the process that ran the workers removes what they shared once they
    have all finished (each worker's `engine` removes its own)."""
    if IS_WORKER or session.config.getoption("dist", "no") == "no":
        return  # a worker, or a run without workers: `engine` has done it
    from jupyter_mlcontainer.engine import DockerEngine
    from jupyter_mlcontainer.shared.errors import EngineUnavailable

    with contextlib.suppress(EngineUnavailable):
        _remove_labelled(DockerEngine(), RUN_ID)


def _remove_labelled(engine, session: str = SESSION_ID) -> None:
    selector = {"label": f"{TEST_LABEL}={session}"}
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
def example_build(engine, base_image, tmp_path_factory):
    """`example_build("iris_classifier")`: the example executed, captured and built once per test
    run, then shared by every test that serves it unchanged, on every worker (each notebook
    execution and trial costs seconds; the image is the same content-hash tag every time). The
    first worker to ask builds it under a lock; the others read what it recorded."""
    import pickle

    from filelock import FileLock

    from jupyter_mlcontainer.pipeline.plan import ExportOptions
    from jupyter_mlcontainer.shared.config import MLContainerConfig
    from jupyter_mlcontainer.workflow.build import containerize

    config = MLContainerConfig(labels={TEST_LABEL: RUN_ID}, base_image=base_image)
    run_folder = (
        tmp_path_factory.getbasetemp().parent if IS_WORKER else tmp_path_factory.getbasetemp()
    )
    shared = run_folder / "example-builds"
    shared.mkdir(exist_ok=True)
    built = {}

    def build(name: str) -> ExampleBuild:
        if name not in built:
            record = shared / f"{name}.pickle"
            with FileLock(shared / f"{name}.lock"):
                if not record.exists():
                    events = []
                    result = containerize(
                        ExportOptions(
                            notebook=str(EXAMPLES / f"{name}.ipynb"), name=f"test-{name}"
                        ),
                        config=config,
                        on_event=events.append,
                        out_dir=str(shared / name / "context"),
                    )
                    record.write_bytes(pickle.dumps((result, tuple(events))))
            built[name] = ExampleBuild(*pickle.loads(record.read_bytes()))
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
    from ports import free_port, reference_registry

    folder = tmp_path_factory.mktemp("registry")
    with reference_registry(folder, f"127.0.0.1:{free_port()}") as address:
        yield address


#: The user the rootless tests create (once; left in place) and run the CLI (and JupyterHub) as.
ROOTLESS_USER = "mlc-rootless"


@dataclass(frozen=True)
class RootlessUser:
    """A user of this machine with rootless Podman's socket running, and how to run as them."""

    name: str
    uid: int
    gid: int
    home: Path
    env: dict  # HOME, XDG_RUNTIME_DIR, PATH with this Python, PYTHONPATH to this checkout

    @property
    def docker_host(self) -> str:
        return f"unix://{self.env['XDG_RUNTIME_DIR']}/podman/podman.sock"

    def run(self, command: list[str], **options):
        """`command` as this user (no login session: the environment is `env`'s alone)."""
        import subprocess

        options.setdefault("capture_output", True)
        options.setdefault("text", True)
        return subprocess.run(
            command,
            user=self.uid,
            group=self.gid,
            extra_groups=[],
            cwd=self.home,
            env={**self.env, **options.pop("env", {})},
            **options,
        )


@pytest.fixture(scope="session")
def rootless_podman(engine, base_image, registry, test_labels):
    """ROOTLESS_USER with rootless Podman set up and its socket running (`rootless_user`), the
    base image loaded from Docker. Yields a RootlessUser."""
    with rootless_user(ROOTLESS_USER, registry, base_image) as user:
        yield user


#: A second user, for what one user's engine must not show the other.
SECOND_ROOTLESS_USER = "mlc-rootless-b"


@pytest.fixture(scope="session")
def second_rootless_podman(registry):
    """SECOND_ROOTLESS_USER, set up like ROOTLESS_USER but without a base image (builds nothing)."""
    with rootless_user(SECOND_ROOTLESS_USER, registry) as user:
        yield user


@contextmanager
def rootless_user(name: str, registry: str, base_image: str = ""):
    """The user `name` with what rootless Podman needs set up once (idempotent): a home, a
    subordinate id range, XDG_RUNTIME_DIR (there is no login session to make it), overlay
    storage, the test registry trusted over HTTP, leave to run this Python, `base_image` (when
    given) loaded from Docker, and its own Podman socket. Yields a RootlessUser; then removes
    what the tests made in that Podman and stops its service (and the user namespace's pause
    process)."""
    import contextlib
    import grp
    import pwd
    import shutil
    import subprocess

    import docker

    from jupyter_mlcontainer.engine import DockerEngine

    if os.getuid() != 0:
        pytest.skip("creating a user for rootless Podman needs root")
    missing = [tool for tool in ("podman", "newuidmap", "slirp4netns", "setfacl", "useradd")]
    missing = [tool for tool in missing if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (scripts/setup.sh installs them)")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK) or os.stat("/dev/net/tun").st_mode & 6 != 6:
        pytest.skip("/dev/net/tun is root's alone: `chmod 0666 /dev/net/tun` (scripts/setup.sh)")
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        account = pwd.getpwnam(name)
    uid, gid, home = account.pw_uid, account.pw_gid, Path(account.pw_dir)
    for ranges, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
        owners = [line.split(":", 1)[0] for line in Path(ranges).read_text().splitlines()]
        if name not in owners:
            start = _free_subordinate_start(Path(ranges))
            subprocess.run(["usermod", flag, f"{start}-{start + 65535}", name], check=True)
    runtime_dir = Path(f"/run/user/{uid}")
    for folder in (runtime_dir, runtime_dir / "podman"):  # the service makes neither
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, uid, gid)
        folder.chmod(0o700)
    settings = home / ".config" / "containers"
    files = {
        "containers.conf": "[containers]\ndefault_ulimits = []\n",
        "storage.conf": '[storage]\ndriver = "overlay"\n',
        "registries.conf": f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n',
    }
    for folder in (home / ".config", settings):
        folder.mkdir(exist_ok=True)
        os.chown(folder, uid, gid)
    for file, text in files.items():
        (settings / file).write_text(text)  # read once by the service, which starts below
        os.chown(settings / file, uid, gid)
    repository = Path(__file__).resolve().parent.parent
    user = RootlessUser(
        name,
        uid,
        gid,
        home,
        {
            "HOME": str(home),
            "USER": name,
            "LOGNAME": name,
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "XDG_RUNTIME_DIR": str(runtime_dir),
            "PYTHONPATH": str(repository),
        },
    )
    _let_run_this_python(user, grp.getgrgid(gid).gr_name)
    socket = runtime_dir / "podman" / "podman.sock"
    log = open(home / "podman-service.log", "w")  # noqa: SIM115 - open while the service runs
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        user=uid,
        group=gid,
        extra_groups=[],
        cwd=home,
        env=user.env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its group holds the child it re-executes in the namespace
    )
    try:
        podman = _answering(
            lambda: DockerEngine(docker.DockerClient(base_url=f"unix://{socket}")), 60
        )
        if base_image and not podman.image_exists(base_image):
            saved = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
            user.run(["podman", "load", "-q"], stdin=saved.stdout, check=True)
            saved.wait(timeout=300)
        yield user
        _remove_labelled(podman)
    finally:
        _end_group(service)
        log.close()
        pause = runtime_dir / "libpod" / "tmp" / "pause.pid"  # keeps the user namespace alive
        if pause.is_file():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pause.read_text().strip()), 15)


def _end_group(process) -> None:
    """End `process` and its process group (started with start_new_session): terminating
    rootless Podman's service alone can leave the child it re-executed in the user namespace."""
    import signal
    import subprocess
    import time

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _free_subordinate_start(ranges: Path) -> int:
    """The first id past every range in /etc/subuid or /etc/subgid (at least 100000)."""
    ends = [100000]
    for line in ranges.read_text().splitlines():
        parts = line.split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            ends.append(int(parts[1]) + int(parts[2]))
    return max(ends)


def _let_run_this_python(user: RootlessUser, group: str) -> None:
    """Let `user` run this interpreter and import the checkout: folders above them that others
    may not enter (pyenv under /root, mode 700) get an ACL that lets this user alone pass."""
    import contextlib
    import subprocess

    check = [sys.executable, "-c", "import jupyter_mlcontainer, sklearn, nbclient, docker"]
    with contextlib.suppress(PermissionError):  # the interpreter itself is out of reach
        if user.run(check).returncode == 0:
            return
    places = {Path(sys.executable).resolve(), Path(sys.prefix), Path(sys.base_prefix)}
    places.add(Path(user.env["PYTHONPATH"]))
    folders = {folder for place in places for folder in place.parents}
    for folder in sorted(folders):
        if folder.is_dir() and not folder.stat().st_mode & 0o001:
            subprocess.run(["setfacl", "-m", f"u:{user.name}:x", str(folder)], check=True)
    done = user.run(check)
    if done.returncode != 0:
        pytest.skip(f"{user.name} cannot run {sys.executable}: {done.stderr.strip()[-300:]}")
