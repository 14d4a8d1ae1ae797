"""The peers benchmark as bars: for each model, one panel per figure and a bar per server.

Each model gets its own panels, since a forest and a linear model differ twentyfold in speed
and would flatten each other on a shared axis.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OURS, PEER = "#2b7bba", "#9a9a9a"


def draw_peers_chart(medians: dict, throughputs: list[str], path: Path) -> None:
    """`medians`: model → server → metric → value. Throughputs first, then p50 at the
    quietest and p99 at the busiest single-row load, cold start and idle memory."""
    single_row = [m.removesuffix(" req/s") for m in throughputs if m.endswith("req/s")]
    latencies = [f"{single_row[0]} p50 ms", f"{single_row[-1]} p99 ms"]
    panels = [*throughputs, *latencies, "cold start s", "idle PSS MB"]
    columns = 4
    rows_per_model = -(-len(panels) // columns)
    figure, axes = plt.subplots(
        rows_per_model * len(medians), columns, figsize=(15, 3.2 * rows_per_model * len(medians))
    )
    for m, (model, by_server) in enumerate(medians.items()):
        servers = list(by_server)
        colors = [OURS if server == "mlcontainer" else PEER for server in servers]
        for p, metric in enumerate(panels):
            axis = axes[m * rows_per_model + p // columns][p % columns]
            values = [by_server[server][metric] for server in servers]
            bars = axis.bar(range(len(servers)), values, color=colors)
            axis.bar_label(bars, [_short(v) for v in values], fontsize=7)
            axis.set_xticks(range(len(servers)), servers, rotation=20, fontsize=7)
            better = "higher" if metric.endswith("/s") else "lower"
            axis.set_title(f"{model}: {metric} ({better} is better)", fontsize=9)
            axis.tick_params(axis="y", labelsize=7)
            axis.margins(y=0.15)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _short(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
