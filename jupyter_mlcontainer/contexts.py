"""The build contexts kept in the cache, one per notebook and name: where a notebook's lives,
and removing those that no image was built from any more.

A context is kept between builds so that a rebuild rewrites the same files (and finds Docker's
cache); it holds the wheels of every package, so a folder per notebook ever built adds up.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .config import cache_dir
from .engine.base import NAME_LABEL, NOTEBOOK_LABEL
from .locks import exclusive_folder
from .pipeline.render import is_context


def context_folder(name: str, notebook: str) -> Path:
    """The stable folder of `name` built from `notebook`, so rebuilds reuse the same files."""
    key = hashlib.sha256(str(Path(notebook).resolve()).encode()).hexdigest()[:8]
    return cache_dir("contexts", f"{name}-{key}")


@dataclass
class PrunedContexts:
    """The cached contexts removed (folder names) and the bytes they held."""

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
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name in wanted or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            with exclusive_folder(folder, waiting=_in_use):
                if not is_context({path.name for path in folder.iterdir()}):
                    continue
                size = sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file())
                shutil.rmtree(folder)
        except _InUse:
            continue
        pruned.contexts.append(folder.name)
        pruned.context_bytes += size
    return pruned
