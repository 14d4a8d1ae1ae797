"""`app/serving.json`, the contract between the build and the runtime of every image, as values.

The build writes it (`ServingSpec.to_json`) and the records beside the state
(`NotebookRecord`, `StateRecord`); the runtime, the magic and the drift check read it
(`ServingSpec.from_json`, with the records merged in by `with_records`), so that none of them
indexes its keys by hand. An image outlives the
version that built it: a key an older build left out takes its default, and a key a newer one
added is ignored. Standard library only: this module runs inside every image.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from .datacontract import DataContract

#: The contract's files, relative to the serving root. The records lie beside the state, not in
#: app/, so that a re-training or a saved notebook changes only the image's last layers.
SERVING_SPEC = "app/serving.json"
NOTEBOOK_RECORD = "artifacts/notebook.json"
STATE_RECORD = "artifacts/state.json"
#: The training data's contract: a re-training changes it (the predictions' shares at least), so
#: it lies with the state and a re-trained model still gets the state-only rebuild.
CONTRACT_RECORD = "artifacts/contract.json"

#: The module render generates from the notebook's kept code.
GENERATED_MODULE = "notebook_code"
ENTRY_KINDS = ("function", "model")
INPUT_KINDS = ("dataframe", "ndarray", "tensor", "list")


class SpecError(ValueError):
    """A file that is not the serving spec, or the record, that it should be."""


class EntryNotCallable(ValueError):
    """The entry names something that cannot be called the way the spec says."""


class _File:
    """A contract file: JSON with sorted keys, so that the same build gives the same bytes."""

    FILE = ""

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise SpecError(f"{cls.FILE} is not JSON ({error}); build the image again") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Entry:
    """What the image calls: a global function, or a method of a global model."""

    kind: str  # one of ENTRY_KINDS
    name: str
    method: str = "predict"  # a model's

    def __post_init__(self):
        if self.kind not in ENTRY_KINDS:
            raise SpecError(f"entry kind {self.kind!r} is not 'function' or 'model'")

    def describe(self) -> str:
        """`clf.predict_proba` or `predict()`, for labels and messages."""
        return f"{self.name}.{self.method}" if self.kind == "model" else f"{self.name}()"

    def resolve(self, lookup):
        """The callable the entry names; `lookup(name)` finds a global (in a module or a kernel)."""
        target = lookup(self.name)
        if self.kind == "function":
            return target
        method = getattr(target, self.method, None)
        if not callable(method):
            raise EntryNotCallable(
                f"{self.name} ({type(target).__name__}) has no method {self.method!r}"
            )
        return method

    def to_dict(self) -> dict:
        data = {"kind": self.kind, "name": self.name}
        return {**data, "method": self.method} if self.kind == "model" else data

    @classmethod
    def from_dict(cls, data) -> Entry:
        return _build(cls, data, f"{SERVING_SPEC}'s entry")


@dataclass(frozen=True)
class InputSpec:
    """How the runtime rebuilds the model's input from JSON (written by capture.describe_input)."""

    kind: str = "list"  # one of INPUT_KINDS
    columns: tuple = ()  # a DataFrame's, in order
    dtypes: dict = field(default_factory=dict)  # a DataFrame's pandas dtype per column
    dtype: str = "float64"  # an array's or a tensor's
    shape: tuple | None = None  # an array's or a tensor's, None for a free axis; None: any

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise SpecError(f"input kind {self.kind!r} is not one of {', '.join(INPUT_KINDS)}")

    def to_dict(self) -> dict:
        """The fields its kind uses, as capture writes them."""
        if self.kind == "dataframe":
            return {"kind": self.kind, "columns": list(self.columns), "dtypes": dict(self.dtypes)}
        if self.kind in ("ndarray", "tensor"):
            shape = {} if self.shape is None else {"shape": list(self.shape)}
            return {"kind": self.kind, "dtype": self.dtype, **shape}
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, data) -> InputSpec:
        return _build(cls, data, f"{SERVING_SPEC}'s input", columns=tuple, dtypes=dict, shape=tuple)


@dataclass(frozen=True)
class Batching:
    """Whether concurrent requests may share one model call (the build decides it on the
    sample, pipeline/batching.py), and up to how many rows for how long."""

    enabled: bool = False
    max_batch: int = 64
    max_wait_ms: float = 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data) -> Batching:
        return _build(cls, data, f"{SERVING_SPEC}'s batching")


@dataclass(frozen=True)
class NotebookRecord(_File):
    """The notebook the image was built from; images built before NOTEBOOK_RECORD kept it in
    serving.json as "notebook"."""

    FILE = NOTEBOOK_RECORD

    path: str = ""  # its file name
    sha256: str = ""
    code_sha256: str = ""
    cells: tuple | None = None  # one object per code cell (cells.code_cell_hashes); None: unknown

    @classmethod
    def from_dict(cls, data) -> NotebookRecord:
        return _build(cls, data, cls.FILE, cells=tuple)


@dataclass(frozen=True)
class StateRecord(_File):
    """The captured state's files, the only ones the runtime loads; images built before
    STATE_RECORD kept it in serving.json as "state"."""

    FILE = STATE_RECORD

    sha256: str = ""  # over all the files, to compare a live kernel's capture with an image's
    files: dict = field(default_factory=dict)  # file name → sha256

    @classmethod
    def from_dict(cls, data) -> StateRecord:
        return _build(cls, data, cls.FILE, files=dict)


@dataclass(frozen=True)
class ServingSpec(_File):
    """What an image serves, how it reads the input, and what it was built from."""

    FILE = SERVING_SPEC

    entry: Entry
    input: InputSpec = field(default_factory=InputSpec)
    module: str = GENERATED_MODULE
    name: str = ""  # the image's, and the model's in the Open Inference Protocol's paths
    batching: Batching = field(default_factory=Batching)
    python: str = ""  # the kernel's major.minor
    packages: dict = field(default_factory=dict)  # distribution → the version the image pins
    generator: str = ""  # "jupyter-mlcontainer <version>"
    notebook: NotebookRecord = field(default_factory=NotebookRecord)
    state: StateRecord = field(default_factory=StateRecord)
    contract: DataContract | None = None  # the training data's; None: built before it existed

    @property
    def generator_version(self) -> str:
        """The version of jupyter-mlcontainer that built the image, or "unknown"."""
        return self.generator.rpartition(" ")[2] or "unknown"

    def with_records(
        self,
        notebook: str | bytes | None = None,
        state: str | bytes | None = None,
        contract: str | bytes | None = None,
    ) -> ServingSpec:
        """This spec with the records the build keeps beside the state (their JSON text), in
        place of those that older images kept in serving.json."""
        return replace(
            self,
            notebook=self.notebook if notebook is None else NotebookRecord.from_json(notebook),
            state=self.state if state is None else StateRecord.from_json(state),
            contract=self.contract if contract is None else contract_from_json(contract),
        )

    def to_dict(self) -> dict:
        """serving.json's object; a record left empty (the build keeps them beside the state)
        is left out."""
        data = {
            "module": self.module,
            "name": self.name,
            "entry": self.entry.to_dict(),
            "input": self.input.to_dict(),
            "batching": self.batching.to_dict(),
            "python": self.python,
            "packages": dict(self.packages),
            "generator": self.generator,
        }
        for key, record in (("notebook", self.notebook), ("state", self.state)):
            if record != type(record)():
                data[key] = record.to_dict()
        if self.contract is not None:
            data["contract"] = self.contract.to_dict()
        return data

    def metadata(self) -> dict:
        """The part of the spec /metadata shows ("notebook" and "contract" null when the image
        has none: the contract is what a 422 refers its client to)."""
        data = self.to_dict()
        return {
            "entry": data["entry"],
            "input": data["input"],
            "packages": data["packages"],
            "notebook": data.get("notebook"),
            "contract": data.get("contract"),
        }

    @classmethod
    def from_dict(cls, data) -> ServingSpec:
        if not isinstance(data, dict) or "entry" not in data:
            raise SpecError(
                f"{cls.FILE} is not a serving spec: it has no entry point (expected an object "
                'with an "entry"); build the image again with jupyter-mlcontainer'
            )
        return _build(
            cls,
            data,
            cls.FILE,
            entry=Entry.from_dict,
            input=InputSpec.from_dict,
            batching=Batching.from_dict,
            packages=dict,
            notebook=NotebookRecord.from_dict,
            state=StateRecord.from_dict,
            contract=_contract,
        )


def contract_from_json(text: str | bytes) -> DataContract:
    """artifacts/contract.json's contract."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SpecError(f"{CONTRACT_RECORD} is not JSON ({error}); build the image again") from None
    return _contract(data)


def _contract(data) -> DataContract:
    if not isinstance(data, dict):
        raise SpecError(f"{SERVING_SPEC}'s contract is {type(data).__name__}, not a JSON object")
    return DataContract.from_dict(data)


def _build(cls, data, where: str, **convert):
    """`cls` from a JSON object: a key it does not know is ignored, one that is missing or null
    takes its default, and `convert` turns a key's JSON value into the field's."""
    if not isinstance(data, dict):
        raise SpecError(f"{where} is {type(data).__name__}, not a JSON object")
    names = {f.name for f in fields(cls)}
    values = {key: value for key, value in data.items() if key in names and value is not None}
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise SpecError(f"{where} lacks {', '.join(map(repr, missing))}")
    for key, make in convert.items():  # tuple("abc") and dict([...]) would not refuse them
        json_type = {tuple: list, dict: dict}.get(make)
        if json_type and key in values and not isinstance(values[key], json_type):
            raise SpecError(
                f"{where}'s {key!r} is {type(values[key]).__name__}, not a JSON "
                + ("array" if json_type is list else "object")
            )
    try:
        return cls(**{k: convert[k](v) if k in convert else v for k, v in values.items()})
    except SpecError:
        raise
    except (TypeError, ValueError) as error:
        raise SpecError(f"{where} holds a value of the wrong type: {error}") from None
