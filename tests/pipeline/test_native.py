"""Shared libraries the wheels need, read from real wheels and resolved to Debian packages."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from jupyter_mlcontainer.pipeline.native import (
    missing_libraries,
    system_packages,
    wheel_libraries,
)
from jupyter_mlcontainer.shared.errors import DependencyError


def _wheel_with_library(tmp_path: Path, name: str, needed: str) -> Path:
    """A wheel holding one real shared object that links `needed` (built with the C compiler)."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to build a shared object")
    source = tmp_path / "ext.c"
    source.write_text("int answer(void) { return 42; }\n")
    library = tmp_path / "_ext.so"
    link = f"-l:{needed}" if needed.startswith("lib") else needed
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-Wl,--no-as-needed", str(source), "-o", str(library), link],
        check=True,
        capture_output=True,
    )
    wheel = tmp_path / f"{name}-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(library, f"{name}/_ext.so")
        archive.writestr(f"{name}/__init__.py", "")
    return wheel


def test_a_wheel_that_links_openmp_needs_libgomp1(tmp_path):
    wheel = _wheel_with_library(tmp_path, "boosted", "libgomp.so.1")
    libraries = wheel_libraries(wheel)
    assert "libgomp.so.1" in libraries["needed"]
    assert "_ext.so" in libraries["provided"]
    missing = missing_libraries([wheel], base_libraries=set())
    assert missing == {"libgomp.so.1": ["boosted"]}, "glibc's own libraries are always there"
    assert system_packages(missing) == ["libgomp1"]
    assert missing_libraries([wheel], base_libraries={"libgomp.so.1"}) == {}, "the base has it"
    assert wheel.with_name(wheel.name + ".libraries.json").is_file(), "read once per wheel"


def test_a_vendored_library_needs_no_system_package(tmp_path):
    """auditwheel renames and ships libraries inside the wheel (scikit_learn.libs/...)."""
    wheel = _wheel_with_library(tmp_path, "vendoring", "libgomp.so.1")
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("vendoring.libs/libgomp.so.1", b"\x7fELF not really")
    assert missing_libraries([wheel], base_libraries=set()) == {}


def test_an_unknown_library_is_named_with_its_wheel_unless_a_package_is_given():
    missing = {"libexotic.so.3": ["quantlib"]}
    with pytest.raises(DependencyError) as caught:
        system_packages(missing)
    assert "libexotic.so.3 (needed by quantlib)" in caught.value.message
    assert "--system-package" in caught.value.hint
    assert system_packages(missing, ["libexotic3"]) == ["libexotic3"]


def test_system_package_names_are_checked_before_they_reach_a_dockerfile():
    with pytest.raises(DependencyError, match="Not a Debian package name"):
        system_packages({}, ["libgomp1 && curl example.invalid"])
    assert system_packages({}, ["libgomp1", "libgomp1"]) == ["libgomp1"]


@pytest.mark.engine
def test_the_base_image_is_asked_once_what_it_provides(engine, base_image):
    from jupyter_mlcontainer.pipeline.native import base_libraries

    provided = base_libraries(engine, base_image)
    assert {"libc.so.6", "libstdc++.so.6"} <= provided
    if base_image.startswith("mlcontainer/python:"):
        assert "libgomp.so.1" in provided, "the offline base image carries OpenMP"
    assert base_libraries(engine, base_image) == provided  # read from the cache this time
    assert base_libraries(engine, "mlcontainer-test/not-here:1") == set()
