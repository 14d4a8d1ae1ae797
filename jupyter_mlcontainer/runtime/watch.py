"""What the image watches of the requests it serves: the data contract's check
(runtime/admission.py), drift from training (runtime/datadrift.py) and, when asked for, the last
requests and their answers.

Every protocol's handler calls `admit(form, value)` before the model and `answered(...)` after,
on the event loop, so that a request is counted once whatever path it took (inline, a worker
thread, a micro-batch). Request capture is opt-in (`MLCONTAINER_CAPTURE_REQUESTS=N`): the last
N rows and their predictions, in memory only, never written anywhere.
"""

from __future__ import annotations

import os
import time
from collections import deque

from .admission import OUTSIDE_RANGE_HEADER, Admission, Admitted, contract_mode
from .datadrift import DriftMonitor
from .metrics import family
from .spec import ServingSpec

CAPTURE_VARIABLE = "MLCONTAINER_CAPTURE_REQUESTS"
#: Rows request capture may keep at most, whatever it is asked for.
CAPTURE_LIMIT = 100_000


class Watch:
    def __init__(self, serving: ServingSpec, environ=None):
        environ = os.environ if environ is None else environ
        contract = serving.contract
        self.mode = contract_mode(environ)
        self.admission = None
        self.drift = None
        if contract is not None and contract.columns:
            columns = list(serving.input.columns)
            self.admission = Admission(contract, columns, self.mode)
            self.drift = DriftMonitor(contract)
        size = min(int(environ.get(CAPTURE_VARIABLE) or 0), CAPTURE_LIMIT)
        self.captured: deque | None = deque(maxlen=size) if size > 0 else None

    @property
    def wants_predictions(self) -> bool:
        """Whether `answered` reads the predictions (to bin them, or to keep them)."""
        return self.captured is not None or (
            self.drift is not None and self.drift.prediction is not None
        )

    def admit(self, form: str, value, first_row: int = 0) -> Admitted | None:
        """Check a request against the contract (BadRequest 422 in enforce mode) and count its
        columns in the drift histograms; None when there is nothing to check."""
        if self.admission is None:
            return None
        admitted = self.admission.admit(form, value, first_row)
        if admitted is not None and self.drift is not None:
            self.drift.observe(admitted.columns)
        return admitted

    def answered(self, admitted: Admitted | None, form: str, value, predictions) -> tuple:
        """Count the predictions, keep the request when capture is on; the response headers."""
        if self.drift is not None:
            self.drift.observe_predictions(predictions)
        if self.captured is not None:
            self._capture(admitted, form, value, predictions)
        if admitted is not None and admitted.outside_range:
            return ((OUTSIDE_RANGE_HEADER, str(admitted.outside_range).encode()),)
        return ()

    def _capture(self, admitted, form, value, predictions) -> None:
        if admitted is not None:
            names = list(admitted.columns)
            rows = [
                dict(zip(names, cells, strict=True))
                for cells in zip(*admitted.columns.values(), strict=True)
            ]
        elif form == "rows" and isinstance(value, list):
            rows = value
        else:
            rows = [value]
        answers = (
            predictions
            if isinstance(predictions, list) and len(predictions) == len(rows)
            else [predictions] * len(rows)
        )
        now = time.time()
        for row, answer in zip(rows, answers, strict=True):
            self.captured.append({"time": now, "input": row, "prediction": answer})

    def metric_families(self) -> tuple:
        """PSI per feature and of the predictions, the rows they rest on, and the contract's
        violations by column and reason, for /metrics."""
        families = []
        report = self.drift_report()
        if report is not None:
            features = report["features"].items()
            families.append(
                family(
                    "mlcontainer_feature_psi",
                    "Population stability index of each input feature against training, "
                    "over the last rows (GET /drift).",
                    "gauge",
                    [({"feature": name}, f["psi"]) for name, f in features],
                )
            )
            families.append(
                family(
                    "mlcontainer_feature_psi_rows",
                    "Rows each feature's PSI rests on.",
                    "gauge",
                    [({"feature": name}, f["rows"]) for name, f in features],
                )
            )
            if report["prediction"] is not None:
                families.append(
                    family(
                        "mlcontainer_prediction_psi",
                        "Population stability index of the predictions against training's.",
                        "gauge",
                        [({}, report["prediction"]["psi"])],
                    )
                )
        if self.admission is not None:
            families.append(
                family(
                    "mlcontainer_contract_violations_total",
                    f"Values outside the data contract, by column and reason ({self.mode} mode).",
                    "counter",
                    [
                        ({"column": column, "reason": reason}, count)
                        for (column, reason), count in sorted(self.violations().items())
                    ],
                )
            )
        return tuple(families)

    def drift_report(self) -> dict | None:
        return None if self.drift is None else self.drift.report()

    def violations(self) -> dict:
        return {} if self.admission is None else dict(self.admission.violations)
