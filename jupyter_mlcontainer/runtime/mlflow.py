"""MLflow's scoring protocol (`mlflow models serve`), so that MLflow clients work unchanged.

`POST /invocations` takes JSON with one of "dataframe_split", "dataframe_records", "instances" or
"inputs" (contract.REQUEST_FORMS), plus an optional "params" object, or a `text/csv` body with a
header row; it answers {"predictions": [...]}. "params" reach an entry point that names a `params`
argument (an MLflow pyfunc's `predict(model_input, params=None)`) and are otherwise ignored, since
a notebook's function takes only the input. `GET /ping` and `GET /health` are the liveness probes;
`GET /version` answers the runtime's version as text, as MLflow answers its own.
"""

from __future__ import annotations

import csv
import io

from .admission import blamed_on_input
from .batch import BatchError, _csv_rows
from .contract import response
from .convert import BadRequest, decode, extract
from .exchange import json_response, not_ready

CSV = b"text/csv"


class MLflowScoring:
    """The MLflow routes over the app's exchange and its micro-batcher (None when off)."""

    def __init__(self, exchange, batcher):
        self.exchange = exchange
        self.batcher = batcher
        self.service = exchange.service

    async def invocations(self, scope, receive):
        service = self.service
        if not service.ready:
            return not_ready(service)
        body = await self.exchange.body(scope, receive)
        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        if content_type.startswith(CSV):
            payload, params = csv_payload(body, service), None
        else:
            payload, params = json_payload(body)
        form, value = extract(payload, mlflow=True)
        admitted = service.watch.admit(form, value)
        batcher = self.batcher
        with blamed_on_input(admitted):
            if batcher is not None and params is None and batcher.accepts(form, value):
                predictions = await batcher.predict(form, value)
            else:
                predictions = await self.exchange.call_model(
                    service.predict_value, form, value, params
                )
        headers = service.watch.answered(admitted, form, value, predictions)
        return json_response(200, response(predictions), headers)

    async def version(self, scope, receive):
        text = self.service.serving.generator_version.encode()
        return 200, text, b"text/plain; charset=utf-8", []


def json_payload(body: bytes):
    """(the body without "params", the params or None)."""
    payload = decode(body)
    params = None
    if isinstance(payload, dict) and "params" in payload:
        payload = dict(payload)
        params = payload.pop("params")
        if not isinstance(params, dict):
            raise BadRequest(400, '"params" must be an object of parameter names to values')
    return payload, params


def csv_payload(body: bytes, service) -> dict:
    """A CSV body with a header row → {"instances": rows}, typed as batch scoring types them."""
    try:
        rows = list(_csv_rows(io.BytesIO(body), service))
    except BatchError as error:
        raise BadRequest(400, f"CSV body: {error}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise BadRequest(400, f"CSV body is not UTF-8 CSV text: {error}") from None
    if not rows:
        raise BadRequest(400, "CSV body has no rows; send a header row, then one row per input")
    return {"instances": rows}
