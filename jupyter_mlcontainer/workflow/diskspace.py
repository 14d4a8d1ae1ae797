"""A full disk while writing a build context (or the wheel cache), said plainly."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..shared.errors import DiskFull

_FULL = {errno.ENOSPC, errno.EDQUOT}


@contextmanager
def clear_when_full(folder: Path) -> Iterator[None]:
    """Turn "No space left on device" (or a quota hit) inside the body into DiskFull naming the
    file being written; other errors pass unchanged."""
    try:
        yield
    except OSError as error:
        if error.errno not in _FULL:
            raise
        written = error.filename2 or error.filename or folder
        raise DiskFull(
            f"The disk is full: {error.strerror} while writing {written}. The build context in "
            f"{folder} is incomplete and nothing was built.",
            "Free space on that disk (`jupyter mlcontainer prune` removes the cached contexts "
            "no image was built from), or write the context elsewhere (--out DIR), then build "
            "again.",
        ) from error
