"""How live inputs and predictions drift from training: streaming histograms on the training
bins, and the population stability index (PSI) of each feature over a sliding window.

The window is a ring of `SLOTS` histograms of up to `SLOT_ROWS` rows each: a full slot pushes
the oldest out, so the memory is features x bins x slots integers, whatever the traffic, and
the PSI describes the last SLOTS x SLOT_ROWS rows or fewer. A request's columns are only
appended to a pending list, and binned `FLUSH_ROWS` rows at a time (with numpy when it is there
and the values are plain numbers), so that drift costs a request well under a microsecond
rather than a Python loop over its values. A bin is found as the contract's edges say (`bisect_right`: a value v falls in bin i when edges[i-1] <= v < edges[i]); a value
that is not a known category falls in the last bin. Nulls and values of the wrong type are not
binned (admission counts them).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque

from .datacontract import ColumnContract, DataContract

SLOT_ROWS = 1_000
SLOTS = 10
#: Rows kept pending before they are binned; a report bins what is pending first.
FLUSH_ROWS = 250
#: Shares below this count as this, so that an empty bin does not make the PSI infinite.
FLOOR = 1e-4
#: PSI above which a feature is said to drift (a common rule of thumb; the sidebar's badge
#: takes its own threshold).
DRIFTING = 0.2


def psi(expected, counts) -> float:
    """Population stability index of `counts` against the `expected` shares."""
    total = sum(counts)
    if not total:
        return 0.0
    value = 0.0
    for share, count in zip(expected, counts, strict=True):
        e, a = max(share, FLOOR), max(count / total, FLOOR)
        value += (a - e) * math.log(a / e)
    return value


class _Feature:
    """One column's bins, and how a live value finds its bin."""

    def __init__(self, contract: ColumnContract):
        self.name = contract.name
        self.expected = contract.expected
        self.edges = contract.edges if contract.numeric else None
        self.index = (
            None if self.edges is not None else {v: i for i, v in enumerate(contract.categories)}
        )
        self.other = contract.bins - 1
        self.labels = _labels(contract)

    def bin(self, value) -> int | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if self.edges is not None:
            try:
                return bisect_right(self.edges, value)
            except TypeError:  # a string in a numeric column, let through by `warn`
                return None
        try:
            return self.index.get(value, self.other)
        except TypeError:  # an unhashable value (a list) let through by `warn`
            return self.other

    def count(self, values: list, counts: list) -> None:
        """Add `values` to `counts`, bin by bin: at C speed for plain numbers and for hashable
        categories, one value at a time otherwise (nulls, a string let through by `warn`)."""
        if self.edges is not None:
            bins = _numpy_bins(self.edges, values, len(counts))
            if bins is not None:
                for index, n in enumerate(bins):
                    counts[index] += n
                return
            tally = ((value, 1) for value in values)
        else:
            try:
                tally = Counter(values).items()
            except TypeError:  # an unhashable value (a list) let through by `warn`
                tally = ((value, 1) for value in values)
        for value, n in tally:
            index = self.bin(value)
            if index is not None:
                counts[index] += n


def _numpy_bins(edges: list, values: list, size: int) -> list | None:
    """Counts per bin of plain numbers (`searchsorted` on the right is `bisect_right`), or None
    when numpy is missing or a value is not a plain number."""
    try:
        import numpy as np
    except ImportError:
        return None
    try:
        array = np.asarray(values)
    except ValueError:  # lists of different lengths, let through by `warn`
        return None
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        return None
    if array.dtype.kind == "f":
        array = array[~np.isnan(array)]
    found = np.searchsorted(np.asarray(edges, dtype=float), array, side="right")
    return np.bincount(found, minlength=size).tolist()


def _labels(column: ColumnContract) -> list:
    """Each drift bin's name, for a plot: `< 4.9`, `4.9 – 5.4`, ..., `≥ 7.2`; or the category."""
    if column.numeric:
        edges = [f"{edge:.4g}" for edge in column.edges]
        inner = [f"{low} – {high}" for low, high in zip(edges, edges[1:], strict=False)]
        return [f"< {edges[0]}", *inner, f"≥ {edges[-1]}"]
    return [str(value) for value in column.categories] + ["other"]


def _binned(column: ColumnContract | None) -> bool:
    """Whether a column has drift bins with a training share for each."""
    return column is not None and column.bins > 0 and len(column.expected) == column.bins


class DriftMonitor:
    """Histograms of the inputs' columns and of the predictions over the last rows."""

    def __init__(self, contract: DataContract):
        self.features = [_Feature(c) for c in contract.columns if _binned(c)]
        self.prediction = _Feature(contract.prediction) if _binned(contract.prediction) else None
        self._slots: deque = deque(maxlen=SLOTS)
        self._prediction_slots: deque = deque(maxlen=SLOTS)
        self._current, self._current_rows = self._empty(), 0
        self._pending: list = []  # requests' columns, not binned yet
        self._pending_rows = 0
        self._predictions, self._prediction_rows = self._empty_predictions(), 0

    def _empty(self) -> list:
        return [[0] * len(f.expected) for f in self.features]

    def _empty_predictions(self) -> list:
        return [0] * len(self.prediction.expected) if self.prediction else []

    def observe(self, columns: dict) -> None:
        """A request's columns ({name: values}, of one length: admission reads them so)."""
        if columns:
            self._pending.append(columns)
            self._pending_rows += len(next(iter(columns.values())))
            if self._pending_rows >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        """Bin the pending requests into the current slot; a full slot joins the window."""
        pending, rows = self._pending, self._pending_rows
        self._pending, self._pending_rows = [], 0
        for feature, counts in zip(self.features, self._current, strict=True):
            values = [value for columns in pending for value in columns.get(feature.name, ())]
            feature.count(values, counts)
        self._current_rows += rows
        if self._current_rows >= SLOT_ROWS:
            self._slots.append((self._current, self._current_rows))
            self._current, self._current_rows = self._empty(), 0

    def observe_predictions(self, predictions) -> None:
        """A request's predictions, one per row (those that are scalars)."""
        if self.prediction is None or not isinstance(predictions, list):
            return
        for value in predictions:
            index = self.prediction.bin(value) if not isinstance(value, (list, dict)) else None
            if index is not None:
                self._predictions[index] += 1
        self._prediction_rows += len(predictions)
        if self._prediction_rows >= SLOT_ROWS:
            self._prediction_slots.append((self._predictions, self._prediction_rows))
            self._predictions, self._prediction_rows = self._empty_predictions(), 0

    def report(self) -> dict:
        """{"features": {name: histogram}, "prediction": histogram | None, "window_rows", ...};
        a histogram is {"psi", "rows", "bins", "expected", "actual"} (shares per bin)."""
        self._flush()
        slots = [*self._slots, (self._current, self._current_rows)]
        features = {
            feature.name: _histogram(
                feature,
                [sum(slot[i][b] for slot, _ in slots) for b in range(len(feature.expected))],
            )
            for i, feature in enumerate(self.features)
        }
        prediction = None
        if self.prediction is not None:
            kept = [*self._prediction_slots, (self._predictions, self._prediction_rows)]
            bins = range(len(self.prediction.expected))
            prediction = _histogram(self.prediction, [sum(s[b] for s, _ in kept) for b in bins])
        return {
            "features": features,
            "prediction": prediction,
            "window_rows": sum(n for _, n in slots),
            "window_limit": SLOTS * SLOT_ROWS,
            "drifting_above": DRIFTING,
        }


def _histogram(feature: _Feature, counts: list) -> dict:
    total = sum(counts)
    return {
        "psi": round(psi(feature.expected, counts), 6),
        "rows": total,
        "bins": feature.labels,
        "expected": [round(share, 6) for share in feature.expected],
        "actual": [round(count / total, 6) if total else 0.0 for count in counts],
    }
