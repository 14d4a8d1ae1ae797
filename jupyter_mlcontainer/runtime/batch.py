"""Batch scoring with the image itself: `docker run --rm -i IMAGE predict < in.csv > out.csv`.

Rows are read and predicted in chunks, so memory stays bounded whatever the input's size; each
chunk goes through the same input conversion and checks as an HTTP request. Progress goes to
stderr; a bad value stops the run naming its row (1-based, header not counted) and the reason.
Formats: CSV (a header row), JSON lines (one object or array per line), and Parquet when pyarrow
is in the image (read from a seekable file, so `-v` mount it rather than pipe it).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Iterator

from .convert import BadRequest

#: Rows predicted at once: large enough to amortise the model call, small enough to bound memory.
CHUNK_ROWS = 10_000


class BatchError(Exception):
    """A row that cannot be predicted; the message names it."""


def score(service, source, sink, fmt: str = "csv", chunk_rows: int = CHUNK_ROWS, progress=None):
    """Predict every row of `source` (a binary stream) into `sink` (a text stream) in the same
    format (Parquet in, CSV out). Returns the number of rows."""
    progress = progress or sys.stderr
    writer = _writer(fmt, sink)
    done, started = 0, time.perf_counter()
    for predictions in _predicted_chunks(service, source, fmt, chunk_rows):
        writer(predictions)
        done += len(predictions)
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"{done} rows predicted ({rate:,.0f} rows/s)", file=progress, flush=True)
    return done


def _predicted_chunks(service, source, fmt: str, chunk_rows: int) -> Iterator[list]:
    """CSV with pandas in the image: parsed by pandas and handed to the model as it takes it, a
    chunk at a time; a chunk that does not fit (a bad value) goes the checked way, which names
    the row. Otherwise every chunk goes the checked way."""
    if fmt == "csv" and _has_pandas():
        import pandas as pd

        done = 0
        reader = pd.read_csv(source, chunksize=chunk_rows, dtype=_csv_dtypes(service))
        for frame in reader:
            inputs = _model_input(service, frame)
            if inputs is not None:
                _admit(service, "inputs", {str(c): frame[c].tolist() for c in frame.columns}, done)
                yield service.predict_inputs(inputs)
            else:
                header = [str(c) for c in frame.columns]
                rows = [
                    _row(service, header, ["" if pd.isna(v) else str(v) for v in cells], done + i)
                    for i, cells in enumerate(frame.itertuples(index=False), 1)
                ]
                yield _predict(service, rows, done)
            done += len(frame)
        return
    done = 0
    for rows in _chunks(_rows(source, fmt, service), chunk_rows):
        yield _predict(service, rows, done)
        done += len(rows)


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _csv_dtypes(service):
    """Text columns stay text (a code like '007' is not a number); the rest pandas infers."""
    dtypes = service.serving.input.dtypes
    return {c: str for c, d in dtypes.items() if d in ("object", "string", "str")} or None


def _model_input(service, frame):
    """The chunk as the model takes it, when it fits exactly; None to take the checked way."""
    import numpy as np

    spec = service.serving.input
    try:
        if spec.kind == "ndarray":
            shape = spec.shape or (None, None)
            if len(shape) != 2 or shape[1] not in (None, frame.shape[1]):
                return None
            return frame.to_numpy(dtype=np.dtype(spec.dtype))
        if spec.kind == "dataframe" and set(frame.columns) == set(spec.columns):
            dtypes = {c: d for c, d in spec.dtypes.items() if d != "object"}
            return frame[list(spec.columns)].astype(dtypes)
    except (ValueError, TypeError):
        return None
    return None


def _admit(service, form: str, value, before: int) -> None:
    """The data contract's check of a chunk, as an HTTP request's (rows numbered from 1)."""
    contract = service.serving.contract
    if contract is not None and contract.array and form == "inputs":
        form, value = "rows", [list(cells) for cells in zip(*value.values(), strict=True)]
    try:
        service.watch.admit(form, value, first_row=before + 1)
    except BadRequest as error:
        raise BatchError(error.message) from None


def _predict(service, rows: list, before: int) -> list:
    _admit(service, "rows", rows, before)
    try:
        return service.predict({"instances": rows})["predictions"]
    except BadRequest:
        for index, row in enumerate(rows):  # find the first row the model refuses
            try:
                service.predict({"instances": [row]})
            except BadRequest as error:
                raise BatchError(f"row {before + index + 1}: {error.message}") from None
        raise


def _rows(source, fmt: str, service) -> Iterator:
    if fmt == "csv":
        return _csv_rows(source, service)
    if fmt == "jsonl":
        return _jsonl_rows(source)
    if fmt == "parquet":
        return _parquet_rows(source)
    raise BatchError(f"unknown format {fmt!r}; use csv, jsonl or parquet")


def _csv_rows(source, service) -> Iterator:
    """Objects keyed by the header for a DataFrame model, numbers for an array model: CSV cells
    are text, so numbers are parsed here where the model wants numbers."""
    reader = csv.reader(io.TextIOWrapper(source, encoding="utf-8", newline=""))
    header = next(reader, None)
    if header is None:
        return
    for number, cells in enumerate(reader, 1):
        yield _row(service, header, cells, number)


def _row(service, header: list, cells: list, number: int):
    """One CSV row as a request row: numbers for an array model, an object for a DataFrame."""
    if len(cells) != len(header):
        raise BatchError(f"row {number}: {len(cells)} cells where the header has {len(header)}")
    spec = service.serving.input
    pairs = zip(header, cells, strict=True)
    if spec.kind != "dataframe":
        return [_number(cell, number, column) for column, cell in pairs]
    return {
        column: _typed(cell, spec.dtypes.get(column, ""), number, column) for column, cell in pairs
    }


def _typed(cell: str, dtype: str, number: int, column: str):
    if cell == "":
        return None
    if dtype.startswith(("int", "uint", "float", "Int", "UInt", "Float")):
        return _number(cell, number, column)
    if dtype in ("bool", "boolean"):
        return cell.strip().lower() in ("true", "1", "yes")
    return cell


def _number(cell: str, number: int, column: str):
    try:
        value = float(cell)
    except ValueError:
        raise BatchError(f"row {number}, column {column!r}: {cell!r} is not a number") from None
    return (
        int(value) if value.is_integer() and "." not in cell and "e" not in cell.lower() else value
    )


def _jsonl_rows(source) -> Iterator:
    for number, line in enumerate(io.TextIOWrapper(source, encoding="utf-8"), 1):
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as error:
                raise BatchError(f"row {number}: not JSON ({error})") from None


def _parquet_rows(source) -> Iterator:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise BatchError("Parquet needs pyarrow, which this image does not have") from None
    for batch in parquet.ParquetFile(source).iter_batches(batch_size=CHUNK_ROWS):
        yield from batch.to_pylist()


def _chunks(rows: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _writer(fmt: str, sink):
    """A function writing one chunk of predictions; CSV gets its header from the first."""
    if fmt == "jsonl":

        def write_lines(predictions):
            sink.write("".join(json.dumps({"prediction": p}) + "\n" for p in predictions))

        return write_lines
    table = csv.writer(sink, lineterminator="\n")
    header: list = []

    def write_rows(predictions):
        if not header:
            header.extend(_columns(predictions[0]))
            table.writerow(header)
        table.writerows(_cells(p, header) for p in predictions)

    return write_rows


def _columns(prediction) -> list:
    if isinstance(prediction, dict):
        return list(prediction)
    if isinstance(prediction, list):
        return [f"prediction_{i}" for i in range(len(prediction))]
    return ["prediction"]


def _cells(prediction, header: list) -> list:
    if isinstance(prediction, dict):
        return [prediction.get(column) for column in header]
    if isinstance(prediction, list):
        return prediction
    return [prediction]
