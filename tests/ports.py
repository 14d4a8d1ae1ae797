"""Ports on 127.0.0.1 for the tests: a free one, and waiting for a server started on one."""

from __future__ import annotations

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
