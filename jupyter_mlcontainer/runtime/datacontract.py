"""What "normal input" is for the served model, taken from its training data at capture.

`DataContract` is written into `app/serving.json` by the build (pipeline/profile.py measures it
in the kernel) and read by the runtime, which refuses what training never held
(runtime/admission.py) and measures how live inputs drift from it (runtime/datadrift.py).
Standard library only: this module runs inside every image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

#: Column kinds: what a column held in training, which decides what the runtime checks.
KINDS = ("float", "integer", "boolean", "category", "other")
#: Distinct values a category column may have for its set to be enforced and drawn.
CATEGORY_CAP = 100
#: Numeric drift bins: the training data's deciles, so each bin held about a tenth of it.
NUMERIC_BINS = 10
#: A number this many times larger in magnitude than any its column held in training (or than
#: 1, for a column of small values) is no measurement of that column (an overflow, a unit mixed
#: up a million-fold), and a model's arithmetic may overflow on it: the contract refuses it,
#: where a value merely beyond the training range is served and counted.
PLAUSIBLE_SCALE = 1e6


@dataclass(frozen=True)
class ColumnContract:
    """One input column (or the predictions) as training saw it.

    Drift bins: a numeric column's `edges` cut the line into len(edges) + 1 bins; a category
    column has one bin per known category and one for any other value. `expected` holds the
    training share of each bin, in that order.
    """

    name: str
    kind: str  # one of KINDS
    nullable: bool = True  # training held a missing value (or could not tell)
    low: float | None = None  # the training range of a numeric column
    high: float | None = None
    edges: tuple = ()  # numeric drift bins' inner edges, ascending
    categories: tuple | None = None  # known values; None: not a category, or more than the cap
    capped: bool = False  # more distinct values than CATEGORY_CAP: the set is not enforced
    expected: tuple = ()  # training share per drift bin

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "integer")

    @property
    def limit(self) -> float | None:
        """The largest magnitude a value of this numeric column may have; None: no limit."""
        if not self.numeric or self.low is None or self.high is None:
            return None
        return PLAUSIBLE_SCALE * max(abs(self.low), abs(self.high), 1.0)

    @property
    def bins(self) -> int:
        """How many drift bins the column has; 0 when it has none (nothing to compare)."""
        if self.numeric and self.edges:
            return len(self.edges) + 1
        if self.categories is not None:
            return len(self.categories) + 1
        return 0

    @classmethod
    def from_dict(cls, data: dict) -> ColumnContract:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for key in ("edges", "expected"):
            known[key] = tuple(known.get(key) or ())
        if known.get("categories") is not None:
            known["categories"] = tuple(known["categories"])
        return cls(**known)


@dataclass(frozen=True)
class DataContract:
    """The inputs' columns as training had them, and the model's predictions on that data."""

    source: str  # where it was measured, said to the user: "the data passed to `clf.fit`"
    rows: int  # how many training rows it rests on
    columns: tuple = ()  # ColumnContract per input column, in the input's order
    prediction: ColumnContract | None = None  # the model's answers on the training rows
    array: bool = False  # the columns are an array's last axis ("0", "1", ...), not a frame's
    shape: tuple | None = None  # an array row's shape as trained (None: not an array, or free)
    notes: tuple = field(default_factory=tuple)  # what could not be described, for the report

    def column(self, name: str) -> ColumnContract | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["prediction"] = asdict(self.prediction) if self.prediction else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DataContract:
        prediction = data.get("prediction")
        return cls(
            source=str(data.get("source", "")),
            rows=int(data.get("rows", 0)),
            columns=tuple(ColumnContract.from_dict(c) for c in data.get("columns") or ()),
            prediction=ColumnContract.from_dict(prediction) if prediction else None,
            array=bool(data.get("array", False)),
            shape=tuple(data["shape"]) if data.get("shape") is not None else None,
            notes=tuple(data.get("notes") or ()),
        )

    def with_overrides(self, overrides: dict) -> DataContract:
        """This contract with the notebook's own word on some columns, from its metadata
        (`{"mlcontainer": {"contract": {"age": {"nullable": true}}}}`): `nullable`, `low` and
        `high` replace what training showed; `categories` adds values a column may take."""
        columns = []
        for column in self.columns:
            change = dict(overrides.get(column.name) or {})
            column = replace(
                column, **{k: change[k] for k in ("nullable", "low", "high") if k in change}
            )
            if change.get("categories") and column.categories is not None:
                added = tuple(v for v in change["categories"] if v not in column.categories)
                expected = column.expected[:-1] + (0.0,) * len(added) + column.expected[-1:]
                column = replace(column, categories=column.categories + added, expected=expected)
            columns.append(column)
        return replace(self, columns=tuple(columns))
