"""The build's progress in a notebook: a bar over the pipeline's stages, a collapsible log, and
the failing step's output when something goes wrong. An event sink like the terminal's."""

from __future__ import annotations

import html
import threading
import time
from collections import deque

import ipywidgets as widgets

from ...shared.errors import BuildFailed, MLContainerError
from ...shared.events import ProgressEvent

#: The workflow's stages in order; a build's steps subdivide the "build" stage.
STAGES = ("analyse", "capture", "environment", "render", "build", "run", "check")
LOG_LINES = 400
FLUSH_SECONDS = 0.25


class BuildProgress(widgets.VBox):
    def __init__(self, title: str = "Containerizing"):
        self.title = title
        self.status = widgets.HTML(f"<b>{html.escape(title)}</b>: starting")
        self.bar = widgets.FloatProgress(
            value=0, min=0, max=len(STAGES), bar_style="info", layout=widgets.Layout(width="100%")
        )
        self.log_view = widgets.Textarea(
            disabled=True, layout=widgets.Layout(width="100%", height="240px")
        )
        self.accordion = widgets.Accordion(children=[self.log_view], selected_index=None)
        self.accordion.set_title(0, "Build log")
        self.error = widgets.HTML()
        super().__init__([self.status, self.bar, self.error, self.accordion])
        self._lines: deque = deque(maxlen=LOG_LINES)
        self._step_lines: list = []  # the current build step's output, shown if it fails
        self._flushed = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind in ("stage", "step"):
                self._step_lines = []
                self._advance(event)
            if event.kind == "log":
                self._step_lines = (self._step_lines + [event.message])[-LOG_LINES:]
            self._lines.append(_line(event))
            if event.kind == "warning":
                self.error.value += _box(f"warning: {event.message}", "#8a6d00", "#fff8e1")
            if event.kind == "error" or time.monotonic() - self._flushed > FLUSH_SECONDS:
                self._flush()

    def _advance(self, event: ProgressEvent) -> None:
        if event.stage in STAGES:
            position = STAGES.index(event.stage)
            if event.kind == "step" and event.total:
                position += min(event.step, event.total) / event.total
            self.bar.value = max(self.bar.value, position)
        counter = f" [{event.step}/{event.total}]" if event.total else ""
        self.status.value = (
            f"<b>{html.escape(self.title)}</b>{counter}: {html.escape(event.message)}"
        )

    def _flush(self) -> None:
        self.log_view.value = "\n".join(self._lines)
        self._flushed = time.monotonic()

    def finish(self, message: str) -> None:
        with self._lock:
            self._flush()
            self.bar.value = self.bar.max
            self.bar.bar_style = "success"
            self.status.value = f"<b>{html.escape(self.title)}</b>: {html.escape(message)}"

    def fail(self, error: BaseException) -> None:
        """Show what went wrong, with the failing step's output, and open the log."""
        with self._lock:
            self._flush()
            self.bar.bar_style = "danger"
            if isinstance(error, MLContainerError):
                text = error.message + (f"\n{error.hint}" if error.hint else "")
                output = error.output if isinstance(error, BuildFailed) else ""
            else:
                text, output = f"{type(error).__name__}: {error}", ""
            output = output or "\n".join(self._step_lines)
            self.status.value = f"<b>{html.escape(self.title)}</b>: failed"
            self.error.value += _box(text, "#a4000f", "#fdecea") + (
                _box(output, "#333", "#f6f6f6", "Output of the failing step") if output else ""
            )
            self.accordion.selected_index = 0

    def cancelled(self) -> None:
        with self._lock:
            self._flush()
            self.bar.bar_style = "warning"
            self.status.value = f"<b>{html.escape(self.title)}</b>: cancelled"


def _line(event: ProgressEvent) -> str:
    if event.kind == "log":
        return f"    {event.message}"
    counter = f"[{event.step}/{event.total}] " if event.total else ""
    return f"{event.kind}: {counter}{event.message}"


def _box(text: str, color: str, background: str, title: str = "") -> str:
    heading = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return (
        f'<div style="color:{color};background:{background};padding:4px 8px;margin:4px 0;'
        f'border-radius:3px">{heading}<pre style="margin:0;white-space:pre-wrap">'
        f"{html.escape(text)}</pre></div>"
    )
