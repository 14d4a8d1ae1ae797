"""The one progress event type that every stage emits and every front door renders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ProgressEvent:
    #: stage (a pipeline stage starts) | step (a build step starts) | log | cache (a cached
    #: build step) | warning | error | done (the end of a job)
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
