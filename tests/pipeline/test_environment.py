"""Pinning the serving environment from the kernel's installed distributions."""

from __future__ import annotations

import importlib.metadata as metadata

import pytest

from jupyter_mlcontainer.pipeline.environment import pin_environment, requirement_lines
from jupyter_mlcontainer.shared.errors import DependencyError


def test_modules_map_to_distributions_closed_over_their_dependencies():
    pins, warnings = pin_environment(["sklearn", "json", "local_helpers"], [], {"local_helpers"})
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    for dependency in ("numpy", "scipy", "joblib", "threadpoolctl"):
        assert pins[dependency] == metadata.version(dependency)
    assert pins["uvicorn"] == metadata.version("uvicorn"), "the serving runtime is always pinned"
    assert not {"json", "local-helpers", "jupyterlab", "ipykernel", "matplotlib"} & set(pins)
    assert warnings == []
    assert list(pins) == sorted(pins)


def test_a_module_no_distribution_provides_is_a_warning():
    _, warnings = pin_environment(["no_such_module_anywhere"], [], set())
    assert "no_such_module_anywhere" in warnings[0]


def test_requirements_are_pinned_to_what_the_kernel_runs():
    pins, warnings = pin_environment([], ["joblib>=1.0", "packaging<1"], set())
    assert pins["joblib"] == metadata.version("joblib")
    assert pins["packaging"] == metadata.version("packaging")
    assert "'packaging<1' is pinned to" in warnings[0]


def test_a_requirement_the_kernel_lacks_says_how_to_fix_it():
    with pytest.raises(DependencyError) as caught:
        pin_environment([], ["no-such-distribution==1.0"], set())
    assert "pip install 'no-such-distribution==1.0'" in caught.value.hint


def test_requirements_txt_beside_the_notebook_is_read_like_repo2docker(tmp_path):
    assert requirement_lines(tmp_path) == []
    (tmp_path / "environment.yml").write_text(
        "dependencies:\n  - python=3.11\n  - scikit-learn=1.5\n  - nodejs\n  - pip:\n    - joblib\n"
    )
    assert requirement_lines(tmp_path) == ["scikit-learn", "joblib"], (
        "conda-only packages are left out"
    )
    (tmp_path / "requirements.txt").write_text(
        "# pinned\n--index-url https://example.invalid\njoblib>=1  # ok\n\n"
    )
    assert requirement_lines(tmp_path) == ["joblib>=1"], (
        "requirements.txt wins over environment.yml"
    )
