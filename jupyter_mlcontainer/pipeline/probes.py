"""What the trial asks of the served code besides the sample, to tell what its answer needs.

A library imported only because it is installed (pyarrow behind pandas) may still change an
answer on rows the sample does not have (a missing value, a category seen late), so a
distribution leaves the image only if the served code answers, without it, as the notebook did:
the sample, each of its rows alone (where the model answers a row alone as within the batch:
pipeline/batching.py) and a batch of rows spread over the data the sample was taken from (the
data the model was fitted on, when the sample was inferred from its `.fit`).
"""

from __future__ import annotations

from .plan import Capture, CaptureRequest

#: Rows of the probe batch at most: enough to reach values the sample's first rows lack, few
#: enough that each trial stays a fraction of a second longer.
PROBE_ROWS = 32


def probe_batch(namespace: dict, request: CaptureRequest, entry) -> dict | None:
    """In the kernel: rows spread over the data the sample was inferred from, and the
    notebook's answer to them; None when the sample was given, or is all that data."""
    from ..runtime.contract import response
    from ..runtime.convert import to_jsonable

    if not request.sample_rows:
        return None
    try:
        data = eval(request.sample, namespace)  # noqa: S307 - the notebook's own expression
        if len(data) <= request.sample_rows:
            return None
        step = max(1, len(data) // PROBE_ROWS)
        rows = (data.iloc if hasattr(data, "iloc") else data)[::step][:PROBE_ROWS]
        return {
            "request": {"instances": to_jsonable(rows)},
            "expected": response(to_jsonable(entry(rows))),
        }
    except Exception:  # noqa: BLE001 - data that cannot be sliced or answered gives no probe
        return None


def trial_probes(capture: Capture) -> list[dict]:
    """The probes of a trial: name, request and the notebook's predictions."""
    probes = []
    rows = capture.request.get("instances")
    if capture.batching.get("enabled") and isinstance(rows, list):
        expected = capture.expected["predictions"]
        probes += [
            {"name": f"sample row {i} alone", "request": {"instances": [row]}, "expected": [answer]}
            for i, (row, answer) in enumerate(zip(rows, expected, strict=True))
        ]
    if capture.probe is not None:
        probes.append(
            {
                "name": f"{len(capture.probe['request']['instances'])} rows of the data",
                "request": capture.probe["request"],
                "expected": capture.probe["expected"]["predictions"],
            }
        )
    return probes
