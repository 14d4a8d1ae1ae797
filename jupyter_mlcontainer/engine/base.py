"""Vocabulary shared by engines and their callers, with no Docker import."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

LABEL_PREFIX = "io.mlcontainer"
#: Every image and container the project makes carries this label, so the engine
#: itself is the record of what exists (nothing is lost when Jupyter restarts).
MANAGED_LABEL = f"{LABEL_PREFIX}.managed"


def label(name: str) -> str:
    return f"{LABEL_PREFIX}.{name}"


@dataclass(frozen=True)
class Instance:
    """A running (or stopped) serving container."""

    id: str
    name: str
    image: str
    url: str
    status: str
    labels: dict = field(default_factory=dict)
    created: str = ""

    def to_dict(self) -> dict:
        return asdict(self)
