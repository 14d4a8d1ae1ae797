"""Request counts and latencies in the Prometheus text format, without a client library."""

import bisect

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self):
        self._requests = {}  # (route, status) → count
        self._latency = {}  # route → [per-bucket counts (last is +Inf), sum, count]

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get(route)
        if histogram is None:
            histogram = self._latency[route] = [[0] * (len(BUCKETS) + 1), 0.0, 0]
        histogram[0][bisect.bisect_left(BUCKETS, seconds)] += 1
        histogram[1] += seconds
        histogram[2] += 1

    def render(self, gauges: dict, families: tuple = ()) -> str:
        """The exposition text; `gauges` maps name → (help, value) for values owned elsewhere,
        `families` are labelled ones (`family`'s lines)."""
        lines = [
            "# HELP mlcontainer_requests_total HTTP requests answered, by route and status.",
            "# TYPE mlcontainer_requests_total counter",
        ]
        for (route, status), count in sorted(self._requests.items()):
            lines.append(f'mlcontainer_requests_total{{route="{route}",status="{status}"}} {count}')
        lines += [
            "# HELP mlcontainer_request_duration_seconds Time from request to response, by route.",
            "# TYPE mlcontainer_request_duration_seconds histogram",
        ]
        for route, (counts, total, count) in sorted(self._latency.items()):
            cumulative = 0
            for bound, bucket in zip(BUCKETS + ("+Inf",), counts, strict=False):
                cumulative += bucket
                lines.append(
                    f'mlcontainer_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {cumulative}'
                )
            lines.append(f'mlcontainer_request_duration_seconds_sum{{route="{route}"}} {total:.6f}')
            lines.append(f'mlcontainer_request_duration_seconds_count{{route="{route}"}} {count}')
        for name, (help_text, value) in gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]
        for family_lines in families:
            lines += family_lines
        return "\n".join(lines) + "\n"


def family(name: str, help_text: str, kind: str, samples: list) -> list:
    """A labelled metric's lines; `samples` are (labels, value) pairs."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{key}="{_escape(str(label))}"' for key, label in labels.items())
        lines.append(f"{name}{{{text}}} {value}")
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
