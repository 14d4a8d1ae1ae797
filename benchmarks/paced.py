"""A bounded load: a fixed number of requests per second over keep-alive connections.

wrk sends as fast as the server answers, which on a small machine takes the cores a build and a
rollout need; a paced load is what a serving model sees in use, and still finds every request
that fails while one model replaces another.
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from loadgen import LoadResult


def run_paced(
    url: str, body: bytes, duration_s: float, rate: float, connections: int = 4
) -> LoadResult:
    """POST `body` to `url` `rate` times a second in all, spread over `connections` keep-alive
    connections, for `duration_s` seconds. A request that gets no 2xx answer is an error."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    interval = connections / rate

    def connection(offset: float) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        due = started + offset
        while due < started + duration_s:
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            try:
                conn.request("POST", parts.path, body, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                ok = 200 <= answer.status < 300
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()  # the next request opens a new connection
            with lock:
                latencies.append((time.perf_counter() - sent) * 1000)
                errors[0] += not ok
            due += interval
        conn.close()

    threads = [
        threading.Thread(target=connection, args=(index * interval / connections,))
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return LoadResult(
        concurrency=connections,
        duration_s=duration_s,
        requests=len(ordered),
        requests_per_second=len(ordered) / duration_s,
        p50_ms=ordered[len(ordered) // 2] if ordered else 0.0,
        p99_ms=ordered[int(len(ordered) * 0.99)] if ordered else 0.0,
        errors=errors[0],
    )
