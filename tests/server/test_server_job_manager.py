"""The job manager's bookkeeping, with a stand-in build that waits until it is told to end."""

from __future__ import annotations

import asyncio
import threading

from jupyter_mlcontainer.pipeline.plan import ExportOptions
from jupyter_mlcontainer.server.jobs import JobManager
from jupyter_mlcontainer.workflow.build import BuildResult


class HeldBuild:
    """Blocks each build until `release` is set; records which jobs ran."""

    def __init__(self):
        self.release = threading.Event()
        self.ran: list[str] = []

    def __call__(self, job, on_event):
        self.ran.append(job.id)
        self.release.wait(30)
        return BuildResult(context="stand-in")


async def _until(predicate, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_a_queued_job_is_cancelled_at_once_and_never_runs():
    build = HeldBuild()
    manager = JobManager(build, max_builds=1)
    running = manager.submit(ExportOptions(notebook="a.ipynb"))
    queued = manager.submit(ExportOptions(notebook="b.ipynb"))
    await _until(lambda: running.status == "running")

    assert manager.cancel(queued.id).status == "cancelled"
    assert "cancelled" in queued.error["message"]
    cancelled_at = queued.finished

    build.release.set()
    await _until(lambda: running.done)
    await asyncio.sleep(0.5)  # the worker has picked up the cancelled job by now
    assert running.status == "succeeded"
    assert build.ran == [running.id]
    assert queued.status == "cancelled"
    assert queued.finished == cancelled_at, "a finished job is not finished again"
    manager.shutdown()
