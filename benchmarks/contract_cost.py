"""What the data contract and drift cost a server: throughput with them against without, and
memory after many requests.

    python benchmarks/contract_cost.py [--duration 5] [--rounds 2] [--memory-requests 1000000]

The runtime runs on the host from serving roots laid out as a build lays them out (iris and a
100-tree forest: benchmarks/serving_stack.py), with the contract the build would measure on
their training data in `artifacts/contract.json`. Three variants, alternating, `rounds` times
each, 16 clients sending one row per request (wrk, 127.0.0.1 only):
- none: no contract (an image built before it existed): nothing is checked or counted;
- drift: the contract with MLCONTAINER_CONTRACT=off, so only the drift histograms count;
- enforce: the default, the check and the drift histograms.
Then each part's cost per one-row request is timed in this process, where no network or
scheduling noise reaches it (reading the request's columns, the check, the drift histograms),
and set against the time a request takes at the `none` throughput measured above. Then the
enforce server of iris answers `--memory-requests` requests and its resident memory is read
before and after.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import timeit
from functools import partial
from pathlib import Path

from build_and_serve import stop
from loadgen import run_wrk
from serving_stack import REPO, fitted_models, serve, serving_root  # noqa: I001 (sets sys.path)

from jupyter_mlcontainer.pipeline.profile import training_contract

VARIANTS = {"none": None, "drift": "off", "enforce": "enforce"}
CONCURRENCY = 16


def roots(work: Path) -> dict:
    """model → (serving root with its contract, one-row request body)."""
    made = {}
    for name, (model, features) in fitted_models().items():
        root = serving_root(work / name, REPO / "jupyter_mlcontainer" / "runtime", model, features)
        contract = training_contract(features, model.predict_proba, "`X`")
        (root / "artifacts" / "contract.json").write_text(json.dumps(contract.to_dict()))
        made[name] = (root, json.dumps({"instances": features[:1].tolist()}).encode())
    return made


def _hide_contract(root: Path, hidden: bool) -> None:
    contract, away = root / "artifacts" / "contract.json", root / "artifacts" / "contract.away"
    if hidden and contract.exists():
        contract.rename(away)
    elif not hidden and away.exists():
        away.rename(contract)


def throughput(made: dict, duration: float, rounds: int) -> dict:
    figures = {(model, variant): [] for model in made for variant in VARIANTS}
    for _ in range(rounds):
        for model, (root, body) in made.items():
            for variant, mode in VARIANTS.items():
                _hide_contract(root, mode is None)
                env = {"MLCONTAINER_CONTRACT": mode} if mode else {}
                process, url = serve(root, env, body)
                try:
                    result = run_wrk(url, body, duration, CONCURRENCY)
                finally:
                    stop(process)
                figures[(model, variant)].append(result.requests_per_second)
                print(
                    f"  {model:6} {variant:8} {result.requests_per_second:8.0f} req/s", flush=True
                )
    for root, _ in made.values():
        _hide_contract(root, False)
    return figures


def microseconds(call) -> float:
    """The fastest of five timings of `call`, per call."""
    return min(timeit.repeat(call, number=20_000, repeat=5)) / 20_000 * 1e6


def in_process(made: dict, figures: dict) -> None:
    """Reading the columns, the check, and the drift histograms, per one-row request."""
    from jupyter_mlcontainer.runtime.admission import Admission
    from jupyter_mlcontainer.runtime.datadrift import DriftMonitor
    from jupyter_mlcontainer.runtime.spec import contract_from_json

    for model, (root, body) in made.items():
        contract = contract_from_json((root / "artifacts" / "contract.json").read_text())
        rows = json.loads(body)["instances"]
        reading, checking = Admission(contract, [], "off"), Admission(contract, [], "enforce")
        monitor, columns = DriftMonitor(contract), reading.admit("rows", rows).columns
        read = microseconds(partial(reading.admit, "rows", rows))
        check = microseconds(partial(checking.admit, "rows", rows)) - read
        drift = microseconds(partial(monitor.observe, columns))
        request = 1e6 / statistics.median(figures[(model, "none")])
        print(
            f"  {model:6} a request {request:6.1f} us; reading its columns {read:.2f} us, "
            f"the check {check:.2f} us ({check / request:.1%}), drift {drift:.2f} us "
            f"({drift / request:.1%}; {(read + drift) / request:.1%} with the reading, "
            "as in the drift variant)"
        )


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(made: dict, requests: int) -> tuple[int, int, int]:
    """(KiB after warm-up, KiB after `requests`, requests answered) for iris with enforce."""
    root, body = made["iris"]
    process, url = serve(root, {"MLCONTAINER_CONTRACT": "enforce"}, body)
    try:
        run_wrk(url, body, 2, CONCURRENCY)
        before, answered = resident_kib(process.pid), 0
        while answered < requests:
            answered += run_wrk(url, body, 20, CONCURRENCY).requests
            print(
                f"  {answered:,} requests, {resident_kib(process.pid) / 1024:.1f} MiB", flush=True
            )
        return before, resident_kib(process.pid), answered
    finally:
        stop(process)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="contract-cost-") as scratch:
        made = roots(Path(scratch))
        print(f"throughput, {CONCURRENCY} clients, one row per request:")
        figures = throughput(made, args.duration, args.rounds)
        print("\nmedian req/s (ratio to none):")
        for model in made:
            base = statistics.median(figures[(model, "none")])
            cells = []
            for variant in VARIANTS:
                value = statistics.median(figures[(model, variant)])
                cells.append(f"{variant} {value:7.0f} ({value / base:.2f})")
            print(f"  {model:6} " + "  ".join(cells))
        print("\nin this process, per one-row request (share of a request at `none`):")
        in_process(made, figures)
        if args.memory_requests:
            started = time.perf_counter()
            before, after, answered = memory(made, args.memory_requests)
            print(
                f"\nmemory, iris with the contract enforced: {before / 1024:.1f} MiB after warm-up, "
                f"{after / 1024:.1f} MiB after {answered:,} requests "
                f"({time.perf_counter() - started:.0f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
