"""Build jobs in the server's memory: a thread pool runs the pipeline, the event loop keeps the record.

Every change to a `JobRecord` happens on the event loop thread (workers hand events over with
`IOLoop.add_callback`), so handlers read jobs without locks and a reloaded page can replay them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from tornado.ioloop import IOLoop
from tornado.locks import Condition

from ..pipeline.plan import ExportOptions
from ..shared.errors import CaptureError, JobCancelled, JobNotFound, MLContainerError
from ..shared.events import EventSink, ProgressEvent

log = logging.getLogger(__name__)

#: Builds that may run at once; more wait in the queue.
MAX_BUILDS = 2
#: Finished jobs kept for reattaching pages; the oldest are forgotten first.
KEEP_FINISHED = 50
FINISHED = ("succeeded", "failed", "cancelled")

#: (job, on_event) → BuildResult; runs in a worker thread.
Build = Callable[["JobRecord", EventSink], object]


@dataclass
class JobRecord:
    """A job as the server keeps it for the frontend to poll: its request, state and events (the
    running side, `workflow.job.Job`, reports into it)."""

    options: ExportOptions | None  # a build's; None for other kinds
    kernel_id: str | None = None
    path: str = ""  # the notebook as the request named it, relative to the server root
    kind: str = "build"  # build | explain | push | deploy | scale | rollout | undeploy
    target: str = ""  # what other kinds act on: a push's REGISTRY/REPOSITORY[:TAG], a deployment
    work: Build | None = field(default=None, repr=False)  # what runs, when not the build
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "queued"  # queued | running | succeeded | failed | cancelled
    stage: str = ""
    events: list = field(default_factory=list)
    result: dict | None = None  # BuildResult.to_dict()
    error: dict | None = None  # {"message", "hint", "output"}
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    changed: Condition = field(default_factory=Condition, repr=False)

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def record(self, event: ProgressEvent) -> None:
        if event.stage:
            self.stage = event.stage
        self.events.append({**event.to_dict(), "time": round(time.time() - self.created, 3)})
        self.changed.notify_all()

    def start(self) -> None:
        if self.status == "queued":
            self.status = "running"
            self.changed.notify_all()

    def finish(self, status: str, result: dict | None, error: dict | None) -> None:
        if self.done:
            return  # cancelled while queued; the worker that picks it up ends it again
        self.status, self.result, self.error = status, result, error
        self.finished = time.time()
        self.changed.notify_all()

    async def wait_for_change(self, seconds: float) -> bool:
        """Wait until an event arrives or the job ends; False when `seconds` pass first."""
        return await self.changed.wait(timeout=timedelta(seconds=seconds))

    def to_dict(self, events: bool = True) -> dict:
        summary = {
            "id": self.id,
            "kind": self.kind,
            "notebook": self.path or (self.options.notebook if self.options else ""),
            "name": self.options.name if self.options else self.target,
            "status": self.status,
            "stage": self.stage,
            "result": self.result,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }
        if events:
            summary["events"] = list(self.events)
        return summary


class JobManager:
    """Queues builds on a small thread pool and keeps each job's record for the handlers."""

    def __init__(self, build: Build, max_builds: int = MAX_BUILDS):
        self._build = build
        self._executor = ThreadPoolExecutor(max_builds, thread_name_prefix="mlcontainer-build")
        self._jobs: dict[str, JobRecord] = {}

    def submit(
        self, options: ExportOptions, kernel_id: str | None = None, path: str = ""
    ) -> JobRecord:
        """Queue a build; call on the event loop thread."""
        kind = "explain" if options.explain else "build"
        return self._queue(JobRecord(options, kernel_id, path, kind=kind))

    def submit_task(
        self, kind: str, target: str, run: Callable[[EventSink], object], source: str = ""
    ) -> JobRecord:
        """Queue engine work other than a build (a push, a deploy, a scale, a rollout, an
        undeploy): `run(on_event)` shares the queue, the event record and cancellation (checked
        at each event) with builds."""

        def work(job: JobRecord, on_event: EventSink):
            def checked(event: ProgressEvent) -> None:
                if job.cancel.is_set():
                    raise JobCancelled(f"The {kind} was cancelled.")
                on_event(event)

            return run(checked)

        return self._queue(JobRecord(None, path=source, kind=kind, target=target, work=work))

    def _queue(self, job: JobRecord) -> JobRecord:
        self._forget_old()
        self._jobs[job.id] = job
        self._executor.submit(self._work, job, IOLoop.current())
        return job

    def get(self, job_id: str) -> JobRecord:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(
                f"No build job {job_id!r} on this server.",
                "Jobs live in the server's memory; a restarted server has forgotten earlier ones.",
            ) from None

    def list(self) -> list[JobRecord]:
        return sorted(self._jobs.values(), key=lambda job: job.created)

    def cancel(self, job_id: str) -> JobRecord:
        """Stop a job: a queued one ends at once; a running one at its next step, leaving no
        container behind (an image it finished building stays)."""
        job = self.get(job_id)
        job.cancel.set()
        if job.status == "queued":
            job.finish("cancelled", None, _error_dict(JobCancelled("The build was cancelled.")))
        return job

    def shutdown(self) -> None:
        for job in self._jobs.values():
            job.cancel.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _forget_old(self) -> None:
        finished = [job for job in self.list() if job.done]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED + 1)]:
            del self._jobs[job.id]

    def _work(self, job: JobRecord, loop: IOLoop) -> None:
        """Runs in a worker thread: every outcome, expected or not, ends the job's record."""
        loop.add_callback(job.start)

        def on_event(event: ProgressEvent) -> None:
            loop.add_callback(job.record, event)

        try:
            if job.cancel.is_set():
                raise JobCancelled("The build was cancelled before it started.")
            result = (job.work or self._build)(job, on_event)
        except JobCancelled as error:
            outcome = ("cancelled", None, _error_dict(error))
        except MLContainerError as error:
            outcome = ("failed", None, _error_dict(error))
        except Exception as error:  # a fault in the pipeline must still end the job
            log.exception("mlcontainer build %s failed unexpectedly", job.id)
            outcome = (
                "failed",
                None,
                {
                    "message": f"The build failed unexpectedly: {type(error).__name__}: {error}",
                    "hint": "The Jupyter server's log has the traceback.",
                    "output": "",
                },
            )
        else:
            outcome = ("succeeded", result.to_dict() if result is not None else None, None)
        loop.add_callback(job.finish, *outcome)


def _error_dict(error: MLContainerError) -> dict:
    return {"message": error.message, "hint": error.hint, "output": getattr(error, "output", "")}


def pipeline_build(config, kernel_manager) -> Build:
    """The real build: state from the job's live kernel when it names one, else a headless run."""
    from ..workflow.build import containerize

    def build(job: JobRecord, on_event: EventSink):
        kernel = None
        if job.kernel_id:
            from ..pipeline.kernels import ClientKernel

            kernel = ClientKernel.from_kernel_manager(
                _running_kernel(kernel_manager, job.kernel_id)
            )
        try:
            return containerize(
                job.options, kernel=kernel, config=config, on_event=on_event, cancel=job.cancel
            )
        finally:
            if kernel is not None:
                kernel.close()

    return build


def _running_kernel(kernel_manager, kernel_id: str):
    try:
        return kernel_manager.get_kernel(kernel_id)
    except KeyError:
        raise CaptureError(
            f"The notebook's kernel {kernel_id} is no longer running.",
            "Start the kernel and run the notebook's cells again, or build without a kernel.",
        ) from None
