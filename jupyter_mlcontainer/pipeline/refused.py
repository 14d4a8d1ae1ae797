"""The error for values the served code needs that no serializer can save.

An open file, a database connection, a thread, a lock or a generator lives outside Python's
own memory or midway through running code, so no file can carry it into the image: the image
must make its own. The error names each such variable, its type and the statement that made
it, found in the kernel's input history (`In`, whose index is the count Jupyter shows beside the
cell), and says how to move that statement where the image runs it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..shared.errors import CaptureError

FIX = (
    "Let the image make its own: create each in a cell that the served code keeps (inside the "
    "served function, or a function it calls), or tag the cell that makes it "
    "mlcontainer:include."
)


@dataclass(frozen=True)
class Refusal:
    """One variable that could not be saved, and why."""

    name: str
    type: str  # its class, as module.Name (builtins without the module)
    reason: str


def refusal(name: str, value, reason: str) -> Refusal:
    cls = type(value)
    module = "" if cls.__module__ == "builtins" else f"{cls.__module__}."
    return Refusal(name, f"{module}{cls.__qualname__}", reason)


def refused_error(refusals: list[Refusal], namespace: dict) -> CaptureError:
    """One error for every refused variable, each with the statement that made it."""
    history = namespace.get("In")
    lines = [
        f"- `{r.name}` ({r.type}), made by {made_by(r.name, history)}: {r.reason}" for r in refusals
    ]
    return CaptureError(
        "Nothing was built: the served code needs values that cannot be saved for the "
        "image.\n" + "\n".join(lines),
        FIX,
    )


def made_by(name: str, history: list | None) -> str:
    """The last statement of the kernel's history that binds `name`, and its cell's count."""
    if history:
        from .cells import parse_cells

        cells = [{"cell_type": "code", "source": source or ""} for source in history]
        statements, _ = parse_cells(cells)
        for statement in reversed(statements):
            if name in statement.defines:
                more = " …" if "\n" in statement.source.strip() else ""
                return f"`{statement.first_line}{more}` in cell [{statement.cell}]"
    return "a statement that is not in the kernel's history"
