"""The one pipeline every front door calls: notebook → build context → image → instance.

JupyterLab (server extension), the `%containerize` magic, the CLI and the nbconvert exporter
all call `containerize` with an `ExportOptions` and render its `ProgressEvent`s their own way.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Optional

from .config import MLContainerConfig
from .engine.base import Instance
from .events import EventSink, ignore_events
from .pipeline.plan import ExportOptions


@dataclass
class BuildResult:
    context: str  # the build context directory
    image: str = ""  # image id (empty with context_only)
    tag: str = ""  # mlcontainer/<name>:<content hash>
    size: int = 0  # image size in bytes
    instance: Optional[Instance] = None  # with options.run
    parity: Optional[dict] = None  # ParityReport.to_dict() when an instance answered the sample
    warnings: tuple = ()

    def to_dict(self) -> dict:
        return asdict(self)


def containerize(
    options: ExportOptions,
    kernel=None,
    config: Optional[MLContainerConfig] = None,
    on_event: EventSink = ignore_events,
    cancel: Optional[threading.Event] = None,
    context_only: bool = False,
    out_dir: Optional[str] = None,
) -> BuildResult:
    """Run the whole pipeline.

    `kernel` is a `pipeline.kernels.KernelSession` holding the notebook's live state (magic,
    JupyterLab); None executes the notebook headless first. `cancel` is checked between
    stages and build steps; when set the job stops with `JobCancelled` and removes what it made.
    """
    raise NotImplementedError("containerize lands with the extract and build stages")
