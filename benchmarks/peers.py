"""Our image against the servers users would pick instead, serving the same two fitted models.

    python benchmarks/peers.py --make-venv      # once: the peers into /tmp/peers-venv
    python benchmarks/peers.py [--rounds 2] [--duration 3] [--quick]

Models: iris (LogisticRegression) and a 100-tree RandomForestClassifier, each fitted in a
notebook of a few lines and built into our image by the project's own pipeline; the peers
serve the very objects our build captured. Servers: our container, `mlflow models serve`
(--env-manager local), BentoML (plain, and with adaptive batching) and hand-written FastAPI +
uvicorn, each one worker on 127.0.0.1, started and stopped in turn, alternating, per round.
Figures: cold start (process or container start → first correct prediction), idle memory
(PSS summed over the server's processes), and wrk's requests/s and p50/p99 at 1, 16 and 64
clients sending one row and at 4 clients sending 100 rows (rows/s). Prints a Markdown table
of each figure and its ratio to the best peer's, and draws them to docs/images/peers.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cleanup import remove_images  # noqa: E402
from loadgen import run_wrk  # noqa: E402
from notebook_image import IRIS, build_notebook_image  # noqa: E402
from peer_servers import VENV, OurContainer, host_servers, make_venv, venv_commands  # noqa: E402
from peers_chart import draw_peers_chart  # noqa: E402
from process_memory import pss_mb  # noqa: E402

LABELS = {"io.mlcontainer.benchmark": "peers"}
MODELS = {
    "iris": IRIS,
    "forest": """from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

X, y = make_classification(n_samples=2000, n_features=8, n_informative=5, random_state=0)
model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
""",
}
SETTLE_SECONDS = 2  # after the first prediction, before idle memory is read


@dataclass(frozen=True)
class Load:
    label: str
    clients: int
    rows: int

    @property
    def unit(self) -> str:
        return "rows/s" if self.rows > 1 else "req/s"


LOADS = (
    Load("1 client", 1, 1),
    Load("16 clients", 16, 1),
    Load("64 clients", 64, 1),
    Load("4 clients × 100 rows", 4, 100),
)
COLD, MEMORY = "cold start s", "idle PSS MB"


@dataclass
class ModelSetup:
    name: str
    rows: list  # 100 input rows
    expected: list  # the captured model's predictions for them
    servers: list


def prepare(name: str, source: str, work: Path, engine) -> ModelSetup:
    """Build our image from the notebook; give the peers the object the build captured."""
    import joblib

    image = build_notebook_image(source, f"peers-{name}", work, LABELS)
    model_file = work / name / "model.joblib"
    model_file.parent.mkdir()
    shutil.copy(image.context / "artifacts" / "state" / "model.joblib", model_file)
    namespace: dict = {}
    exec(source, namespace)  # the notebook's own data, for rows to send
    rows = namespace["X"][:100].tolist()
    expected = joblib.load(model_file).predict(rows).tolist()
    ours = OurContainer(engine.client, image.tag, LABELS)
    return ModelSetup(name, rows, expected, [ours, *host_servers(model_file, model_file.parent)])


def measure(server, rows: list, expected: list, duration: float) -> dict[str, float]:
    """One start of `server`: its cold start, idle memory, and every load in turn."""
    running = server.start(rows[:1], expected[:1])
    try:
        time.sleep(SETTLE_SECONDS)
        figures = {COLD: running.cold_start_s, MEMORY: pss_mb(running.pids())}
        for load in LOADS:
            result = run_wrk(running.url, server.body(rows[: load.rows]), duration, load.clients)
            if result.errors or not result.requests:  # kept as a failure, not a figure
                print(
                    f"{server.name}: {result.requests} requests, {result.errors} errors at "
                    f"{load.label} in {duration:g} s",
                    file=sys.stderr,
                )
                result.requests_per_second = result.p50_ms = result.p99_ms = math.nan
            figures[f"{load.label} {load.unit}"] = result.requests_per_second * load.rows
            figures[f"{load.label} p50 ms"] = result.p50_ms
            figures[f"{load.label} p99 ms"] = result.p99_ms
    finally:
        running.stop()
    return figures


def higher_is_better(metric: str) -> bool:
    return metric.endswith("/s")


def markdown_table(model: str, medians: dict[str, dict[str, float]]) -> str:
    """Each server's figure and, in brackets, its ratio to the best peer's (ours excluded)."""
    servers = list(medians)
    metrics = list(medians[servers[0]])
    lines = [
        f"| {model} | " + " | ".join(servers) + " |",
        "| --- |" + " ---: |" * len(servers),
    ]
    for metric in metrics:
        peers = [medians[s][metric] for s in servers if s != "mlcontainer"]
        peers = [value for value in peers if not math.isnan(value)] or [math.nan]
        best = max(peers) if higher_is_better(metric) else min(peers)
        cells = [_cell(medians[s][metric], best) for s in servers]
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    """The median of the runs that gave a figure; NaN when none did."""
    figures = [value for value in values if not math.isnan(value)]
    return statistics.median(figures) if figures else math.nan


def _cell(value: float, best: float) -> str:
    if math.isnan(value):
        return "failed"
    return f"{_number(value)} ({value / best:.2f})"


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s runs")
    parser.add_argument("--make-venv", action="store_true", help=f"install the peers into {VENV}")
    parser.add_argument("--chart", type=Path, default=HERE.parent / "docs" / "images" / "peers.png")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args(argv)
    if args.make_venv:
        make_venv()
        return 0
    if not (VENV / "bin" / "bentoml").exists():
        commands = "\n".join(shlex.join(command) for command in venv_commands())
        print(f"The peers run from {VENV}; create it with --make-venv, or:\n{commands}")
        return 2
    rounds, duration = (1, 2) if args.quick else (args.rounds, args.duration)

    from jupyter_mlcontainer.engine import DockerEngine

    engine = DockerEngine()
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    load_before = os.getloadavg()
    try:
        setups = [prepare(name, source, work, engine) for name, source in MODELS.items()]
        runs: dict = {s.name: {server.name: [] for server in s.servers} for s in setups}
        for round_ in range(rounds):
            for setup in setups:
                order = setup.servers if round_ % 2 == 0 else setup.servers[::-1]
                for server in order:
                    figures = measure(server, setup.rows, setup.expected, duration)
                    runs[setup.name][server.name].append(figures)
                    if args.json:  # after every run, so a stopped run keeps what it measured
                        args.json.write_text(json.dumps(runs, indent=1))
    finally:
        remove_images(engine, "io.mlcontainer.benchmark=peers")
        shutil.rmtree(work, ignore_errors=True)
    medians = {
        model: {
            server: {metric: _median([run[metric] for run in runs_]) for metric in runs_[0]}
            for server, runs_ in by_server.items()
        }
        for model, by_server in runs.items()
    }
    print(
        f"{rounds} round(s), {duration:g} s per wrk run, median of rounds; "
        f"1-min load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    for model, by_server in medians.items():
        print()
        print(markdown_table(model, by_server))
    draw_peers_chart(medians, [f"{load.label} {load.unit}" for load in LOADS], args.chart)
    print(f"\nchart: {args.chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
