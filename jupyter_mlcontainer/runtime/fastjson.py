"""JSON on the request path: orjson when the image has it (several times faster on arrays of
numbers), the standard library otherwise, with the same error messages.

One difference: orjson reads an integer past 64 bits as a float, where the standard library keeps
an int; a model's input casts refuse both alike."""

import json

try:
    import orjson
except ImportError:  # an image built without its wheel still serves, more slowly
    orjson = None

ENGINE = "orjson" if orjson is not None else "json"


def loads(body: bytes, parse_constant):
    """The parsed body. orjson is strict JSON; whatever it refuses (NaN, Infinity, bad UTF-8)
    is parsed again by the standard library, whose `parse_constant` and messages then decide."""
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body, parse_constant=parse_constant)


def dumps(value) -> bytes:
    """Compact JSON bytes; values orjson cannot write (integers past 64 bits, non-string keys)
    go through the standard library."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:
            pass
    return json.dumps(value, separators=(",", ":")).encode()
