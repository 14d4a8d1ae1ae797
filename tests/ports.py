"""Ports on 127.0.0.1 for the tests: a free one, and waiting for a server started on one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A port nothing listens on (free now; closed, for error-path tests)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    """Poll `url` until it answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{url} did not answer within {seconds:g} s"
            time.sleep(0.2)


def curl_status(url: str, token: str | None = None, cacert: str | None = None) -> str:
    """The HTTP status curl gets from `url`, with `Authorization: Bearer <token>` when given,
    trusting the certificate `cacert` for HTTPS; "000" when nothing answers in HTTP."""
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    headers += ["--cacert", cacert] if cacert else []
    done = subprocess.run(
        [shutil.which("curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}", *headers, url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


@contextmanager
def reference_registry(folder: Path, address: str) -> Iterator[str]:
    """Debian's reference registry (v2) serving on `address` (host:port), its storage and log
    in `folder`; yields the address, and stops it afterwards."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("no docker-registry (apt-get install docker-registry; scripts/setup.sh does)")
    folder.mkdir(parents=True, exist_ok=True)
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
