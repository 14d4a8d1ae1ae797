"""The offline base image command."""

from __future__ import annotations

import subprocess

import pytest

from jupyter_mlcontainer.engine import baseimage
from jupyter_mlcontainer.shared.errors import BaseImageError


@pytest.mark.engine
def test_base_image_runs_python_311_and_is_idempotent(engine, base_image):
    """Setup built the offline image; a second run must skip and print the same tag."""
    result = subprocess.run(
        ["jupyter", "mlcontainer", "base-image", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == baseimage.base_image_tag()
    assert "already exists" in result.stderr
    version = engine.run_command(baseimage.base_image_tag(), ["python3", "--version"])
    assert version.startswith("Python 3.11.")
    venv = engine.run_command(baseimage.base_image_tag(), ["python3", "-m", "venv", "/tmp/v"])
    assert venv == ""


def test_tag_follows_the_suites_python():
    assert baseimage.base_image_tag("bookworm") == "mlcontainer/python:3.11-bookworm"
    with pytest.raises(BaseImageError, match="Unknown Debian suite"):
        baseimage.base_image_tag("hamm")


def test_refuses_without_debootstrap(monkeypatch):
    monkeypatch.setattr(baseimage.shutil, "which", lambda name: None)
    with pytest.raises(BaseImageError) as caught:
        baseimage.check_can_bootstrap()
    assert "apt-get install -y debootstrap" in caught.value.hint


def test_refuses_without_root(monkeypatch):
    monkeypatch.setattr(baseimage.shutil, "which", lambda name: "/usr/sbin/debootstrap")
    monkeypatch.setattr(baseimage.os, "geteuid", lambda: 1000)
    with pytest.raises(BaseImageError) as caught:
        baseimage.check_can_bootstrap()
    assert "root" in caught.value.message
