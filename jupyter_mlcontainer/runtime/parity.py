"""Does the served model answer like the notebook did? Row-by-row comparison of two predictions.

Integers, strings, booleans and null compare exactly; floats within a relative 1e-6 (absolute 1e-9),
since serialisation and library builds may differ in the last bits. Dependency-free: the host's
CLI and widget import this same module.
"""

import math
from dataclasses import asdict, dataclass, field

REL_TOL = 1e-6
ABS_TOL = 1e-9


@dataclass
class ParityRow:
    index: int
    expected: object
    actual: object
    ok: bool
    detail: str = ""  # where the first difference is, when not ok

    def render(self) -> str:
        line = f"row {self.index} {'PASS' if self.ok else 'FAIL'} expected={_short(self.expected)} actual={_short(self.actual)}"
        return f"{line} ({self.detail})" if self.detail else line


@dataclass
class ParityReport:
    """The comparison, and when it was asked of a running instance over HTTP, how that went."""

    rows: list = field(default_factory=list)  # ParityRow
    passed: bool = True
    status: int | None = None  # the HTTP status of the instance's answer
    latency_ms: float | None = None
    error: str | None = None  # what the instance said instead of predictions

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        return "\n".join(row.render() for row in self.rows)

    __str__ = render


def compare(expected, actual) -> ParityReport:
    """Compare predictions row by row; a list of another length fails on the rows that lack a partner."""
    if not (isinstance(expected, list) and isinstance(actual, list)):
        detail = _difference(expected, actual, "")
        return ParityReport(
            [ParityRow(0, expected, actual, detail is None, detail or "")], detail is None
        )
    rows = []
    for index in range(max(len(expected), len(actual))):
        if index >= len(actual):
            rows.append(
                ParityRow(
                    index, expected[index], None, False, f"actual has only {len(actual)} rows"
                )
            )
        elif index >= len(expected):
            rows.append(
                ParityRow(index, None, actual[index], False, f"expected only {len(expected)} rows")
            )
        else:
            detail = _difference(expected[index], actual[index], "")
            rows.append(
                ParityRow(index, expected[index], actual[index], detail is None, detail or "")
            )
    return ParityReport(rows, all(row.ok for row in rows))


def _difference(expected, actual, path):
    """None when equal, else a short description of the first difference."""
    at = f"at {path}: " if path else ""
    if _is_number(expected) and _is_number(actual):
        if isinstance(expected, int) and isinstance(actual, int):
            return None if expected == actual else f"{at}{expected} != {actual}"
        if _close(float(expected), float(actual)):
            return None
        return f"{at}{expected!r} != {actual!r} (tolerance rel {REL_TOL:g}, abs {ABS_TOL:g})"
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{at}length {len(expected)} != {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            detail = _difference(e, a, f"{path}[{i}]")
            if detail:
                return detail
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            return f"{at}keys {sorted(expected)} != {sorted(actual)}"
        for key in expected:
            detail = _difference(expected[key], actual[key], f"{path}[{key!r}]")
            if detail:
                return detail
        return None
    if type(expected) is type(actual) and expected == actual:
        return None
    return f"{at}{expected!r} != {actual!r}"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(expected, actual):
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
