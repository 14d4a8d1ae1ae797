"""The installed package: console script, server extension, prebuilt JupyterLab extension."""

from __future__ import annotations

import json
import re
import subprocess

import pytest


def _listing(*command: str) -> str:
    """Both streams of a jupyter listing command, without terminal colours."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_console_script_has_help():
    assert "base-image" in _listing("jupyter", "mlcontainer", "--help")


def test_server_extension_is_enabled():
    listing = _listing("jupyter", "server", "extension", "list")
    assert "jupyter_mlcontainer enabled" in listing
    assert "jupyter_mlcontainer 0.1.0 OK" in listing


def test_labextension_is_installed_and_enabled():
    listing = _listing("jupyter", "labextension", "list")
    lines = [line for line in listing.splitlines() if "jupyter-mlcontainer" in line]
    assert lines and "enabled" in lines[0] and "OK" in lines[0], listing


async def test_config_route_needs_auth_and_reports_settings(jp_fetch):
    response = await jp_fetch("mlcontainer", "config")
    body = json.loads(response.body)
    assert body["version"] == "0.1.0"
    assert "base_image" in body


async def test_config_route_rejects_requests_without_a_token(jp_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlcontainer", "config", headers={"Authorization": ""})
    assert caught.value.code == 403
