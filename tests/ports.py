"""Ports on 127.0.0.1 for the tests: a free one, and waiting for a server started on one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


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
