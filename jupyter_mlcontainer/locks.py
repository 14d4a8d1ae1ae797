"""One build at a time per context folder, across threads and processes.

Two builds of the same notebook (two JupyterLab jobs, or the CLI beside the magic) would
otherwise empty and rewrite one folder under each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import cache_dir

#: Seconds between attempts while another build holds the folder.
POLL = 0.5


@contextmanager
def exclusive_folder(folder: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold the folder's lock while the body runs. While another holder has it, `waiting`
    is called before every attempt; it may raise (a cancelled job) to give up."""
    key = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    lock_file = cache_dir("locks") / f"{key}.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:  # flock conflicts between separate opens, even threads
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waiting()
                time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
