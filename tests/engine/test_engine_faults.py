"""A Docker engine that stops mid-build, on an engine the test starts itself (its own socket, data
folder and network namespace, so the machine's engine and network are never touched): the build
fails with a clear error, its folder lock is released, and the next build after the engine is
back succeeds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.shared.config import MLContainerConfig
from jupyter_mlcontainer.shared.errors import EngineUnavailable, MLContainerError
from jupyter_mlcontainer.workflow.build import containerize

from retrained import trained_notebook

pytestmark = pytest.mark.engine

#: Room left on the full engine's disk: the context and a few layers, not numpy's install.
FREE_MEGABYTES = 40


class OwnEngine:
    """dockerd on a socket of its own, in a network namespace of its own (`unshare --net`): with
    no bridge it deletes any `docker0` it sees, which must never be the machine's."""

    def __init__(self, folder):
        self.folder = folder
        self.socket = folder / "docker.sock"
        self.process = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        log = open(self.folder / "dockerd.log", "a")  # noqa: SIM115 (the daemon keeps it)
        self.process = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--",
                shutil.which("dockerd") or "dockerd",
                f"--host={self.host}",
                f"--data-root={self.folder / 'data'}",
                f"--exec-root={self.folder / 'exec'}",
                f"--pidfile={self.folder / 'docker.pid'}",
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        while subprocess.run(
            ["docker", "-H", self.host, "info"], capture_output=True, check=False
        ).returncode:
            assert self.process.poll() is None and time.monotonic() < deadline, (
                self.folder / "dockerd.log"
            ).read_text()[-2000:]
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


def _own_engine_with_base(folder, base_image, monkeypatch):
    """An OwnEngine in `folder` holding the base image, DOCKER_HOST pointing at it."""
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("unshare"):
        pytest.skip("starting a second dockerd needs root, dockerd and unshare")
    bridges = _lasting_interfaces()
    own = OwnEngine(folder)
    own.start()
    try:
        saved = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", own.host, "load", "-q"], stdin=saved.stdout, check=True)
        saved.wait()
        monkeypatch.setenv("DOCKER_HOST", own.host)
        yield own
    finally:
        own.stop()
    assert _lasting_interfaces() >= bridges, "the machine's network was touched"


def _lasting_interfaces() -> set:
    """The machine's network interfaces but the veth pairs, which come and go with the
    containers other tests run meanwhile."""
    return {name for name in os.listdir("/sys/class/net") if not name.startswith("veth")}


@pytest.fixture
def own_engine(engine, base_image, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("dockerd", numbered=True)
    yield from _own_engine_with_base(folder, base_image, monkeypatch)


@pytest.fixture
def full_engine(engine, base_image, tmp_path_factory, monkeypatch):
    """An own engine whose data folder is a tmpfs with room for the base image and
    FREE_MEGABYTES more: too little for numpy's layer."""
    folder = tmp_path_factory.mktemp("dockerd-full", numbered=True)
    data = folder / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(data)], check=True)
    try:
        for own in _own_engine_with_base(folder, base_image, monkeypatch):
            usage = shutil.disk_usage(data)
            size = usage.used + FREE_MEGABYTES * 2**20
            subprocess.run(["mount", "-o", f"remount,size={size}", str(data)], check=True)
            yield own
    finally:
        subprocess.run(["umount", "--lazy", str(data)], check=False)


def test_an_engine_that_stops_mid_build_fails_the_build_clearly_and_the_next_succeeds(
    own_engine, base_image, tmp_path
):
    notebook = trained_notebook(tmp_path / "faulty.ipynb", "v1")
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
    config = MLContainerConfig(base_image=base_image)
    context = str(tmp_path / "context")

    def stop_engine_at_the_second_step(event):
        if event.kind == "step" and event.step == 2:
            own_engine.stop()

    with pytest.raises(MLContainerError) as failure:
        containerize(
            options, config=config, out_dir=context, on_event=stop_engine_at_the_second_step
        )
    assert isinstance(failure.value, EngineUnavailable), failure.value
    assert "The Docker engine stopped during the build" in failure.value.message
    assert "nothing was tagged" in failure.value.message
    assert "Start the Docker engine" in failure.value.hint

    own_engine.start()  # the same folder: the lock was released
    result = containerize(options, config=config, out_dir=context)
    # The image's last step answered the sample as the notebook did (the image's self-check).
    tags = subprocess.run(
        ["docker", "-H", own_engine.host, "images", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert result.tag in tags


def test_an_engine_whose_disk_fills_during_the_build_says_so(full_engine, base_image, tmp_path):
    notebook = trained_notebook(tmp_path / "big.ipynb", "v1")
    options = ExportOptions(notebook=str(notebook), entry="predict", sample="X[:2]")
    with pytest.raises(MLContainerError) as failure:
        containerize(
            options, config=MLContainerConfig(base_image=base_image), out_dir=str(tmp_path / "c")
        )
    assert "disk is full" in failure.value.message
    assert "no space left on device" in failure.value.output
    assert "jupyter mlcontainer prune" in failure.value.hint
