"""Helpers shared by CLI commands."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..shared.events import ProgressEvent


def drain(events: Iterable[ProgressEvent], sink: Callable[[ProgressEvent], None]) -> None:
    for event in events:
        sink(event)
