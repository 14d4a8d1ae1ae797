"""An engine's build output (the JSON lines of Docker's classic builder, or of Podman's, which
is buildah's) → our `ProgressEvent`s.

A pure function over the decoded stream, so that every shape of it (cache hits, a failing step,
an error in the middle of a step) is tested on recorded streams, without an engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ..shared.errors import BuildFailed
from ..shared.events import ProgressEvent

#: Docker numbers steps across the stages: "Step 3/22 : RUN ...".
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
#: Podman numbers them within each stage: "[2/2] STEP 3/17: RUN ..." ("STEP 3/17: " for one).
_STAGE_STEP = re.compile(r"^(?:\[(\d+)/\d+\] )?STEP (\d+)/(\d+): (.*)")
_CACHE = ("---> Using cache", "--> Using cache")  # Docker's; Podman's, followed by the layer
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
    stage, before = "1", 0  # Podman's stage, and the steps of the stages before it
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
        started, in_stage = _STEP.match(line.strip()), _STAGE_STEP.match(line.strip())
        if in_stage:  # numbered across the stages seen so far, as Docker numbers them
            if (in_stage[1] or "1") != stage:
                stage, before = in_stage[1], total
            step, total = before + int(in_stage[2]), before + int(in_stage[3])
            step_title, step_output = in_stage[4], []
            yield ProgressEvent("step", step_title, "build", step, total)
        elif started:
            step, total, step_title = int(started[1]), int(started[2]), started[3]
            step_output = []
            yield ProgressEvent("step", step_title, "build", step, total)
        elif line.strip().startswith(_CACHE):
            yield ProgressEvent("cache", step_title, "build", step, total)
        else:
            step_output.append(line)
            yield ProgressEvent("log", line.rstrip("\n"), "build", step, total)
