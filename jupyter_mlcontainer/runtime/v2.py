"""The Open Inference Protocol (the "v2" REST API of KServe, MLServer and Triton) on the same model.

Typed tensors in, typed tensors out, with the binary tensor data extension that Triton's clients
use by default. The model's tensors are described from serving.json's "input": a DataFrame takes
one input per column (named after it), an array or tensor one input named "input"; the output,
"predictions", is typed from sample.json's expected answer. numpy is imported only when a request
needs it.
"""

from __future__ import annotations

import json
import math
import struct
from functools import partial
from pathlib import PurePosixPath

from .admission import blamed_on_input
from .convert import BadRequest, leaf_types, to_jsonable, whole_numbers
from .exchange import json_response, not_ready
from .spec import ServingSpec
from .valueschema import (
    DESCRIBED_ROWS,
    NEVER,
    array_cells,
    array_of,
    cell,
    flat_of,
    row_counts,
    row_list,
    size_of,
    strings_only,
)

#: The protocol's datatypes → numpy dtype names (little-endian, as the binary extension sends them).
DATATYPES = {
    "BOOL": "bool",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "object",
}
#: numpy kinds a JSON "data" list may have for each datatype (as in convert._COMPATIBLE).
_JSON_KINDS = {"BOOL": "b", "INT": "iu", "UINT": "iu", "FP": "iufO"}
_KIND_WORDS = {"b": "booleans", "i": "integers", "u": "integers", "f": "decimal numbers"}
OUTPUT = "predictions"
ARRAY_INPUT = "input"
HEADER_LENGTH = b"inference-header-content-length"
EXTENSIONS = ["binary_tensor_data"]


def model_name(serving: ServingSpec) -> str:
    """serving.json's "name" (the image's), or the notebook's file name without its suffix."""
    if serving.name:
        return serving.name
    path = serving.notebook.path
    return PurePosixPath(path).stem.lower() if path else serving.module


def model_version(serving: ServingSpec) -> str:
    """The notebook's content hash, short: a new notebook is a new version."""
    return (serving.notebook.sha256 or "1")[:12]


def datatype_of(dtype) -> str:
    """A numpy or pandas dtype (or its name) → the protocol's datatype; text and others are BYTES."""
    text = str(dtype).lower()
    if text in ("bool", "boolean"):
        return "BOOL"
    for prefix, family in (("uint", "UINT"), ("int", "INT"), ("float", "FP")):
        bits = text[len(prefix) :]
        if text.startswith(prefix) and bits in ("8", "16", "32", "64"):
            return f"{family}{bits}"
    return "BYTES"


def input_tensors(serving: ServingSpec, sample) -> list[dict]:
    """The model's inputs as the metadata endpoint describes them."""
    spec = serving.input
    if spec.kind == "dataframe":
        return [
            {"name": c, "datatype": datatype_of(spec.dtypes.get(c, "object")), "shape": [-1]}
            for c in spec.columns
        ]
    if spec.kind in ("ndarray", "tensor"):
        shape = spec.shape or (None,)
        return [
            {
                "name": ARRAY_INPUT,
                "datatype": datatype_of(spec.dtype),
                "shape": [-1 if s is None else s for s in shape],
            }
        ]
    example = _example(sample, "request")
    return [{"name": ARRAY_INPUT, "datatype": _json_datatype(example), "shape": [-1]}]


def output_tensors(sample) -> list[dict]:
    """The model's outputs as the metadata endpoint describes them, under the names they are
    answered under (output_arrays): a DataFrame's columns, a dict's keys, else "predictions"."""
    return [
        {"name": name, "datatype": _json_datatype(values), "shape": shape}
        for name, values, shape in _output_examples(_example(sample, "expected"))
    ]


def _output_examples(example) -> list[tuple]:
    """(name, example values, shape) per output of the sample's answer."""
    if isinstance(example, list) and example and isinstance(example[0], dict):
        return [(str(name), [row.get(name) for row in example], [-1]) for name in example[0]]
    if isinstance(example, dict):
        return [(str(name), values, [-1]) for name, values in example.items()]
    shape = [-1]
    if isinstance(example, list) and example and isinstance(example[0], list):
        shape.append(len(example[0]))
    return [(OUTPUT, example, shape)]


def _example(sample, key):
    if not sample:
        return None
    value = sample.get(key) or {}
    value = value.get("predictions", value.get("instances", value.get("inputs")))
    return value


def _json_datatype(value) -> str:
    """The datatype of the leaves of a JSON value (a sample), BYTES when mixed or unknown."""
    leaves = set()
    stack = [value]
    while stack and len(leaves) < 3:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item[:50])
        else:
            leaves.add(type(item))
    if leaves == {bool}:
        return "BOOL"
    if leaves == {int}:
        return "INT64"
    if leaves and leaves <= {int, float}:
        return "FP64"
    return "BYTES"


class OpenInference:
    """The /v2 routes over the app's exchange (body reading, worker thread, ModelService)."""

    def __init__(self, exchange):
        self.exchange = exchange
        self.service = exchange.service

    def match(self, path: str):
        """(route template, {method: handler}) for a /v2 path, or None."""
        if path == "/v2":
            return path, {"GET": self.server_metadata}
        if path == "/v2/health/live":
            return path, {"GET": self.live}
        if path == "/v2/health/ready":
            return path, {"GET": self.server_ready}
        parts = path.split("/")
        if parts[:3] != ["", "v2", "models"] or len(parts) < 4 or not parts[3]:
            return None
        name, rest, version = parts[3], parts[4:], None
        template = "/v2/models/{model_name}"
        if len(rest) >= 2 and rest[0] == "versions" and rest[1]:
            version, rest = rest[1], rest[2:]
            template += "/versions/{model_version}"
        handlers = {
            (): ("GET", self.model_metadata),
            ("ready",): ("GET", self.model_ready),
            ("infer",): ("POST", self.infer),
        }
        found = handlers.get(tuple(rest))
        if found is None:
            return None
        method, handler = found
        template += "".join(f"/{part}" for part in rest)
        return template, {method: partial(handler, name=name, version=version)}

    # -- health and metadata -------------------------------------------------------------------

    async def server_metadata(self, scope, receive):
        return json_response(
            200,
            {
                "name": "jupyter-mlcontainer",
                "version": self.service.serving.generator_version,
                "extensions": EXTENSIONS,
            },
        )

    async def live(self, scope, receive):
        return json_response(200, {"live": True})

    async def server_ready(self, scope, receive):
        return self._readiness({})

    async def model_ready(self, scope, receive, name, version):
        self._check_model(name, version)
        return self._readiness({"name": name})

    def _readiness(self, body):
        reason = self.exchange.unready_reason()
        if reason is None:
            return json_response(200, {**body, "ready": True})
        payload, headers = reason
        return json_response(503, {**body, "ready": False, **payload}, headers)

    async def model_metadata(self, scope, receive, name, version):
        self._check_model(name, version)
        serving, sample = self.service.serving, self.service.sample
        return json_response(
            200,
            {
                "name": model_name(serving),
                "versions": [model_version(serving)],
                "platform": "python",
                "inputs": input_tensors(serving, sample),
                "outputs": output_tensors(sample),
            },
        )

    def _check_model(self, name, version):
        serving = self.service.serving
        known = model_name(serving)
        if name != known:
            raise BadRequest(404, f"no model named {name!r}; this server serves {known!r}")
        if version is not None and version != model_version(serving):
            raise BadRequest(
                404,
                f"model {name!r} has no version {version!r}; its version is "
                f"{model_version(serving)!r}",
            )

    # -- inference -----------------------------------------------------------------------------

    async def infer(self, scope, receive, name, version):
        self._check_model(name, version)
        service = self.service
        if not service.ready:
            return not_ready(service)
        body = await self.exchange.body(scope, receive)
        request, binary = split_body(body, dict(scope["headers"]).get(HEADER_LENGTH))
        tensors = read_inputs(request, binary)
        form, value = model_input(service.serving, tensors)
        wanted = requested_outputs(request)
        admitted = service.watch.admit(form, value)
        with blamed_on_input(admitted):
            output = await self.exchange.call_model(service.run, form, value)
        serving = service.serving
        answer = infer_response(
            output, request, model_name(serving), model_version(serving), wanted
        )
        watch = service.watch
        predictions = to_jsonable(output) if watch.wants_predictions else None
        headers = watch.answered(admitted, form, value, predictions)
        return (*answer[:3], [*answer[3], *headers]) if headers else answer


def split_body(body: bytes, header_length: bytes | None):
    """(the JSON inference request, the binary tensor data after it)."""
    if header_length is None:
        size = len(body)
    else:
        text = header_length.decode("latin-1").strip()
        if not text.isdigit() or int(text) > len(body):
            raise BadRequest(
                400,
                f"Inference-Header-Content-Length is {text!r}; it must be the byte length of the "
                f"JSON that starts the {len(body)}-byte body",
            )
        size = int(text)
    try:
        request = json.loads(body[:size])
    except (ValueError, RecursionError) as error:
        where = "the body" if header_length is None else "the inference header"
        raise BadRequest(400, f"{where} is not a JSON inference request: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest(400, 'expected an inference request object {"inputs": [...]}')
    _check_parameters(request, "the request's")
    if "id" in request and not isinstance(request["id"], str):
        raise BadRequest(
            400, f'"id" must be a string, as the answer echoes it; got {request["id"]!r}'
        )
    return request, memoryview(body)[size:]


def _check_parameters(owner: dict, whose: str) -> None:
    """ "parameters", where given, is an object (the protocol's map of names to values); null
    counts as not given."""
    parameters = owner.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest(400, f'{whose} "parameters" must be an object; got {parameters!r:.60}')


def read_inputs(request: dict, binary) -> dict:
    """{name: (datatype, numpy array of its shape)} from the request's "inputs"."""
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest(
            400, '"inputs" must be a non-empty list of {"name", "shape", "datatype", "data"}'
        )
    tensors, offset = {}, 0
    for index, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(400, f'inputs[{index}] must be an object with a string "name"')
        name = item["name"]
        if name in tensors:
            raise BadRequest(400, f"input {name!r} is given twice")
        datatype, shape = item.get("datatype"), item.get("shape")
        if not isinstance(datatype, str) or datatype not in DATATYPES:  # {} is not hashable
            raise BadRequest(
                400, f"input {name!r} has datatype {datatype!r}; expected one of {list(DATATYPES)}"
            )
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise BadRequest(400, f"input {name!r} needs a shape: a list of sizes; got {shape!r}")
        _check_parameters(item, f"input {name!r}'s")
        parameters = item.get("parameters") or {}
        size = parameters.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise BadRequest(
                    400,
                    f"input {name!r} declares binary_data_size {size!r} but only "
                    f"{len(binary) - offset} bytes of binary data follow the inference header",
                )
            array = _from_binary(name, datatype, shape, binary[offset : offset + size])
            offset += size
        elif isinstance(item.get("data"), list):
            array = _from_json(name, datatype, shape, item["data"])
        elif "data" in item:
            raise BadRequest(
                400, f'input {name!r} has "data" {item["data"]!r:.60}; expected a list of values'
            )
        else:
            raise BadRequest(400, f'input {name!r} has neither "data" nor binary_data_size')
        tensors[name] = (datatype, array)
    if offset != len(binary):
        raise BadRequest(
            400,
            f"{len(binary) - offset} bytes after the inference header belong to no input "
            "(the inputs' binary_data_size must add up to them)",
        )
    return tensors


def _from_json(name, datatype, shape, data):
    import numpy as np

    flat = _flatten(data)
    count = math.prod(shape)
    if len(flat) != count:
        raise BadRequest(
            400, f"input {name!r} has {len(flat)} values; its shape {shape} needs {count}"
        )
    if datatype == "BYTES":
        if not all(isinstance(value, str) for value in flat):
            raise BadRequest(400, f"input {name!r} is BYTES: its data must be strings")
        return np.array(flat, dtype=object).reshape(shape)
    dtype = np.dtype(DATATYPES[datatype])
    if datatype.startswith("FP"):
        # JSON numbers are doubles: the data contract sees them as sent, and the model's own
        # conversion narrows them to its dtype afterwards.
        dtype = np.dtype("<f8")
    if not flat:
        return np.empty(shape, dtype)
    try:
        array = np.asarray(flat)
    except ValueError as error:
        raise BadRequest(400, f"input {name!r}: {error}") from None
    family = datatype.rstrip("0123456789")
    if family in ("INT", "UINT"):
        array = whole_numbers(array, flat, dtype)
    if array.dtype.kind not in _JSON_KINDS[family]:
        got = _KIND_WORDS.get(array.dtype.kind, "strings or mixed values")
        raise BadRequest(400, f"input {name!r} is {datatype}: its data must be numbers; got {got}")
    types = leaf_types(flat)
    if family != "BOOL" and (array.dtype.kind == "b" or bool in types):
        raise BadRequest(400, f"input {name!r} is {datatype}; got booleans")
    if str in types:  # beside a null, numpy would read "2" as 2.0
        raise BadRequest(
            400, f"input {name!r} is {datatype}: its data must be numbers; got strings"
        )
    if family in ("INT", "UINT"):
        limits = np.iinfo(dtype)
        if int(array.min()) < limits.min or int(array.max()) > limits.max:
            raise BadRequest(
                400, f"input {name!r} is {datatype}: values must be {limits.min} to {limits.max}"
            )
    try:
        return array.astype(dtype).reshape(shape)
    except (TypeError, ValueError, OverflowError) as error:  # 10**400 is no double
        raise BadRequest(400, f"input {name!r} is {datatype}: {error}") from None


def _flatten(data):
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    flat = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def _from_binary(name, datatype, shape, raw):
    import numpy as np

    count = math.prod(shape)
    if datatype == "BYTES":
        values, offset, raw = [], 0, bytes(raw)
        while offset < len(raw):
            if offset + 4 > len(raw):
                break
            (length,) = struct.unpack_from("<I", raw, offset)
            values.append(raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        if offset != len(raw) or len(values) != count:
            raise BadRequest(
                400,
                f"input {name!r}: its {len(raw)} bytes are not {count} length-prefixed BYTES "
                f"elements (4-byte little-endian length, then the bytes) for shape {shape}",
            )
        return np.array(values, dtype=object).reshape(shape)
    dtype = np.dtype("u1" if datatype == "BOOL" else DATATYPES[datatype])
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            400,
            f"input {name!r} has {len(raw)} bytes of {datatype} data; its shape {shape} needs "
            f"{count * dtype.itemsize}",
        )
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return array != 0 if datatype == "BOOL" else array


def model_input(serving: ServingSpec, tensors: dict):
    """The typed tensors → (form, value) for the model's own input conversion (convert.py)."""
    expected = {t["name"]: t for t in input_tensors(serving, None)}
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise BadRequest(
            400, f"missing input {missing[0]!r}; the model takes inputs {list(expected)}"
        )
    unknown = [name for name in tensors if name not in expected]
    if unknown:
        raise BadRequest(
            400, f"unknown input {unknown[0]!r}; the model takes inputs {list(expected)}"
        )
    kind = serving.input.kind
    for name, (datatype, _) in tensors.items():
        wanted = expected[name]["datatype"]
        if kind in ("dataframe", "ndarray", "tensor") and datatype != wanted:
            raise BadRequest(400, f"input {name!r} has datatype {datatype}; expected {wanted}")
    if kind == "dataframe":
        return "inputs", _columns(tensors)
    datatype, array = tensors[ARRAY_INPUT]
    if kind in ("ndarray", "tensor"):
        shape = expected[ARRAY_INPUT]["shape"]
        if len(array.shape) != len(shape) or any(
            s != -1 and s != a for s, a in zip(shape, array.shape, strict=True)
        ):
            raise BadRequest(
                400,
                f"input {ARRAY_INPUT!r} has shape {list(array.shape)}; the model takes {shape} "
                "(-1: any size)",
            )
        return "inputs", array
    return "inputs", _plain(array, ARRAY_INPUT)


def _columns(tensors):
    columns, rows = {}, set()
    for name, (_, array) in tensors.items():
        if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] != 1):
            raise BadRequest(
                400,
                f"input {name!r} has shape {list(array.shape)}; a column is [rows] or [rows, 1]",
            )
        rows.add(array.shape[0])
        columns[name] = _plain(array.reshape(-1), name)
    if len(rows) > 1:
        raise BadRequest(400, f"the inputs (columns) have different numbers of rows {sorted(rows)}")
    return columns


def _plain(array, name):
    """A numpy array → nested lists, BYTES elements decoded as UTF-8 text."""
    if array.dtype.kind != "O":
        return array.tolist()
    if array.ndim > 1:
        return [_plain(row, name) for row in array]
    try:
        return [v.decode() if isinstance(v, bytes) else v for v in array]
    except UnicodeDecodeError:
        raise BadRequest(400, f"input {name!r} holds bytes that are not UTF-8 text") from None


def requested_outputs(request: dict) -> dict | None:
    """{output name: binary?} for the outputs the request asks for; None for all of them."""
    outputs = request.get("outputs")
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadRequest(400, '"outputs" must be a list of {"name": ..., "parameters": {...}}')
    wanted = {}
    for item in outputs:
        _check_parameters(item, f"output {item['name']!r}'s")
        wanted[item["name"]] = (item.get("parameters") or {}).get("binary_data")
    return wanted


def output_arrays(output) -> list:
    """The model's output → [(name, numpy array)]: a DataFrame or a dict gives one per column."""
    if hasattr(output, "columns") and hasattr(output, "to_numpy"):
        return [(str(c), output[c].to_numpy()) for c in output.columns]
    if isinstance(output, dict):
        return [(str(k), _array(v)) for k, v in output.items()]
    return [(OUTPUT, _array(output))]


def _array(value):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "to_numpy"):  # a pandas Series
        value = value.to_numpy()
    try:
        return np.asarray(value)
    except ValueError:  # ragged
        return np.array(to_jsonable(value), dtype=object)


def infer_response(output, request: dict, name: str, version: str, wanted: dict | None):
    """(status, body, content type, headers): JSON, or JSON then binary outputs."""
    arrays = output_arrays(output)
    names = [n for n, _ in arrays]
    if wanted is not None:
        for requested in wanted:
            if requested not in names:
                raise BadRequest(
                    400, f"unknown output {requested!r}; the model's outputs are {names}"
                )
        arrays = [(n, a) for n, a in arrays if n in wanted]
    parameters = request.get("parameters")
    default_binary = bool(
        isinstance(parameters, dict) and parameters.get("binary_data_output", False)
    )
    outputs, chunks = [], []
    for out_name, array in arrays:
        array = array.reshape(1) if array.ndim == 0 else array
        datatype = datatype_of(array.dtype) if array.dtype.kind in "biuf" else "BYTES"
        binary = (wanted or {}).get(out_name)
        binary = default_binary if binary is None else bool(binary)
        tensor = {"name": out_name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            raw = _to_binary(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = _to_json(array, datatype)
        outputs.append(tensor)
    body = {"model_name": name, "model_version": version, "outputs": outputs}
    if "id" in request:
        body["id"] = request["id"]
    header = json.dumps(body, separators=(",", ":")).encode()
    if not chunks:
        return 200, header, b"application/json", []
    return (
        200,
        header + b"".join(chunks),
        b"application/octet-stream",
        [(HEADER_LENGTH, str(len(header)).encode())],
    )


def _to_json(array, datatype):
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [_text(v) for v in flat]
    return to_jsonable(flat.tolist())


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return json.dumps(to_jsonable(value.item() if hasattr(value, "item") else value))


def _to_binary(array, datatype):
    if datatype == "BYTES":
        parts = []
        for value in array.reshape(-1):
            data = value if isinstance(value, bytes) else _text(value).encode()
            parts.append(struct.pack("<I", len(data)) + data)
        return b"".join(parts)
    dtype = "u1" if datatype == "BOOL" else DATATYPES[datatype]
    return array.astype(dtype).tobytes()


# -- the OpenAPI document's part ---------------------------------------------------------------


def openapi_paths(serving: ServingSpec, sample) -> dict:
    """The /v2 paths for openapi.py, with the model's name and version as the only values."""
    name, version = model_name(serving), model_version(serving)
    name_parameter = {
        "name": "model_name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [name]},
    }
    version_parameter = {
        "name": "model_version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [version]},
    }
    example = _example_request(serving, sample)
    errors = {
        "400": _error("Malformed request, or tensors of the wrong name, datatype or shape"),
        "404": _error("No model of that name or version"),
        "413": _error("Body larger than MLCONTAINER_MAX_BODY_BYTES"),
        "422": _error(
            "Values the model's input dtype cannot hold, or its data contract refuses (a "
            "category training never had, a number out of all proportion to training's)"
        ),
        "500": _error("The model raised an exception"),
        "503": _error("The model is still loading"),
    }
    infer = {
        "post": {
            "summary": "Inference (Open Inference Protocol)",
            "description": "Typed tensors in and out. The binary tensor data extension is served "
            "too, though this document cannot describe its body: with an "
            "`Inference-Header-Content-Length: N` header and `application/octet-stream`, the body "
            "is N bytes of this JSON request followed by the inputs' raw data (each input's "
            "parameters.binary_data_size bytes, in order); outputs come back binary when asked "
            "with parameters.binary_data_output or an output's parameters.binary_data.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/InferenceRequest"},
                        **({"example": example} if example else {}),
                    },
                },
            },
            "responses": {
                "200": {
                    "description": "Output tensors (JSON, or JSON then binary data)",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/InferenceResponse"}
                        },
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                },
                **errors,
            },
        }
    }

    def get(summary, schema, parameters=(), not_found=False):
        responses = {"200": {"description": "OK", "content": _json_content(schema)}}
        if not_found:
            responses["404"] = errors["404"]
        operation = {"summary": summary, "responses": responses}
        if parameters:
            operation["parameters"] = list(parameters)
        return {"get": operation}

    readiness = {"type": "object", "properties": {"ready": {"type": "boolean"}}}
    paths = {
        "/v2": get("Server metadata (Open Inference Protocol)", _ref("MetadataServerResponse")),
        "/v2/health/live": get("Server liveness (Open Inference Protocol)", {"type": "object"}),
        "/v2/health/ready": get("Server readiness: 503 while loading", readiness),
    }
    for prefix, parameters in (
        ("/v2/models/{model_name}", [name_parameter]),
        ("/v2/models/{model_name}/versions/{model_version}", [name_parameter, version_parameter]),
    ):
        paths[prefix] = get(
            "Model metadata: typed inputs and outputs",
            _ref("MetadataModelResponse"),
            parameters,
            True,
        )
        paths[f"{prefix}/ready"] = get("Model readiness", readiness, parameters, True)
        paths[f"{prefix}/infer"] = {"post": {**infer["post"], "parameters": list(parameters)}}
    return paths


#: The datatypes whose data are the same kind of JSON value.
_TENSOR_VALUES = (
    (["BOOL"], {"type": "boolean"}),
    ([d for d in DATATYPES if d.startswith(("INT", "UINT"))], {"type": "integer"}),
    ([d for d in DATATYPES if d.startswith("FP")], {"type": "number"}),
    (["BYTES"], {"type": "string"}),
)
_PARAMETERS = {"type": ["object", "null"], "additionalProperties": True}
#: An input's parameters in a JSON body: binary data would follow the JSON, which it does not.
_JSON_INPUT_PARAMETERS = {"type": ["object", "null"], "properties": {"binary_data_size": NEVER}}


def openapi_schemas(serving: ServingSpec, sample, contract=None) -> dict:
    """The /v2 schemas for openapi.py: the request as this model takes it, the answers as any
    Open Inference Protocol server gives them."""
    datatype = {"type": "string", "enum": list(DATATYPES)}
    shape = {"type": "array", "items": {"type": "integer"}}
    outputs = [tensor["name"] for tensor in output_tensors(sample)]
    metadata_tensor = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {"name": {"type": "string"}, "datatype": datatype, "shape": shape},
    }
    # One alternative per kind of value: a tensor's data holds what its datatype says, flat or
    # nested one level (row-major). Binary data is not described.
    data_tensor = {
        "oneOf": [
            {
                "type": "object",
                "required": ["name", "shape", "datatype", "data"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": shape,
                    "datatype": {"type": "string", "enum": datatypes},
                    "parameters": _PARAMETERS,
                    "data": {
                        "type": "array",
                        "description": "the values, flat or nested, in row-major order",
                        "items": {"oneOf": [value, {"type": "array", "items": value}]},
                    },
                },
            }
            for datatypes, value in _TENSOR_VALUES
        ]
    }
    return {
        "MetadataServerResponse": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "MetadataModelResponse": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": metadata_tensor},
                "outputs": {"type": "array", "items": metadata_tensor},
            },
        },
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": _PARAMETERS,
                "inputs": _request_inputs(serving, sample, contract),
                "outputs": {
                    "type": ["array", "null"],  # null, as if left out: every output
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            # the model's own; others are a 400
                            "name": {"type": "string", "enum": outputs},
                            "parameters": _PARAMETERS,
                        },
                    },
                },
            },
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": _PARAMETERS,
                "outputs": {
                    "type": "array",
                    "items": data_tensor,
                },
            },
        },
    }


def _request_inputs(serving: ServingSpec, sample, contract) -> dict:
    """The request's "inputs" as this model takes them: its tensors, by name, datatype and
    shape, with the values its data contract admits. A tensor's data fills its shape and a
    frame's columns have one length, which JSON Schema can only say one row count at a time."""
    spec = serving.input
    tensors = input_tensors(serving, sample)
    if spec.kind == "dataframe":
        leaves = [
            _leaf(
                t["datatype"], spec.dtypes.get(t["name"]), contract and contract.column(t["name"])
            )
            for t in tensors
        ]
        alternatives = [
            row_list(
                [_tensor(t, [n], flat_of(leaf, n)) for t, leaf in zip(tensors, leaves, strict=True)]
            )
            for n in row_counts()
        ]
    else:
        (tensor,) = tensors
        if spec.kind in ("ndarray", "tensor"):
            sizes = spec.shape or (None,)
            null = tensor["datatype"].startswith("FP")
            leaf, positions = array_cells(sizes, spec.dtype, contract, null)
        else:  # a list: its datatype is the sample's
            sizes, positions = (None,), None
            leaf = next(v for kinds, v in _TENSOR_VALUES if tensor["datatype"] in kinds)
        alternatives = []
        for n in row_counts():
            dims = [n, *(1 if s is None else s for s in sizes[1:])]
            flat = flat_of(leaf, size_of(dims), positions)
            nested = array_of(leaf, dims, positions and row_list(positions))
            data = flat if len(dims) == 1 else {"anyOf": [flat, nested]}
            alternatives.append(row_list([_tensor(tensor, dims, data)]))
    return {
        "anyOf": alternatives,
        "description": f"the model's inputs; up to {DESCRIBED_ROWS} rows are described here, and "
        "any number is served",
    }


def _leaf(datatype: str, dtype, column) -> dict:
    """One value of a frame's column as its tensor's datatype carries it."""
    leaf = cell(dtype, column, null=datatype.startswith("FP"))
    return strings_only(leaf) if datatype == "BYTES" else leaf


def _tensor(tensor: dict, dims: list, data: dict) -> dict:
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"const": tensor["name"]},
            "shape": {"const": dims},
            "datatype": {"const": tensor["datatype"]},
            "parameters": _JSON_INPUT_PARAMETERS,
            "data": data,
        },
    }


def _example_request(serving, sample):
    """sample.json's request as typed tensors, or None."""
    rows = _example(sample, "request")
    if not isinstance(rows, list) or not rows:
        return None
    rows = rows[:DESCRIBED_ROWS]  # as many as the document spells out
    tensors = input_tensors(serving, sample)
    if serving.input.kind == "dataframe":
        if not all(isinstance(row, dict) for row in rows):
            return None
        inputs = [
            {**t, "shape": [len(rows)], "data": [row.get(t["name"]) for row in rows]}
            for t in tensors
        ]
    else:
        shape, level = [], rows
        while isinstance(level, list):
            shape.append(len(level))
            level = level[0] if level else None
        inputs = [{**tensors[0], "shape": shape, "data": rows}]
    return {"id": "1", "inputs": inputs}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description):
    return {"description": description, "content": _json_content(_ref("Error"))}


def _json_content(schema):
    return {"application/json": {"schema": schema}}
