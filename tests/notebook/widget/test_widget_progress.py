"""The notebook's build progress: the bar follows stages and build steps, failures show output."""

from __future__ import annotations

from jupyter_mlcontainer.notebook.widget.progress import STAGES, BuildProgress
from jupyter_mlcontainer.shared.errors import BuildFailed, CaptureError
from jupyter_mlcontainer.shared.events import ProgressEvent


def test_the_bar_follows_stages_and_build_steps():
    progress = BuildProgress("Containerizing clf")
    progress(ProgressEvent("stage", "Analysing iris.ipynb", "analyse"))
    assert progress.bar.value == 0 and "Analysing iris.ipynb" in progress.status.value
    progress(ProgressEvent("stage", "Building", "build"))
    assert progress.bar.value == STAGES.index("build")
    progress(ProgressEvent("step", "COPY app /srv/app", "build", step=3, total=4))
    assert progress.bar.value == STAGES.index("build") + 0.75
    assert "[3/4]" in progress.status.value
    progress(ProgressEvent("log", "Successfully built", "build"))
    progress.finish("http://127.0.0.1:5000 parity PASS")
    assert progress.bar.value == progress.bar.max and progress.bar.bar_style == "success"
    assert "    Successfully built" in progress.log_view.value
    assert progress.accordion.selected_index is None  # the log stays collapsed on success


def test_a_failed_step_shows_its_output_and_opens_the_log():
    progress = BuildProgress()
    progress(ProgressEvent("step", "RUN pip install", "build", step=2, total=5))
    progress(ProgressEvent("log", "ERROR: No matching distribution for nosuchpkg", "build"))
    progress.fail(BuildFailed("Step 2/5 failed: RUN pip install", "Read the output above."))
    assert progress.bar.bar_style == "danger" and progress.accordion.selected_index == 0
    assert (
        "Step 2/5 failed" in progress.error.value
        and "Read the output above." in progress.error.value
    )
    assert "Output of the failing step" in progress.error.value
    assert "No matching distribution for nosuchpkg" in progress.error.value


def test_a_failure_prefers_the_errors_own_output_and_escapes_html():
    progress = BuildProgress()
    progress(ProgressEvent("log", "earlier line", "build"))
    progress.fail(BuildFailed("build failed", output="<b>step output</b>"))
    assert "&lt;b&gt;step output&lt;/b&gt;" in progress.error.value
    assert "earlier line" not in progress.error.value


def test_warnings_and_cancellation_are_visible():
    progress = BuildProgress()
    progress(ProgressEvent("warning", "requirements.txt pins numpy<2", "environment"))
    assert "warning: requirements.txt pins numpy&lt;2" in progress.error.value
    progress.fail(CaptureError("No sample input.", "Pass --sample"))
    assert "No sample input." in progress.error.value
    progress.cancelled()
    assert progress.bar.bar_style == "warning" and "cancelled" in progress.status.value
