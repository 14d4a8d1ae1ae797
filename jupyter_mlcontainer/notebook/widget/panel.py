"""A panel to try a running instance from the notebook: send requests, check parity with the
kernel's own model, run a small load test, see how live inputs drift from training, read logs,
stop it.

Logic lives in plain methods (`send`, `check_parity`, `load_test`, `show_drift`, ...) that tests
and scripts call directly; the buttons run them in a thread so the kernel stays responsive.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable

import ipywidgets as widgets

from ...running.client import ServingClient
from ...runtime.parity import ParityReport, compare
from ...shared.errors import InstanceUnreachable, MLContainerError
from ..traffic import drift_frame
from .histogram import drift_png, latency_histogram_png
from .loadtest import MAX_CONCURRENCY, MAX_REQUESTS, LoadTestResult, run_load_test

GREEN, AMBER, RED, GREY = "#2e7d32", "#b26a00", "#c62828", "#757575"
MAX_ROWS_SHOWN = 20

Reference = Callable[[dict], object]


class TestPanel(widgets.VBox):
    """`TestPanel(url, sample, reference, instance)`.

    sample: a request body ({"instances": ...}) or sample.json's {"request", "expected"}; None
    asks the instance's /metadata for its sample. reference: request body → the kernel's own
    predictions for it, for the parity check. instance: anything with `logs()` and `stop()`
    (a `ServingInstance`), which enables the Logs and Stop buttons.
    """

    __test__ = False  # a widget, not a pytest test class

    def __init__(
        self,
        url: str,
        sample: dict | None = None,
        reference: Reference | None = None,
        instance=None,
        timeout: float = 30.0,
        poll_seconds: float = 2.0,
        poll_limit: int = 300,
    ):
        self.url = url.rstrip("/")
        self.client = ServingClient(self.url, timeout=timeout)
        self.instance = instance
        self.reference = reference
        self.poll_seconds = poll_seconds
        self.poll_limit = poll_limit
        request, expected = _split_sample(sample)
        self.sample_request, self.sample_expected = request, expected
        self._task: threading.Thread | None = None
        self._polling: threading.Thread | None = None
        self._stop_polling = threading.Event()
        self.stopped = False
        self._build_widgets(request)
        if sample is None:
            self._run(self.load_sample)

    # -- layout ------------------------------------------------------------------------

    def _build_widgets(self, request) -> None:
        self.health = widgets.HTML(_dot(GREY, "not checked"))
        self.refresh_button = _button("", "refresh", "Check /ready now", self.refresh_health)
        self.editor = widgets.Textarea(
            value=_pretty(request) if request is not None else "",
            placeholder='{"instances": [...]}',
            layout=widgets.Layout(width="100%", height="180px"),
        )
        self.response = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.message = widgets.HTML()
        self.send_button = _button("Send", "paper-plane", "POST the request to /predict", self.send)
        self.parity_button = _button(
            "Check parity",
            "check",
            "Compare the container's answer with the kernel's model",
            self.check_parity,
        )
        self.requests_input = widgets.BoundedIntText(
            200,
            min=1,
            max=MAX_REQUESTS,
            description="requests",
            layout=widgets.Layout(width="170px"),
        )
        self.concurrency_input = widgets.BoundedIntText(
            4,
            min=1,
            max=MAX_CONCURRENCY,
            description="concurrency",
            layout=widgets.Layout(width="170px"),
        )
        self.load_button = _button(
            "Load test", "tachometer", "Send the request N times at concurrency C", self.load_test
        )
        self.drift_button = _button(
            "Drift",
            "bar-chart",
            "How live inputs drift from the training data (GET /drift)",
            self.show_drift,
        )
        self.logs_button = _button(
            "Logs", "file-text", "Show the container's last log lines", self.show_logs
        )
        self.stop_button = _button("Stop", "stop", "Stop and remove the container", self.stop)
        self.stop_button.button_style = "danger"
        for button in (self.logs_button, self.stop_button):
            button.disabled = self.instance is None
        self.parity = widgets.HTML()
        self.load_summary = widgets.HTML()
        self.histogram = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self.drift_table = widgets.HTML()
        self.drift_table.add_class("mlcontainer-drift-view")
        self.drift_plot = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self.drift_plot.add_class("mlcontainer-drift-plot")
        self.logs = widgets.Textarea(
            disabled=True, layout=widgets.Layout(width="100%", height="200px", display="none")
        )
        self._actions = [
            self.send_button,
            self.parity_button,
            self.load_button,
            self.drift_button,
            self.logs_button,
            self.stop_button,
        ]
        for button in self._actions + [self.refresh_button]:
            button.on_click(lambda _, method=button._method: self._run(method))
        header = widgets.HBox(
            [widgets.HTML(f"<b>{html.escape(self.url)}</b>"), self.health, self.refresh_button],
            layout=widgets.Layout(align_items="center", justify_content="flex-start"),
        )
        exchange = widgets.HBox(
            [
                widgets.VBox(
                    [widgets.HTML("<b>Request</b> (JSON)"), self.editor],
                    layout=widgets.Layout(width="50%", margin="0 12px 0 0"),
                ),
                widgets.VBox(
                    [widgets.HTML("<b>Response</b>"), self.response],
                    layout=widgets.Layout(width="50%"),
                ),
            ],
        )
        actions = widgets.HBox(
            [
                self.send_button,
                self.parity_button,
                self.requests_input,
                self.concurrency_input,
                self.load_button,
                self.drift_button,
                self.logs_button,
                self.stop_button,
            ],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        actions.add_class("mlcontainer-actions")
        super().__init__(
            [
                header,
                exchange,
                actions,
                self.message,
                self.parity,
                self.load_summary,
                self.histogram,
                self.drift_table,
                self.drift_plot,
                self.logs,
            ],
            layout=widgets.Layout(border="1px solid #ddd", padding="8px"),
        )
        self.add_class("mlcontainer-test-panel")  # for browser tests

    # -- running work off the kernel's thread ---------------------------------------------

    def _run(self, method) -> None:
        """Run one action in a thread; one at a time, the buttons disabled meanwhile."""
        if self._task is not None and self._task.is_alive():
            self._say("busy: wait for the current action to finish", AMBER)
            return
        self._task = threading.Thread(
            target=self._guarded, args=(method,), name="mlcontainer-panel", daemon=True
        )
        self._task.start()

    def _guarded(self, method) -> None:
        enabled = [button for button in self._actions if not button.disabled]
        for button in enabled:
            button.disabled = True
        try:
            method()
        except MLContainerError as error:
            self._say(error.message + (f" {error.hint}" if error.hint else ""), RED)
        except Exception as error:  # noqa: BLE001 - shown in the panel: a thread has no one else to tell
            self._say(f"{type(error).__name__}: {error}", RED)
        finally:
            for button in enabled:
                button.disabled = self.stopped  # a stopped instance has nothing left to try

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the running action (if any) ends: for tests and scripts."""
        if self._task is not None:
            self._task.join(timeout)
            if self._task.is_alive():
                raise TimeoutError(f"the panel's action did not finish within {timeout:g} s")

    def _say(self, text: str, color: str = "inherit") -> None:
        self.message.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    # -- health --------------------------------------------------------------------------

    def refresh_health(self) -> str:
        """Ask /ready once; returns and shows "ready", "not ready" or "down"."""
        try:
            answer = self.client.ready()
        except InstanceUnreachable:
            state, color, detail = "down", RED, "nothing answers"
        else:
            if answer.ok:
                state, color, detail = "ready", GREEN, f"{answer.latency_ms:.0f} ms"
            else:
                state, color, detail = "not ready", AMBER, answer.error or str(answer.status)
        self.health.value = _dot(color, f"{state} ({detail})")
        return state

    def _repr_mimebundle_(self, **kwargs):
        self.start_polling()
        return super()._repr_mimebundle_(**kwargs)

    def start_polling(self) -> None:
        """Poll /ready every `poll_seconds`, at most `poll_limit` times, until closed or stopped."""
        if self._polling is not None and self._polling.is_alive():
            return
        self._stop_polling.clear()
        self._polling = threading.Thread(target=self._poll, name="mlcontainer-health", daemon=True)
        self._polling.start()

    def _poll(self) -> None:
        for _ in range(self.poll_limit):
            self.refresh_health()
            if self._stop_polling.wait(self.poll_seconds):
                return
        self.health.value += f' <span style="color:{GREY}">(no longer polled: click refresh)</span>'

    def close(self) -> None:
        self._stop_polling.set()
        super().close()

    # -- actions -------------------------------------------------------------------------

    def load_sample(self) -> None:
        """Fill the editor with the sample the instance itself advertises in /metadata."""
        answer = self.client.metadata()
        sample = answer.body.get("sample") if answer.ok and isinstance(answer.body, dict) else None
        if sample is not None and not self.editor.value.strip():
            self.sample_request = sample
            self.editor.value = _pretty(sample)

    def request_body(self) -> dict:
        try:
            return json.loads(self.editor.value)
        except ValueError as error:
            raise MLContainerError(
                f"The request is not valid JSON: {error}.",
                'Write e.g. {"instances": [[5.1, 3.5, 1.4, 0.2]]}.',
            ) from error

    def send(self):
        """POST the editor's request to /predict and show status, body and latency."""
        answer = self.client.predict(self.request_body())
        color = GREEN if answer.ok else RED
        text = f"{answer.status} in {answer.latency_ms:.1f} ms" + (
            f": {answer.error}" if answer.error else ""
        )
        self._say(text, color)
        body = answer.body if isinstance(answer.body, str) else _pretty(answer.body)
        self.response.value = (
            f'<div style="color:{color}"><b>{answer.status}</b> · {answer.latency_ms:.1f} ms</div>'
            f'<pre style="margin:0;max-height:180px;overflow:auto">{html.escape(body)}</pre>'
        )
        return answer

    def check_parity(self) -> ParityReport:
        """Send the request and compare the container's predictions, row by row, with the kernel's."""
        request = self.request_body()
        expected = self._expected(request)
        answer = self.send()
        actual = (
            answer.body.get("predictions") if answer.ok and isinstance(answer.body, dict) else None
        )
        if actual is None:
            self.parity.value = _verdict(
                False, f"the instance answered {answer.status}: {answer.error or 'no predictions'}"
            )
            return ParityReport([], False)
        report = compare(expected, actual)
        self.parity.value = _parity_html(report)
        return report

    def _expected(self, request: dict):
        if self.reference is not None:
            try:
                return json.loads(json.dumps(self.reference(request)))
            except Exception as error:
                raise MLContainerError(
                    f"The kernel's model failed on this request: {type(error).__name__}: {error}"
                ) from error
        if self.sample_expected is not None and request == self.sample_request:
            return self.sample_expected.get("predictions")
        raise MLContainerError(
            "There is nothing to compare with: this panel has no reference model.",
            "Open it from %containerize, or pass reference=, or send the unchanged sample.",
        )

    def load_test(self) -> LoadTestResult:
        """Send the request N times at concurrency C; show req/s, p50/p99 and a histogram."""
        request = self.request_body()
        self._say(
            f"load test: {self.requests_input.value} requests at concurrency {self.concurrency_input.value}…"
        )
        result = run_load_test(
            self.url, request, self.requests_input.value, self.concurrency_input.value
        )
        color = GREEN if result.ok and not result.errors else (AMBER if result.ok else RED)
        self.load_summary.value = (
            f'<span style="color:{color}">{html.escape(result.summary())}</span>'
        )
        self.histogram.value = latency_histogram_png(result)
        self.histogram.layout.display = None
        self._say("load test done")
        return result

    def show_drift(self):
        """Ask the instance's /drift; show each feature's PSI against training (the worst
        first, those above the instance's threshold marked drifting) and training's shares
        beside live traffic's for the worst features. Returns drift_frame's DataFrame, or None
        when the image has no data contract (the instance's message is shown)."""
        answer = self.client.drift()
        if answer.status == 404:
            self.drift_table.value = (
                f'<div style="color:{AMBER}">No drift to show: {html.escape(answer.error)}</div>'
            )
            self.drift_plot.layout.display = "none"
            return None
        if not answer.ok or not isinstance(answer.body, dict):
            raise MLContainerError(
                f"GET /drift answered {answer.status}: {answer.error or 'not a drift report'}",
                "Check the instance's health and logs.",
            )
        report = answer.body
        frame = drift_frame(report)
        self.drift_table.value = _drift_html(frame, report)
        observed = frame.loc[frame["rows"] > 0, "feature"].tolist()
        if observed:
            self.drift_plot.value = drift_png(report, observed)
            self.drift_plot.layout.display = None
        else:
            self.drift_plot.layout.display = "none"
        drifting = int(frame["drifting"].sum())
        self._say(
            f"drift: {drifting} of {len(frame)} drifting" if drifting else "drift: none",
            RED if drifting else GREEN,
        )
        return frame

    def show_logs(self) -> str:
        text = self.instance.logs()
        self.logs.value = text
        self.logs.layout.display = None
        return text

    def stop(self) -> None:
        self.instance.stop()
        self.stopped = True
        self._stop_polling.set()
        self.health.value = _dot(GREY, "stopped")
        self._say(f"stopped {getattr(self.instance, 'name', self.url)}")


def _split_sample(sample):
    """(request, expected) from a request body or sample.json's {"request", "expected"}."""
    if isinstance(sample, dict) and "request" in sample:
        return sample["request"], sample.get("expected")
    return sample, None


def _button(description: str, icon: str, tooltip: str, method) -> widgets.Button:
    button = widgets.Button(
        description=description, icon=icon, tooltip=tooltip, layout=widgets.Layout(width="auto")
    )
    button._method = method
    return button


def _pretty(value) -> str:
    return json.dumps(value, indent=2)


def _dot(color: str, text: str) -> str:
    return f'<span style="color:{color}">●</span> {html.escape(text)}'


def _verdict(passed: bool, text: str) -> str:
    color, word = (GREEN, "PASS") if passed else (RED, "FAIL")
    return f'<div><b style="color:{color}">Parity {word}</b>: {html.escape(text)}</div>'


def _parity_html(report: ParityReport) -> str:
    failed = [row for row in report.rows if not row.ok]
    total = len(report.rows)
    if report.passed:
        return _verdict(True, f"all {total} rows match the kernel's model")
    cells = "".join(
        f"<tr><td>{row.index}</td><td><code>{html.escape(_short(row.expected))}</code></td>"
        f"<td><code>{html.escape(_short(row.actual))}</code></td><td>{html.escape(row.detail)}</td></tr>"
        for row in failed[:MAX_ROWS_SHOWN]
    )
    more = (
        f"<div>… and {len(failed) - MAX_ROWS_SHOWN} more</div>"
        if len(failed) > MAX_ROWS_SHOWN
        else ""
    )
    return (
        _verdict(False, f"{len(failed)} of {total} rows differ from the kernel's model")
        + "<table><tr><th>row</th><th>kernel</th><th>container</th><th>difference</th></tr>"
        + cells
        + "</table>"
        + more
    )


def _drift_html(frame, report: dict) -> str:
    """The PSI table, the worst first: feature, PSI, rows, and a mark on those drifting."""
    threshold = report.get("drifting_above", 0.2)
    window = report.get("window_rows", 0)
    if not window:
        head = "No traffic yet: send requests, then look again."
    else:
        head = (
            f"Drift from training over the last {window} rows (it keeps at most "
            f"{report.get('window_limit', window)}); PSI above {threshold:g} is drifting."
        )
    cell = 'style="padding:1px 10px 1px 0;text-align:{}"'
    left, right = cell.format("left"), cell.format("right")
    cells = "".join(
        f'<tr data-testid="mlcontainer-drift-feature" data-feature="{html.escape(str(row.feature))}"'
        f' data-drifting="{str(bool(row.drifting)).lower()}">'
        f"<td {left}><code>{html.escape(str(row.feature))}</code></td>"
        f"<td {right}>{row.psi:.3f}</td><td {right}>{row.rows}</td>"
        + (f'<td {left}><b style="color:{RED}">drifting</b></td>' if row.drifting else "<td></td>")
        + "</tr>"
        for row in frame.itertuples()
    )
    return (
        f"<div><b>Data drift</b>: {html.escape(head)}</div>"
        f'<table style="border-collapse:collapse"><tr><th {left}>feature</th>'
        f"<th {right}>PSI</th><th {right}>rows</th><th></th></tr>" + cells + "</table>"
    )


def _short(value, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
