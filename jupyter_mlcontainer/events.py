"""The one progress event type that every stage emits and every front door renders."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

#: Kinds of event: a pipeline stage starts, a build step starts, a log line,
#: a cached build step, a warning for the user, an error, the end of a job.
KINDS = ("stage", "step", "log", "cache", "warning", "error", "done")


@dataclass(frozen=True)
class ProgressEvent:
    kind: str
    message: str
    stage: str = ""
    step: int = 0
    total: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


EventSink = Callable[[ProgressEvent], None]


def ignore_events(event: ProgressEvent) -> None:
    """Default sink for callers that do not render progress."""
