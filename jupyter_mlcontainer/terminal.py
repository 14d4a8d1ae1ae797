"""Render progress events in a terminal: one line per stage or build step, logs indented."""

from __future__ import annotations

import sys
from typing import IO

from .events import ProgressEvent


class TerminalProgress:
    """An event sink for the CLI, writing to stderr so that stdout stays clean for `--json`;
    without `verbose`, log lines are left out."""

    def __init__(self, stream: IO[str] | None = None, verbose: bool = True):
        self.stream = stream or sys.stderr
        self.verbose = verbose

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "log" and not self.verbose:
            return
        self.stream.write(self.format(event) + "\n")
        self.stream.flush()

    @staticmethod
    def format(event: ProgressEvent) -> str:
        counter = f"[{event.step}/{event.total}] " if event.total else ""
        if event.kind == "stage":
            return f"==> {counter}{event.message}"
        if event.kind == "step":
            return f"--> {counter}{event.message}"
        if event.kind == "cache":
            return f"    {counter}cached"
        if event.kind == "warning":
            return f"warning: {event.message}"
        if event.kind == "error":
            return f"error: {event.message}"
        if event.kind == "done":
            return f"done: {event.message}"
        return f"    {event.message}"
