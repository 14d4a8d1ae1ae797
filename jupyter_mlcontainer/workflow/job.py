"""A running pipeline job: where its events go, its warnings, and whether it was cancelled."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..shared.errors import JobCancelled
from ..shared.events import EventSink, ProgressEvent


class Job:
    """Emits events and honours cancellation between steps."""

    def __init__(self, on_event: EventSink, cancel: threading.Event | None = None):
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.warnings: list[str] = []

    def check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled("The build was cancelled.")

    def stage(self, stage: str, message: str) -> None:
        self.check()
        self.on_event(ProgressEvent("stage", message, stage))

    def log(self, message: str, stage: str = "") -> None:
        self.on_event(ProgressEvent("log", message, stage))

    def warn(self, message: str, stage: str = "") -> None:
        self.warnings.append(message)
        self.on_event(ProgressEvent("warning", message, stage))

    def waiting_for(self, what: str) -> Callable[[], None]:
        """A callback for `exclusive_folder`: honours cancellation, says once what it waits for."""
        told = []

        def waiting() -> None:
            self.check()
            if not told:
                told.append(True)
                self.log(f"Waiting for another build to finish {what}")

        return waiting
