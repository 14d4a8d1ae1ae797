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
        if event.kind == "cache":
            return f"    {counter}cached"
        prefix = _PREFIXES.get(event.kind, "    ")
        return prefix.format(counter=counter) + event.message


#: How each kind of event starts its line; logs are indented.
_PREFIXES = {
    "stage": "==> {counter}",
    "step": "--> {counter}",
    "warning": "warning: ",
    "error": "error: ",
    "done": "done: ",
}
