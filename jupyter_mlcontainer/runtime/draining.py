"""Drain before stopping, for replicas behind a front or a Kubernetes Service.

An orchestrator sends SIGTERM while its proxy may still route new requests here for a second or
two (DNS and health checks lag). Stopping at once closes connections that a request is already
on its way down, and a proxy cannot always retry those. Draining first answers `/ready` with 503
and closes each connection after its response, for MLCONTAINER_DRAIN_SECONDS, so the proxy takes
this replica out of rotation; only then does uvicorn stop (in-flight requests finish).
"""

import logging
import os
import signal
import threading

log = logging.getLogger("mlcontainer")

DRAIN_VARIABLE = "MLCONTAINER_DRAIN_SECONDS"


def drain_seconds() -> float:
    """0 unless the orchestrator's spec asks: a plain `docker stop` should stop at once."""
    return float(os.environ.get(DRAIN_VARIABLE) or 0)


def drain_before_stopping(server, app, seconds: float):
    """`server` (a uvicorn.Server) with its SIGTERM handler made to drain `app` first; SIGINT, or
    a second SIGTERM, stops at once."""
    stop = server.handle_exit

    def handle_exit(sig, frame):
        if sig != signal.SIGTERM or seconds <= 0 or app.draining:
            stop(sig, frame)
            return
        log.info("SIGTERM: draining for %g s, then stopping", seconds)
        drain_then(app, seconds, lambda: stop(sig, frame))

    server.handle_exit = handle_exit  # uvicorn installs self.handle_exit as the signal handler
    return server


def drain_then(app, seconds: float, stop) -> None:
    """Answer as a draining server does (`/ready` 503, connections closed after each response)
    for `seconds`, then call `stop()`: on SIGTERM here, and when a successor takes the port over
    (handover.py)."""
    app.draining = True
    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
