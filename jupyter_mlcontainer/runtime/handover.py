"""Taking over a port from the instance this one replaces, with no request lost.

A local instance's port is published by a small holder container whose network namespace the
serving containers join (engine/docker.py). With MLCONTAINER_REUSE_PORT=1 the runtime loads and
checks its model first and only then listens, on a socket bound with SO_REUSEPORT: while two
instances listen the kernel shares new connections between them, and the newcomer takes none
before it has proven itself. The one it replaces, on SIGTERM, closes its listener at once (the
holder sets `net.ipv4.tcp_migrate_req`, so connections still waiting in its queue move to the
newcomer), answers what it already holds with `Connection: close` while it drains, and stops.
"""

import asyncio
import logging
import os
import socket

log = logging.getLogger("mlcontainer")

REUSE_PORT = "MLCONTAINER_REUSE_PORT"
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


def announce_listening(server) -> None:
    """Log LISTENING once `server` (a uvicorn.Server) listens, and remember its event loop so a
    signal handler can close its listeners from there."""
    startup = server.startup

    async def started(sockets=None):
        await startup(sockets=sockets)
        server.mlcontainer_loop = asyncio.get_running_loop()
        if server.started:
            log.info(LISTENING)

    server.startup = started


def stop_listening(server) -> None:
    """Close `server`'s listeners, from a signal handler: new connections go to the instance
    that shares the port; those in flight are answered."""
    loop = getattr(server, "mlcontainer_loop", None)
    if loop is None:
        return

    def close():
        for listener in server.servers:
            listener.close()
        log.info(STOPPED_LISTENING)

    loop.call_soon_threadsafe(close)
