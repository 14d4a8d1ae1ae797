"""A made-up installed distribution in a folder of its own, for tests of what the trial hides."""

from __future__ import annotations

from pathlib import Path


def install_fake(
    site: Path, name: str, source: str = "", version: str = "1.0", requires: tuple = ()
) -> Path:
    """`site/name/__init__.py` holding `source`, with the `.dist-info` that makes
    `importlib.metadata` count it as the distribution `name`, declaring the dependencies
    `requires` (`Requires-Dist` lines); returns `site`."""
    package = site / name
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(source)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    declared = "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{declared}"
    )
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n")
    return site
