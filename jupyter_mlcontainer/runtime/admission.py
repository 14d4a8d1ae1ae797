"""Requests checked against the data contract before the model sees them.

The model cannot tell that it never saw a missing value or a category, and answers such input
with a 500 or a wrong number; the contract can (runtime/datacontract.py). `MLCONTAINER_CONTRACT`
says what the check does: `enforce` (the default) answers 422 naming the row, the column and
what training saw, for a null where training had none, a category it never had, a value of
the wrong type and a number out of all proportion to training's (datacontract.PLAUSIBLE_SCALE);
`warn` lets everything through and counts it; `off` skips the check (drift is still measured).
A value merely outside the training range is only counted, and said in a response header.

Every protocol's request reaches here as one of convert.extract's (form, value) pairs; the
values are read as JSON gives them (or as numpy gives them, from the Open Inference Protocol's
tensors), one pass per column, so that the check costs microseconds.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

from .convert import BadRequest, columns_of
from .datacontract import ColumnContract, DataContract

MODES = ("enforce", "warn", "off")
MODE_VARIABLE = "MLCONTAINER_CONTRACT"
#: Answered with every request that held values outside the training range: how many.
OUTSIDE_RANGE_HEADER = b"mlcontainer-outside-training-range"
#: Violations a 422 names at most (the rest are counted).
NAMED = 3


@dataclass
class Admitted:
    """What the check saw in one request, for the response and the drift monitor."""

    columns: dict  # column name → its values (as sent)
    outside_range: int = 0  # values beyond the training range (allowed)
    let_through: int = 0  # values `enforce` would refuse, let through by `warn`


def contract_mode(environ=None) -> str:
    environ = os.environ if environ is None else environ
    mode = environ.get(MODE_VARIABLE, "enforce").strip().lower() or "enforce"
    if mode not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


class Admission:
    """The contract's check for one image: `admit(form, value)` raises BadRequest(422) in
    `enforce` mode for what training never held, and counts every violation by column and
    reason (`violations`, exported in /metrics)."""

    def __init__(self, contract: DataContract, columns: list, mode: str):
        self.contract = contract
        self.mode = mode
        self.input_columns = columns  # the frame's column names, for convert._columns
        self.names = [c.name for c in contract.columns]  # an array model's, in order
        self.checked = [c for c in contract.columns if c.kind != "other" or not c.nullable]
        self.known = {c.name: frozenset(c.categories) for c in contract.columns if c.categories}
        self.violations: Counter = Counter()  # (column, reason) → count

    def admit(self, form: str, value, first_row: int = 0) -> Admitted | None:
        """The request's columns and what lies outside the training range; None when it has
        no columns to check (convert.py then says what is wrong with it). Rows are numbered
        from `first_row` in the message."""
        columns = self._columns(form, value)
        if columns is None:
            return None
        found, outside = [], 0
        for contract in self.checked if self.mode != "off" else ():
            values = columns.get(contract.name)
            if values is None:
                continue
            problems, beyond = self._check(contract, values)
            found += problems
            outside += beyond
        if found:
            for _row, column, reason, _text in found:
                self.violations[(column, reason)] += 1
            if self.mode == "enforce":
                raise BadRequest(422, _message(found, first_row))
        return Admitted(columns, outside, len(found))

    def _columns(self, form: str, value) -> dict | None:
        """{column: values} of a request, or None when it has no columns to check."""
        if not self.contract.array:
            return columns_of(form, value, self.input_columns)
        if form == "split":
            value = value[1]  # an array's rows, whatever columns the request names
        rows = value.tolist() if hasattr(value, "tolist") else value
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
            return None  # convert.py says what is wrong with it
        width = len(self.names)
        if any(not isinstance(row, list) or len(row) != width for row in rows):
            return None
        return dict(zip(self.names, zip(*rows, strict=True), strict=True))

    def _check(self, contract: ColumnContract, values) -> tuple[list, int]:
        """(violations as (row, column, reason, text), how many values lie outside the range)."""
        found, outside = [], 0
        name, numeric = contract.name, contract.numeric
        known = self.known.get(name)
        low, high, limit = contract.low, contract.high, contract.limit
        for row, value in enumerate(values):
            if isinstance(value, (dict, list)):  # one value per cell (convert.py says so too)
                found.append((row, name, "type", "an object or a list, but training had one value"))
                continue
            if value is None or (isinstance(value, float) and value != value):
                if not contract.nullable:
                    found.append((row, name, "null", "null, but training had no missing values"))
                continue
            if numeric:
                if isinstance(value, (str, bool)) or not isinstance(value, (int, float)):
                    if not _number_like(value):
                        found.append((row, name, "type", f"{value!r}, but training had numbers"))
                        continue
                if limit is not None and abs(value) > limit:
                    found.append((row, name, "range", _implausible(value, contract)))
                    continue
                if (low is not None and value < low) or (high is not None and value > high):
                    outside += 1
            elif known is not None and value not in known:
                seen = ", ".join(repr(v) for v in sorted(known, key=str)[:8])
                more = f" and {len(known) - 8} more" if len(known) > 8 else ""
                found.append(
                    (row, name, "category", f"{value!r}, but training had only {seen}{more}")
                )
            elif contract.kind == "boolean" and not isinstance(value, bool):
                found.append((row, name, "type", f"{value!r}, but training had true or false"))
        return found, outside


@contextmanager
def blamed_on_input(admitted: Admitted | None):
    """A ValueError or TypeError the model raises on a request holding values training never
    held (beyond its range, or what `warn` let through) is that input's fault: a 422 that says
    so, not a 500. Without such values the error stays the model's own (500)."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if admitted is None or not (admitted.outside_range or admitted.let_through):
            raise
        unseen = [
            f"{count} value(s) {what}"
            for count, what in (
                (admitted.outside_range, "beyond the training range"),
                (admitted.let_through, "its data contract would refuse"),
            )
            if count
        ]
        raise BadRequest(
            422,
            f"the model refused this input ({type(error).__name__}: {str(error)[:300]}); it holds "
            f"{' and '.join(unseen)}, see GET /metadata's contract",
        ) from error


def _implausible(value, contract: ColumnContract) -> str:
    try:
        text = f"{float(value):g}"
    except OverflowError:  # an integer of hundreds of digits, as JSON allows
        text = f"an integer of {len(str(abs(int(value))))} digits"
    largest = max(abs(contract.low), abs(contract.high))
    return (
        f"{text}, out of all proportion to training's values (at most {largest:g} in magnitude; "
        f"the limit is ±{contract.limit:g})"
    )


def _number_like(value) -> bool:
    """numpy's integers and floats (from the Open Inference Protocol's tensors), not bools."""
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return kind in "iuf" and kind != ""


def _message(found: list, first_row: int) -> str:
    named = "; ".join(
        f"row {first_row + row}, column {column!r}: {text}"
        for row, column, _, text in found[:NAMED]
    )
    more = f" (and {len(found) - NAMED} more)" if len(found) > NAMED else ""
    return (
        f"{named}{more}. The model's data contract, taken from its training data, refuses it; "
        "see GET /metadata's contract"
    )
