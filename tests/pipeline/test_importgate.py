"""The import gate: a hidden distribution looks not installed, to imports and to metadata."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

import pytest
from fakedist import install_fake

from jupyter_mlcontainer.pipeline.importgate import ImportGate


@pytest.fixture
def site(tmp_path, monkeypatch):
    install_fake(tmp_path, "gated_optional", "VALUE = 2\n")
    (tmp_path / "gated_user.py").write_text(
        "try:\n    import gated_optional\nexcept ImportError:\n    gated_optional = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("gated_optional", "gated_user"):
        sys.modules.pop(name, None)


def test_a_hidden_distribution_is_as_if_not_installed(site):
    gate = ImportGate({"gated_optional"}, {"Gated_Optional"})
    gate.install()
    try:
        import gated_user

        assert gated_user.gated_optional is None, "the library's guard took the fallback"
        assert importlib.util.find_spec("gated_optional") is None
        with pytest.raises(ModuleNotFoundError) as caught:
            import gated_optional  # noqa: F401
        assert caught.value.name == "gated_optional"
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.version("gated-optional")
        assert importlib.metadata.version("pytest"), "other distributions stay listed"
    finally:
        gate.remove()
    assert gate.refused == {"gated_optional": "gated_user"}, "the first module that asked"
    assert sys.meta_path[0] is not gate
    import gated_optional

    assert gated_optional.VALUE == 2, "once removed, the gate hides nothing"


def test_a_gate_that_hides_nothing_changes_nothing(site):
    gate = ImportGate((), ())
    gate.install()
    try:
        import gated_user
    finally:
        gate.remove()
    assert gated_user.gated_optional.VALUE == 2 and gate.refused == {}
