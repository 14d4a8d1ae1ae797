"""Start only images this tool built, unless asked: `run`, `deploy` and `predict` hand an
image's entry point the user's engine and ports (and, for `predict`, a file), and an image that
did not come from a notebook here runs code nobody reviewed through it."""

from __future__ import annotations

from ..engine.base import ENTRY_LABEL, ContainerEngine
from ..shared.errors import ForeignImage


def refuse_foreign(engine: ContainerEngine, image: str, allowed: bool) -> None:
    """ForeignImage unless `image` carries the entry label every build writes, or `allowed`.
    A missing image is left to the caller's own error."""
    if allowed or not engine.image_exists(image):
        return
    if ENTRY_LABEL not in engine.image_labels(image):
        raise ForeignImage(
            f"{image} was not built by jupyter-mlcontainer (it has no {ENTRY_LABEL} label), so "
            "what it runs is unknown.",
            "Build the notebook instead, or, if you trust the image, pass --allow-foreign "
            '(REST: "allow_foreign": true).',
        )
