"""Taking over a port from the instance this one replaces, with no request lost.

A local instance's port is published by a small holder container whose network namespace the
serving containers join (engine/docker.py). With MLCONTAINER_REUSE_PORT=1 the runtime loads and
checks its model first and only then listens, on a socket bound with SO_REUSEPORT: while two
instances listen the kernel shares new connections between them, and the newcomer takes none
before it has proven itself. The one it replaces gets RETIRE_SIGNAL: it closes its listener at
once (the holder sets `net.ipv4.tcp_migrate_req`, so connections still waiting in its queue move
to the newcomer), answers what it already holds with `Connection: close` for
RETIRE_DRAIN_SECONDS, and stops. SIGTERM (`docker stop`) still stops at once.
"""

import asyncio
import logging
import os
import signal
import socket

from .draining import drain_then

log = logging.getLogger("mlcontainer")

REUSE_PORT = "MLCONTAINER_REUSE_PORT"
#: Sent by the engine to the instance being replaced, once its successor listens.
RETIRE_SIGNAL = signal.SIGUSR1
#: Seconds a retiring instance answers on the connections it holds: its clients' next requests
#: open new connections, which reach its successor.
RETIRE_DRAIN_SECONDS = 1.0
#: Logged once the server listens: the engine waits for it before it retires the old instance.
LISTENING = "mlcontainer: listening, taking requests"
#: Logged once a retiring server's listeners are closed: new connections reach its successor.
STOPPED_LISTENING = "mlcontainer: stopped listening, draining"


def reuses_port() -> bool:
    return os.environ.get(REUSE_PORT) == "1"


def shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that another process of the namespace may bind as well."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def hand_over_when_asked(server, app) -> None:
    """Make `server` (a uvicorn.Server serving `app`) log LISTENING once it listens, and retire
    on RETIRE_SIGNAL: close its listeners, drain, stop."""
    startup = server.startup
    loop = []

    async def started(sockets=None):
        await startup(sockets=sockets)
        loop.append(asyncio.get_running_loop())
        if server.started:
            log.info(LISTENING)

    def stop_listening():
        for listener in server.servers:
            listener.close()
        log.info(STOPPED_LISTENING)

    def retire(signum, frame):
        if not loop or app.draining:
            return
        # Draining first: every response from here on closes its connection. The SIGTERM
        # handler then stops at once, as it does for a server that is draining already.
        drain_then(app, RETIRE_DRAIN_SECONDS, lambda: server.handle_exit(signal.SIGTERM, None))
        loop[0].call_soon_threadsafe(stop_listening)

    server.startup = started
    signal.signal(RETIRE_SIGNAL, retire)
