"""Docker's build output (the JSON lines of the classic builder) → our `ProgressEvent`s.

A pure function over the decoded stream, so that every shape of it (cache hits, a failing step,
an error in the middle of a step) is tested on recorded streams, without an engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ..shared.errors import BuildFailed
from ..shared.events import ProgressEvent

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
_CACHE = "---> Using cache"
_NO_SPACE = "no space left on device"
ENGINE_DISK_HINT = (
    "Free space where the engine keeps its images (`docker system df` shows what uses it; "
    "`jupyter mlcontainer prune` removes superseded images and the builder stages' cache), then "
    "build again: the steps already built are reused."
)


def build_events(chunks: Iterable[dict]) -> Iterator[ProgressEvent]:
    """Yield a `step` event per Dockerfile step, `cache` when the engine reuses its layer and
    `log` for each line of output; raise BuildFailed with the failing step's output on error."""
    step, total, step_title, step_output = 0, 0, "", []
    for chunk in chunks:
        if "error" in chunk:
            out_of_space = _NO_SPACE in chunk["error"].lower()
            raise BuildFailed(
                f"Build step {step}/{total} failed: {step_title}"
                + (" (the Docker engine's disk is full)" if out_of_space else ""),
                ENGINE_DISK_HINT
                if out_of_space
                else "Read the step's output below; fix the notebook or its environment.",
                output="".join(step_output) + chunk["error"],
            )
        line = chunk.get("stream", "")
        if not line.strip():
            continue
        started = _STEP.match(line.strip())
        if started:
            step, total, step_title = int(started[1]), int(started[2]), started[3]
            step_output = []
            yield ProgressEvent("step", step_title, "build", step, total)
        elif line.strip() == _CACHE:
            yield ProgressEvent("cache", step_title, "build", step, total)
        else:
            step_output.append(line)
            yield ProgressEvent("log", line.rstrip("\n"), "build", step, total)
