"""Whether the image may batch concurrent requests, decided on the captured sample in the kernel.

Batching is safe when predicting the sample's rows together answers what predicting each row
alone answers (within the parity check's tolerance): true of fitted estimators, false of code
that looks at the whole batch (normalising by its mean, ranking its rows). With fewer than two
rows there is nothing to compare, and batching stays off.
"""

from __future__ import annotations

#: Rows in one model call at most, and the milliseconds a batch may wait for more rows.
MAX_BATCH = 512
MAX_WAIT_MS = 2
OFF = {"enabled": False}


def batching_for(entry, sample, expected) -> dict:
    """serving.json's "batching" for an entry point, its sample and its answer to the sample."""
    from ..runtime.convert import to_jsonable
    from ..runtime.parity import compare

    together = to_jsonable(expected)
    if not isinstance(together, list) or len(together) < 2 or len(together) != _length(sample):
        return OFF
    alone = []
    for index in range(len(together)):
        try:
            one = to_jsonable(entry(_row(sample, index)))
        except Exception:  # noqa: BLE001 (a model that cannot take one row is not batched)
            return OFF
        if not isinstance(one, list) or len(one) != 1:
            return OFF
        alone += one
    if not compare(together, alone).passed:
        return OFF
    return {"enabled": True, "max_batch": MAX_BATCH, "max_wait_ms": MAX_WAIT_MS}


def _length(sample) -> int | None:
    try:
        return len(sample)
    except TypeError:
        return None


def _row(sample, index: int):
    """Row `index` of the sample as a one-row sample of the same type."""
    if hasattr(sample, "iloc"):
        return sample.iloc[index : index + 1]
    return sample[index : index + 1]
