"""The model behind the routes: reads the contract, loads the generated module, predicts."""

import importlib
import inspect
import json
import logging
import os
import sys
import threading
import time

from .contract import response
from .convert import extract, make_converter, to_jsonable
from .parity import compare
from .spec import CONTRACT_RECORD, NOTEBOOK_RECORD, SERVING_SPEC, ServingSpec
from .watch import Watch

log = logging.getLogger("mlcontainer")

#: Mean prediction time above which predictions leave the event loop for a worker thread, so that
#: health checks and metrics still answer while a slow model computes.
INLINE_BUDGET_SECONDS = 0.005

#: Set by `deploy` on replicas: a model that cannot load ends the process (exit code 3), and so
#: does one whose warm-up does not answer sample.json as the notebook did.
EXIT_ON_FAILED_LOAD = "MLCONTAINER_EXIT_ON_FAILED_LOAD"

#: The Dockerfile's build argument that says where the image's check runs: "build" (the
#: default: the `check` step) or CHECK_AT_START (a build that starts an instance or replicas:
#: they check on start, under EXIT_ON_FAILED_LOAD, so the model is loaded once, not twice).
CHECK_AT = "CHECK_AT"
CHECK_AT_START = "start"


class SampleMismatch(Exception):
    """The model loaded but does not answer sample.json as the notebook did."""


class ModelService:
    """Owns the spec (serving.json, with the notebook's record merged in; state.py checks the
    state's own record), sample.json and, once loaded, the entry point; knows whether it is
    ready."""

    def __init__(self, root):
        self.root = root
        self.serving = ServingSpec.from_json((root / SERVING_SPEC).read_text(encoding="utf-8"))
        notebook, contract = root / NOTEBOOK_RECORD, root / CONTRACT_RECORD
        self.serving = self.serving.with_records(  # older images kept the notebook's inside
            notebook.read_text(encoding="utf-8") if notebook.is_file() else None,
            contract=contract.read_text(encoding="utf-8") if contract.is_file() else None,
        )
        sample_path = root / "sample.json"
        self.sample = (
            json.loads(sample_path.read_text(encoding="utf-8")) if sample_path.is_file() else None
        )
        self.status = "loading"  # → "ready" | "failed"
        self.error = None
        self.load_seconds = None
        self.mean_predict_seconds = 0.0
        self._entry = None
        self._convert = None
        self.watch = Watch(self.serving)  # the contract's check, drift, captured requests

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def slow(self) -> bool:
        return self.mean_predict_seconds > INLINE_BUDGET_SECONDS

    def start_loading(self) -> threading.Thread:
        """Load in the background so that the server listens (and answers /health) at once."""
        thread = threading.Thread(target=self.load_or_exit, name="mlcontainer-load", daemon=True)
        thread.start()
        return thread

    def load_or_exit(self):
        """Load; a failure is logged, and ends the process where EXIT_ON_FAILED_LOAD says so."""
        try:
            self.load()
        except Exception:
            log.exception("loading the model failed; /ready answers 503")
            if os.environ.get(EXIT_ON_FAILED_LOAD) == "1":
                # An orchestrator sees a task that exits at once, and rolls back, sooner than one
                # whose health check fails after its start period.
                logging.shutdown()
                os._exit(3)

    def load(self, warm_up: bool = True):
        """Import the generated module (which loads its state) and resolve the entry point.

        The warm-up predicts sample.json's request, so the first real request pays no lazy imports.
        """
        started = time.perf_counter()
        try:
            app_dir = str(self.root / "app")
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)
            module = importlib.import_module(self.serving.module)
            self._entry = self.serving.entry.resolve(lambda name: getattr(module, name))
            self._convert = make_converter(self.serving.input)
            if warm_up and self.sample is not None:
                self._warm_up()
        except Exception as error:
            self.status, self.error = "failed", f"{type(error).__name__}: {error}"
            raise
        self.load_seconds = time.perf_counter() - started
        self.status = "ready"
        log.info("model ready in %.3f s", self.load_seconds)

    def _warm_up(self):
        """Where a failed load ends the process (a replica), the warm-up is the image's check:
        a model that raises on the sample, or answers it otherwise than the notebook did,
        fails the load; elsewhere a failure is only logged."""
        strict = os.environ.get(EXIT_ON_FAILED_LOAD) == "1"
        try:
            answer = self.predict(self.sample["request"])
        except Exception:
            if strict:
                raise
            log.exception("the warm-up prediction of sample.json's request failed")
            return
        if strict and "expected" in self.sample:
            report = self.sample_parity(answer)
            if not report.passed:
                raise SampleMismatch(
                    "the model does not answer sample.json as the notebook did:\n" + report.render()
                )

    def sample_parity(self, answer: dict):
        """How `answer`, to sample.json's request, compares with the notebook's answer."""
        return compare(self.sample["expected"]["predictions"], answer["predictions"])

    def predict_inputs(self, inputs) -> list:
        """Predictions for inputs already in the model's own form (batch scoring's fast path,
        which checks them itself)."""
        return to_jsonable(self._entry(inputs))

    def predict(self, payload, mlflow: bool = False, params: dict | None = None) -> dict:
        """A decoded request body → {"predictions": ...}; raises BadRequest for bad input."""
        form, value = extract(payload, mlflow)
        return response(self.predict_value(form, value, params))

    def predict_value(self, form: str, value, params: dict | None = None):
        """The entry point's output for one request form and value, as JSON values."""
        return to_jsonable(self.run(form, value, params))

    def predict_rows(self, form: str, rows: list) -> list:
        """One prediction per row, for a batch of several requests' rows; raises when the
        output cannot be split back row by row."""
        predictions = self.predict_value(form, rows)
        if not isinstance(predictions, list) or len(predictions) != len(rows):
            raise ValueError(f"the model answered {len(rows)} rows with no list of {len(rows)}")
        return predictions

    def run(self, form: str, value, params: dict | None = None):
        """The entry point's own output for one request form and value (convert.extract's).

        `params` (MLflow's) reach an entry point that takes a `params` argument; others ignore them.
        """
        inputs = self._convert(form, value)
        started = time.perf_counter()
        if params is not None and self.takes_params:
            output = self._entry(inputs, params=params)
        else:
            output = self._entry(inputs)
        elapsed = time.perf_counter() - started
        self.mean_predict_seconds = (
            0.8 * self.mean_predict_seconds + 0.2 * elapsed
            if self.mean_predict_seconds
            else elapsed
        )
        return output

    @property
    def takes_params(self) -> bool:
        return takes_params(self._entry)


def takes_params(entry) -> bool:
    """Whether `entry` names a `params` argument, as an MLflow pyfunc's predict does.

    Not `**params` or `**kwargs`: a scikit-learn Pipeline's `predict(X, **params)` routes them to
    its last step, whose own predict takes none."""
    try:
        parameter = inspect.signature(entry).parameters.get("params")
    except (TypeError, ValueError):  # builtins and some C extensions have no signature
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
