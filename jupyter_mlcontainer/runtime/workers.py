"""N worker processes sharing one listening socket (MLCONTAINER_WORKERS).

The parent imports the model's module and loads its state before forking, so the workers share
those pages copy-on-write and none pays the load again. It does not predict: the warm-up, which
may start thread pools that do not survive a fork (OpenMP's), runs in each worker after the fork.
The parent forwards SIGTERM and SIGINT to the workers; when one worker ends, the others are
stopped and its exit status is the server's, so an orchestrator sees the failure.
"""

import logging
import os
import signal

from .handover import RETIRE_SIGNAL

log = logging.getLogger("mlcontainer")


def run_workers(server_factory, config, service, count: int, sock=None) -> int:
    """Serve with `count` forked workers on `sock` (bound here when None); `server_factory(config)`
    makes one uvicorn Server."""
    sock = sock or config.bind_socket()
    try:
        service.load(warm_up=False)
    except Exception:  # each worker loads again, logs why and answers /ready with 503
        log.exception("loading the model before forking failed")
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            server_factory(config).run(sockets=[sock])
            os._exit(0)
        children.append(pid)
    sock.close()
    log.info("serving with %d worker processes", count)

    stopping = []

    def forward(signum, _frame):
        stopping.append(signum)
        for child in children:
            _kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(RETIRE_SIGNAL, forward)  # each worker hands the shared port over
    status = _wait_any(children)
    # uvicorn re-raises the signal that stopped it: a worker we asked to stop ended normally.
    stopped = bool(stopping)
    forward(signal.SIGTERM, None)
    for child in children:
        _wait(child)
    return 0 if stopped else status


def _wait_any(children: list) -> int:
    """The exit status of the first worker to end; it leaves `children`."""
    while True:
        pid, status = os.wait()
        if pid in children:
            children.remove(pid)
            return os.waitstatus_to_exitcode(status)


def _wait(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
