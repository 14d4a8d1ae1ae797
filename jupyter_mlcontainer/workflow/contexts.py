"""The build contexts kept in the cache, one per notebook and name: where a notebook's lives,
and removing those that no image was built from any more.

A context is kept between builds so that a rebuild rewrites the same files (and finds Docker's
cache). Its wheels are hard links into the wheel cache, but its captured state is its own copy: a
folder per notebook and name ever built adds up to every model ever saved.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.base import NAME_LABEL, NOTEBOOK_LABEL
from ..pipeline.render import is_context
from ..shared.config import cache_dir
from ..shared.locks import exclusive_folder


def context_folder(name: str, notebook: str) -> Path:
    """The stable folder of `name` built from `notebook`, so rebuilds reuse the same files."""
    key = hashlib.sha256(str(Path(notebook).resolve()).encode()).hexdigest()[:8]
    return cache_dir("contexts", f"{name}-{key}")


@dataclass
class PrunedContexts:
    """The cached contexts removed (folder names) and the bytes that freed."""

    contexts: list = field(default_factory=list)
    context_bytes: int = 0


class _InUse(Exception):
    """A build holds the folder: it is being written, so it is not stale."""


def _in_use() -> None:
    raise _InUse


def prune_contexts(image_labels: Iterable[dict]) -> PrunedContexts:
    """Remove the cached contexts that none of the images (given by their labels) was built
    from. A context a build holds right now is left alone: its image does not exist yet."""
    root = cache_dir("contexts")
    wanted = {
        context_folder(labels[NAME_LABEL], labels[NOTEBOOK_LABEL]).name
        for labels in image_labels
        if labels.get(NAME_LABEL) and labels.get(NOTEBOOK_LABEL)
    }
    pruned = PrunedContexts()
    files: dict[tuple, list] = {}  # inode → [size, its links, the links removed]
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name in wanted or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            with exclusive_folder(folder, waiting=_in_use):
                if not is_context({path.name for path in folder.iterdir()}):
                    continue
                for info in _regular_files(folder):
                    key = (info.st_dev, info.st_ino)
                    files.setdefault(key, [info.st_size, info.st_nlink, 0])[2] += 1
                shutil.rmtree(folder)
        except _InUse:
            continue
        pruned.contexts.append(folder.name)
    # A wheel is a hard link into the wheel cache, which keeps it: only a file's last link frees.
    pruned.context_bytes = sum(size for size, links, removed in files.values() if removed >= links)
    return pruned


def _regular_files(folder: Path) -> Iterator[os.stat_result]:
    for path in folder.rglob("*"):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            yield info
