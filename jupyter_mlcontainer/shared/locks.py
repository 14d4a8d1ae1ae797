"""One build at a time per folder (a build context, the wheel cache), across threads and
processes.

Two builds of the same notebook (two JupyterLab jobs, or the CLI beside the magic) would
otherwise empty and rewrite one folder under each other. Threads of one process share an
in-process lock; processes share a `flock` on a file in the cache. Where there is no flock
(Windows, some network and FUSE file systems) the in-process lock stands alone.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import cache_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Seconds between attempts while another build holds the folder.
POLL = 0.5

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def exclusive_folder(folder: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold the folder's lock while the body runs. While another holder has it, `waiting`
    is called before every attempt; it may raise (a cancelled job) to give up."""
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    while not thread_lock.acquire(blocking=False):
        waiting()
        time.sleep(POLL)
    try:
        with _file_lock(cache_dir("locks") / f"{key}.lock", waiting):
            yield
    finally:
        thread_lock.release()


@contextmanager
def _file_lock(lock_file: Path, waiting: Callable[[], None]) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        locked = _flock(handle, waiting)
        try:
            yield
        finally:
            if locked:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _flock(handle, waiting: Callable[[], None]) -> bool:
    """Wait for the file lock; False where the file system offers none."""
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            waiting()
            time.sleep(POLL)
        except OSError:
            return False
