"""Where the serving root is: the build context's layout places this package at <root>/app/."""

import os
from pathlib import Path


def root() -> Path:
    """`<root>/app/mlcontainer_runtime/` → `<root>`, unless MLCONTAINER_ROOT says otherwise."""
    override = os.environ.get("MLCONTAINER_ROOT")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[2]
