"""A small, bounded load test against a local instance: N requests at concurrency C.

Bounded in count, concurrency and time, and refused for any host but this machine, so a
button in a notebook can never turn into a tool for loading someone else's server.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ...running.client import ServingClient
from ...shared.errors import LoadTestRefused
from .loadclient import run_clients

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_REQUESTS = 2000
MAX_CONCURRENCY = 32
MAX_SECONDS = 60.0


@dataclass
class LoadTestResult:
    requested: int
    concurrency: int
    latencies_ms: list = field(default_factory=list)  # of the 2xx answers, in completion order
    statuses: dict = field(default_factory=dict)  # status code (0: nothing answered) → count
    seconds: float = 0.0
    timed_out: bool = False  # the time budget ended the run before every request was sent

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return self.completed - self.ok

    @property
    def requests_per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float | None:
        return percentile(self.latencies_ms, 99)

    def summary(self) -> str:
        if not self.ok:
            return f"{self.completed} requests, none answered 2xx ({_statuses(self.statuses)})"
        text = (
            f"{self.completed} requests at concurrency {self.concurrency} in {self.seconds:.2f} s: "
            f"{self.requests_per_second:.1f} req/s, p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms"
        )
        if self.errors:
            text += f", {self.errors} errors ({_statuses(self.statuses)})"
        if self.timed_out:
            text += f" (stopped by the time limit before {self.requested})"
        return text


def percentile(values: list, q: float) -> float | None:
    """Nearest-rank percentile: a latency that some request really had."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def check_local(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        raise LoadTestRefused(
            f"Load tests only run against instances on this machine; {url} is on {host!r}.",
            "Run the instance locally (its URL starts with http://127.0.0.1) and test that.",
        )


def run_load_test(
    url: str,
    payload: dict,
    requests: int = 200,
    concurrency: int = 4,
    max_seconds: float = 20.0,
    timeout: float = 10.0,
) -> LoadTestResult:
    """Send `payload` to `url`/predict `requests` times over `concurrency` keep-alive
    connections (as wrk does), stopping at `max_seconds`; every bound is checked against the
    module's ceilings first."""
    check_local(url)
    for value, ceiling, name in (
        (requests, MAX_REQUESTS, "requests"),
        (concurrency, MAX_CONCURRENCY, "concurrency"),
        (max_seconds, MAX_SECONDS, "seconds"),
    ):
        if not 0 < value <= ceiling:
            raise LoadTestRefused(
                f"A load test takes 1 to {ceiling} {name}; {value} was asked.",
                "Choose a smaller number.",
            )
    concurrency = min(concurrency, requests)
    client = ServingClient(url, timeout=min(timeout, max_seconds))
    result = LoadTestResult(requests, concurrency)
    statuses: Counter = Counter()
    remaining = [requests]
    started = time.perf_counter()
    deadline = started + max_seconds

    def claim() -> bool:
        if remaining[0] == 0 or time.perf_counter() >= deadline:
            return False
        remaining[0] -= 1
        return True

    def record(status: int, latency_ms: float) -> None:
        statuses[status] += 1
        if 200 <= status < 300:
            result.latencies_ms.append(latency_ms)

    parts = urlsplit(url)
    run_clients(
        parts.hostname,
        parts.port or 80,
        client.path("/predict"),
        json.dumps(payload).encode(),
        concurrency,
        claim,
        record,
        client.timeout,
        tls=parts.scheme == "https",
    )
    result.seconds = time.perf_counter() - started
    result.statuses = dict(statuses)
    result.timed_out = remaining[0] > 0
    return result


def _statuses(statuses: dict) -> str:
    return ", ".join(
        f"{count}× {'no answer' if code == 0 else code}" for code, count in sorted(statuses.items())
    )
