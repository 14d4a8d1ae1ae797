"""The latency histogram of a load test and the drift histograms, drawn as PNGs for an ipywidgets
Image.

Uses matplotlib's object API with the Agg canvas, never pyplot, so drawing in a thread neither
touches the notebook's inline backend nor leaves figures open.
"""

from __future__ import annotations

import io

from .loadtest import LoadTestResult


def latency_histogram_png(result: LoadTestResult, width: float = 6.0, height: float = 2.6) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    latencies = result.latencies_ms
    if latencies:
        axes.hist(latencies, bins=min(40, max(5, len(latencies) // 5)), color="#4c78a8")
        for value, name, style in ((result.p50, "p50", "--"), (result.p99, "p99", ":")):
            axes.axvline(value, color="#e45756", linestyle=style, linewidth=1.5)
            axes.annotate(
                f"{name} {value:.1f} ms",
                (value, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                fontsize=8,
                color="#e45756",
            )
    else:
        axes.text(
            0.5, 0.5, "no successful requests", ha="center", va="center", transform=axes.transAxes
        )
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("requests")
    axes.set_title(f"{result.ok} requests, {result.requests_per_second:.1f} req/s", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def drift_png(report: dict, features: list) -> bytes:
    """Training's share per bin against live traffic's for `features` (the worst first), the
    figure `inst.drift()` plots, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..traffic import drift_figure

    figure = drift_figure(report, features)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
