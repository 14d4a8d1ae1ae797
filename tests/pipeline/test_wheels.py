"""Wheels for the image: a serving speed-up without a wheel for the platform is left out."""

import pytest

from jupyter_mlcontainer.pipeline import wheels
from jupyter_mlcontainer.shared.errors import DependencyError


@pytest.fixture
def fake_index(tmp_path, monkeypatch):
    """pip download that has a wheel for everything but `httptools` and `missing`."""
    monkeypatch.setattr(wheels, "cache_folder", lambda python, machine: tmp_path)

    def download(packages, python, machine, cache):
        if {"httptools", "missing"} & set(packages):
            raise DependencyError("no wheel", "")
        for name, version in packages.items():
            (cache / f"{name}-{version}-py3-none-any.whl").write_bytes(b"")

    monkeypatch.setattr(wheels, "_pip_download", download)


def test_an_optional_wheel_missing_for_the_platform_leaves_the_lock(fake_index):
    pins = {"uvicorn": "0.54.0", "httptools": "0.9.0", "orjson": "3.13.0"}
    found = wheels.download_wheels(pins, "3.11")
    assert sorted(p.name.split("-")[0] for p in found) == ["orjson", "uvicorn"]
    assert wheels.with_wheels(pins, found) == {"uvicorn": "0.54.0", "orjson": "3.13.0"}


def test_a_required_wheel_missing_still_stops_the_build(fake_index):
    with pytest.raises(DependencyError):
        wheels.download_wheels({"uvicorn": "0.54.0", "missing": "1.0"}, "3.11")
