"""`%containerize`: the pipeline from inside the kernel that holds the model.

State is captured from the kernel's memory (no re-execution); the code slice comes from the
saved notebook file. The build runs in a thread while the magic waits, so the kernel's stop
button cancels it cleanly. Load it with `%load_ext jupyter_mlcontainer`.
"""

from __future__ import annotations

import difflib
import inspect
import os
import threading
from datetime import datetime
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..pipeline.plan import ExportOptions
from ..running.tokens import shown_once
from ..shared.errors import JobCancelled, MLContainerError, NotebookError, NotebookNotFound
from ..shared.events import ProgressEvent
from ..shared.terminal import TerminalProgress
from ..workflow.options import argparse_arguments, options_from
from ..workflow.replace import summary as replacement_summary
from .instance import ServingInstance

#: How many of the kernel's latest inputs are checked against the saved notebook.
RECENT_INPUTS = 20
#: How long a cancelled build may take to reach a point where it can stop.
CANCEL_WAIT_SECONDS = 300


def derived_arguments(leave_out: tuple = ()):
    """IPython `@argument` decorators for the build options `ExportOptions` declares."""

    def decorate(function):
        for flags, kwargs in reversed(argparse_arguments(ExportOptions, leave_out)):
            function = argument(*flags, **kwargs)(function)
        return function

    return decorate


@magics_class
class ContainerizeMagics(Magics):
    @magic_arguments()
    @argument(
        "target",
        nargs="?",
        metavar="VAR",
        help="a model variable (served as VAR.<method>(inputs)) or a function to serve",
    )
    @derived_arguments(leave_out=("run",))
    @argument("--no-run", action="store_true", help="build the image but do not start an instance")
    @argument(
        "--notebook",
        metavar="PATH",
        help="the notebook file to slice (default: this kernel's notebook)",
    )
    @line_magic
    def containerize(self, line: str = ""):
        """Build a serving container from the live kernel and start it.

        `inst = %containerize clf` returns a ServingInstance: inst.url, inst.predict(X),
        inst.logs(), inst.stop(). With --no-run it returns the BuildResult. With --explain it
        shows the slice report (what would go into the image and why) and builds nothing.
        """
        args = parse_argstring(self.containerize, line)
        for key, value in vars(args).items():
            unquoted = [_unquote(v) for v in value] if isinstance(value, list) else _unquote(value)
            setattr(args, key, unquoted)
        try:
            return self._containerize(args)
        except MLContainerError as error:
            raise _briefly(error) from None

    def _containerize(self, args):
        namespace = self.shell.user_ns
        model, entry = _resolve_target(namespace, args.target or args.model, args.entry)
        notebook = find_notebook(namespace, args.notebook)
        note = saved_version_note(self.shell, notebook)
        if note:
            print(note)
        values = {**vars(args), "model": model, "entry": entry}
        return self._build(
            options_from(ExportOptions, values, notebook=str(notebook), run=not args.no_run)
        )

    def _build(self, options: ExportOptions):
        from ..pipeline.kernels import InProcessKernel

        title = f"Containerizing {options.model or options.entry or 'predict'}"
        progress, show = _progress_sink(self.shell, title)
        try:
            result = run_cancellable(options, InProcessKernel(self.shell.user_ns), progress)
        except JobCancelled:
            progress.cancelled()
            raise
        except BaseException as error:
            progress.fail(error)
            raise
        if options.explain:
            progress.finish("explained; nothing was built")
            _show_report(self.shell, result.report)
            return None
        if result.instance is None:
            progress.finish(f"built {result.tag} ({result.size / 1e6:.0f} MB)")
            return result
        verdict = "parity PASS" if result.parity and result.parity.passed else "parity FAIL"
        progress.finish(f"{result.instance.name} at {result.instance.url}, {verdict}")
        if result.replacement:
            print(replacement_summary(result.replacement))
        if result.token:
            print(shown_once(result.token))
        print(drift_line(result.tag))  # a deployment's instance is its front: ask the image
        reference = live_reference(self.shell.user_ns, Path(result.context))
        instance = ServingInstance(
            result.instance,
            sample=result.sample,
            reference=reference,
            rebuild=lambda: self._build(options),
            namespace=self.shell.user_ns,
        )
        if show:
            show(instance.panel())
        return instance


def drift_line(name: str) -> str:
    """One line saying whether the image (or the instance `name`'s) matches the notebook on
    disk and the kernel's packages (it may not: an unsaved notebook, a package installed
    mid-build)."""
    from ..engine import open_engine
    from ..trust.provenance import check_image

    try:
        report = check_image(open_engine(), name)
    except MLContainerError as error:
        return f"drift check: could not check {name}: {error.message}"
    details = "".join(f"\n  - {line}" for line in report.details())
    return f"drift check: {report.summary()}{details}"


def run_cancellable(options: ExportOptions, kernel, on_event):
    """Run `containerize` in a worker thread; a KeyboardInterrupt (the kernel's stop button)
    cancels it, waits for it to stop and raises JobCancelled with nothing left running."""
    from ..workflow.build import containerize

    cancel = threading.Event()
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = containerize(
                options, kernel=kernel, on_event=on_event, cancel=cancel
            )
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
            outcome["error"] = error

    worker = threading.Thread(target=work, name="mlcontainer-build", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        on_event(ProgressEvent("warning", "Cancelling: waiting for the current step to stop"))
        _wait_through_interrupts(worker)
    if cancel.is_set():
        result = outcome.get("result")
        if result is not None and result.instance is not None:  # it finished as we cancelled
            ServingInstance(result.instance).stop()
        if worker.is_alive():
            raise JobCancelled(
                f"The build was cancelled but did not stop within {CANCEL_WAIT_SECONDS} s.",
                "Check `jupyter mlcontainer ls` for anything it left behind.",
            )
        raise JobCancelled("The build was cancelled; nothing was left running.")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _wait_through_interrupts(worker: threading.Thread) -> None:
    """Wait for the worker even if the stop button is pressed again: leaving it would strand
    a half-made container."""
    deadline = threading.Event()
    timer = threading.Timer(CANCEL_WAIT_SECONDS, deadline.set)
    timer.start()
    try:
        while worker.is_alive() and not deadline.is_set():
            try:
                worker.join(0.2)
            except KeyboardInterrupt:
                continue
    finally:
        timer.cancel()


def _resolve_target(namespace: dict, target: str | None, entry: str | None):
    """(model, entry) for ExportOptions; names must exist in the kernel."""
    if target and entry:
        raise UsageError("Give a model variable or --entry FUNCTION, not both.")
    for name in (target, entry):
        if name and name not in namespace:
            raise UsageError(
                f"{name!r} is not defined in this kernel.{_close_matches(namespace, name)}"
            )
    if entry:
        if not callable(namespace[entry]):
            raise UsageError(
                f"--entry {entry} is a {type(namespace[entry]).__name__}, not a function."
            )
        return None, entry
    if target and (inspect.isfunction(namespace[target]) or inspect.isbuiltin(namespace[target])):
        return None, target
    return target, None


def _unquote(value):
    """IPython's argument splitter keeps quotes ("X_test[:5]"); strip one matching pair."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _close_matches(namespace: dict, name: str) -> str:
    names = [
        key
        for key in namespace
        if not key.startswith("_") and key not in ("In", "Out", "exit", "quit")
    ]
    matches = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


def find_notebook(namespace: dict, explicit: str | None = None) -> Path:
    """The notebook file this kernel runs: --notebook, else what Jupyter told the kernel."""
    given = explicit or namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not given or not str(given).endswith(".ipynb"):
        raise NotebookError(
            "Cannot tell which notebook this kernel runs.",
            "Pass it: %containerize clf --notebook path/to/notebook.ipynb",
        )
    path = Path(given).expanduser()
    if not path.is_file():
        raise NotebookNotFound(
            f"There is no notebook at {path}.", "Save the notebook, or pass --notebook PATH."
        )
    return path


def saved_version_note(shell, path: Path) -> str | None:
    """A warning when the kernel ran code that the saved file lacks: the slice comes from the
    file, so the user should know which version it used."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    saved = {
        shell.transform_cell(cell.source).strip()
        for cell in notebook.cells
        if cell.cell_type == "code"
    }
    executed = [
        source.strip() for source in list(shell.user_ns.get("In", []))[1:-1] if source.strip()
    ]
    if all(source in saved for source in executed[-RECENT_INPUTS:]):
        return None
    saved_at = datetime.fromtimestamp(path.stat().st_mtime).strftime("%H:%M")
    return f"The notebook has unsaved changes; used the version saved at {saved_at}."


def live_reference(namespace: dict, context: Path):
    """request body → the kernel's own predictions, computed on exactly the input the
    container builds from that body (the runtime's own conversion, serving.json's schema)."""
    from ..runtime.convert import extract, make_converter, to_jsonable
    from ..runtime.spec import SERVING_SPEC, ServingSpec

    serving = ServingSpec.from_json((context / SERVING_SPEC).read_text(encoding="utf-8"))
    convert = make_converter(serving.input)

    def reference(request: dict):
        call = serving.entry.resolve(namespace.__getitem__)
        return to_jsonable(call(convert(*extract(request))))

    return reference


class _TerminalBuild(TerminalProgress):
    """BuildProgress's interface as terminal lines, for IPython outside a kernel."""

    def finish(self, message: str) -> None:
        self(ProgressEvent("done", message))

    def fail(self, error: BaseException) -> None:
        """IPython shows the error itself."""

    def cancelled(self) -> None:
        self(ProgressEvent("done", "cancelled"))


def _progress_sink(shell, title: str):
    """A widget where a frontend can draw one (a kernel), else terminal lines."""
    if getattr(shell, "kernel", None) is None:
        return _TerminalBuild(), None
    from IPython.display import display

    from .widget import BuildProgress

    progress = BuildProgress(title)
    display(progress)
    return progress, display


def _show_report(shell, report) -> None:
    """The slice report in the cell: Markdown where a frontend draws it, text elsewhere."""
    if getattr(shell, "kernel", None) is None:
        print(report.text(), end="")
        return
    from IPython.display import display

    display(report)


def _briefly(error: MLContainerError) -> MLContainerError:
    """Show the error's message and hint instead of a traceback through the magic's threads."""
    error._render_traceback_ = lambda: [f"\x1b[0;31m{type(error).__name__}\x1b[0m: {error}"]
    return error


def load_ipython_extension(ipython=None) -> None:
    if ipython is None:
        raise MLContainerError(
            "%containerize needs IPython: there is no IPython shell here.",
            "Run it in a Jupyter notebook (or IPython), or use `jupyter mlcontainer build` "
            "from a terminal.",
        )
    ipython.register_magics(ContainerizeMagics)
