"""How the capture stage reaches the kernel that holds the notebook's state.

- `InProcessKernel`: the magic runs inside the kernel, so capture is a plain call.
- `ClientKernel`: a running kernel reached through a jupyter_client client (JupyterLab's
  kernel for the notebook, or one that `executed_notebook` started headless).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from ..shared.errors import CaptureError, NotebookError, last_lines
from ..shared.version import __version__
from .capture import capture_state
from .plan import Capture, CaptureRequest

_RESULT_MARK = "__mlcontainer_capture__"
_ERROR_MARK = "__mlcontainer_error__"
#: Terminal colours in the tracebacks a kernel sends.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


class KernelSession(Protocol):
    def capture(self, request: CaptureRequest) -> Capture: ...


class InProcessKernel:
    def __init__(self, namespace: dict):
        self.namespace = namespace

    def capture(self, request: CaptureRequest) -> Capture:
        return capture_state(self.namespace, request)


class ClientKernel:
    """Runs the capture code in a remote kernel and reads its JSON answer from stdout."""

    def __init__(self, client, timeout: float = 600):
        self.client = client
        self.timeout = timeout

    @classmethod
    def from_kernel_manager(cls, kernel_manager, timeout: float = 600) -> ClientKernel:
        client = kernel_manager.blocking_client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
        except RuntimeError as error:
            client.stop_channels()
            raise CaptureError(
                f"The notebook's kernel did not answer: {error}",
                "Restart the kernel, run the notebook's cells, and try again.",
            ) from error
        return cls(client, timeout)

    def capture(self, request: CaptureRequest) -> Capture:
        code = (
            "def __mlcontainer_capture():\n"
            "    import json\n"
            "    from jupyter_mlcontainer.shared.errors import MLContainerError\n"
            "    from jupyter_mlcontainer.pipeline.capture import capture_state\n"
            "    from jupyter_mlcontainer.pipeline.plan import CaptureRequest\n"
            "    try:\n"
            f"        request = CaptureRequest.from_json({json.dumps(request.to_json())})\n"
            "        result = capture_state(globals(), request)\n"
            f"        print({_RESULT_MARK!r} + result.to_json())\n"
            "    except MLContainerError as error:\n"
            "        payload = dict(type=type(error).__name__, message=error.message, hint=error.hint)\n"
            f"        print({_ERROR_MARK!r} + json.dumps(payload))\n"
            "__mlcontainer_capture()\n"
            "del __mlcontainer_capture\n"
        )
        output = self.run(code)
        for line in output.splitlines():
            if line.startswith(_RESULT_MARK):
                return Capture.from_json(line[len(_RESULT_MARK) :])
            if line.startswith(_ERROR_MARK):
                error = json.loads(line[len(_ERROR_MARK) :])
                raise CaptureError(error["message"], error["hint"])
        raise CaptureError("The kernel gave no capture result.", output[-2000:])

    def run(self, code: str) -> str:
        """Execute `code` without touching the notebook's history; return what it printed."""
        chunks: list[str] = []
        failure: list[dict] = []

        def collect(message):
            content = message["content"]
            if message["msg_type"] == "stream" and content.get("name") == "stdout":
                chunks.append(content["text"])
            elif message["msg_type"] == "error":
                failure.append(content)

        try:
            self.client.execute_interactive(
                code, silent=False, store_history=False, output_hook=collect, timeout=self.timeout
            )
        except TimeoutError as error:
            raise CaptureError(f"The kernel did not answer within {self.timeout:.0f} s.") from error
        if failure:
            raise kernel_failure(failure[0])
        return "".join(chunks)

    def close(self) -> None:
        self.client.stop_channels()


def kernel_failure(error: dict) -> CaptureError:
    """The error for an exception the capture code raised in the kernel (a kernel `error`
    message's content). Only a kernel without the package is told to install it."""
    raised = f"{error['ename']}: {error['evalue']}"
    traceback = _ANSI.sub("", "\n".join(error.get("traceback", [])))
    missing = _MISSING_MODULE.fullmatch(error["evalue"])
    module = missing.group(1) if missing and error["ename"] == "ModuleNotFoundError" else ""
    if module.split(".")[0] == "jupyter_mlcontainer":
        return CaptureError(
            f"The notebook's kernel cannot import {module}: jupyter-mlcontainer is missing "
            "from the kernel's environment, or is another version there.",
            f"Install jupyter-mlcontainer {__version__} (the version that builds) in the "
            "kernel's environment, the Python that runs the notebook, or choose a kernel "
            "that has it.",
        )
    return CaptureError(
        f"Capturing the notebook's state failed in the kernel: {raised}",
        "Nothing was built. The traceback shows where it failed; if that is inside "
        "jupyter_mlcontainer, please report it with the traceback.",
        output=last_lines(traceback, 25),
    )


@contextmanager
def executed_notebook(path: str | Path, timeout: float = 600) -> Iterator[ClientKernel]:
    """Run every cell of the notebook headless (nbclient, a kernel of this environment, in the
    notebook's folder) and keep the kernel alive for capture; shut it down afterwards."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path).resolve()
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    kernel = None
    try:
        with client.setup_kernel(cwd=str(path.parent)):
            try:
                for index, cell in enumerate(notebook.cells):
                    client.execute_cell(cell, index)
            except CellExecutionError as error:
                raise NotebookError(
                    f"Running {path.name} failed in cell {index}:\n{last_lines(str(error))}",
                    "Fix the cell (or run the notebook in Jupyter to see the error) and try again.",
                ) from error
            kernel = ClientKernel(client.km.blocking_client(), timeout)
            kernel.client.start_channels()
            yield kernel
    finally:
        if kernel is not None:
            kernel.close()
