"""Load a prediction endpoint with wrk: requests/s and p50/p99 latency for one JSON body.

    python benchmarks/loadgen.py http://127.0.0.1:8080/predict --body-file body.json --concurrency 1,16

wrk (a C load generator) is used rather than a Python client, so that the client does not become
the bottleneck of the server being measured.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

WRK = shutil.which("wrk") or "/usr/bin/wrk"
# The body is read from a file so that any bytes survive, whatever quoting Lua would need.
LUA = """
local file = assert(io.open({path}, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx responses

    def to_dict(self) -> dict:
        return asdict(self)


def run_wrk(url: str, body: bytes | str, duration_s: float = 5, concurrency: int = 1) -> LoadResult:
    """POST `body` to `url` from `concurrency` connections for `duration_s` seconds."""
    if isinstance(body, str):
        body = body.encode()
    duration_s = max(1, round(duration_s))
    with tempfile.TemporaryDirectory(prefix="loadgen-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.format(path=json.dumps(str(body_path))))
        command = [
            WRK,
            f"-t{min(concurrency, 2)}",
            f"-c{concurrency}",
            f"-d{duration_s}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 30, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(
            f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )
    return parse_wrk(done.stdout, concurrency, duration_s)


def parse_wrk(output: str, concurrency: int, duration_s: float) -> LoadResult:
    """Read the figures out of `wrk --latency` output."""

    def number(pattern):
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        concurrency=concurrency,
        duration_s=duration_s,
        requests=int(number(r"^\s*(\d+) requests in")[1]),
        requests_per_second=float(number(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=_milliseconds(number(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$")),
        p99_ms=_milliseconds(number(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$")),
        errors=errors + (int(non_2xx[1]) if non_2xx else 0),
    )


def _milliseconds(match) -> float:
    return float(match[1]) * _UNITS[match[2]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--body", help="the JSON body as a string")
    source.add_argument("--body-file", type=Path, help="a file holding the JSON body")
    parser.add_argument("--duration", type=float, default=5, help="seconds per run (default 5)")
    parser.add_argument(
        "--concurrency", default="1,16", help="comma-separated connection counts (default 1,16)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per run")
    args = parser.parse_args(argv)
    body = args.body_file.read_bytes() if args.body_file else args.body.encode()
    if not args.json:
        print(f"{'conc':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        result = run_wrk(args.url, body, args.duration, concurrency)
        if args.json:
            print(json.dumps(result.to_dict()))
        else:
            print(
                f"{concurrency:>5} {result.requests_per_second:>10.1f} {result.p50_ms:>8.2f} "
                f"{result.p99_ms:>8.2f} {result.errors:>7}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
