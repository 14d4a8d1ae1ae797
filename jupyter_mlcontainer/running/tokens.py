"""The bearer tokens of locked instances and deployments, kept where only their user reads them.

A locked instance gets a token file of its own, mounted read-only into its container (the
runtime reads it: runtime/auth.py), so the token is in no image layer, label, environment or
log. The tool remembers which URL it locks, so every client of this package (`inst`, the test
panel, the sidebar's requests, parity checks) sends it without being told; a user shown the
token once sends it themselves (`Authorization: Bearer <token>`).

Layout: `<cache>/tokens/` (mode 0700) holds one file per token, readable inside the container
(0644 under a folder nobody else may enter), and `by-url/`, an index from URL to token file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from ..engine.locate import LOOPBACK
from ..shared.config import cache_dir
from ..shared.errors import RunFailed


def _folder(*parts: str) -> Path:
    folder = cache_dir("tokens", *parts)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(cache_dir("tokens"), 0o700)
    return folder


def new_token_file() -> Path:
    """A fresh token, in a file the container's user can read once it is mounted."""
    path = _folder() / f"{secrets.token_hex(8)}.token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    return path


def read_token(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def remember(url: str, token_file: Path) -> None:
    """The instance or front at `url` is locked with the token in `token_file`."""
    index = _folder("by-url") / url_key(url)
    index.write_text(str(token_file), encoding="utf-8")
    index.chmod(0o600)


def token_file_for(url: str) -> Path | None:
    """The token file of the locked instance at `url`, if this user started one there."""
    index = cache_dir("tokens", "by-url", url_key(url))
    if not index.is_file():
        return None
    path = Path(index.read_text(encoding="utf-8").strip())
    return path if path.is_file() else None


def token_for(url: str) -> str | None:
    path = token_file_for(url)
    return read_token(path) if path else None


def forget(url: str) -> None:
    """The instance at `url` is gone: its token with it."""
    path = token_file_for(url)
    cache_dir("tokens", "by-url", url_key(url)).unlink(missing_ok=True)
    if path is not None:
        path.unlink(missing_ok=True)


def lock_for(engine, options, previous_url: str | None = None) -> Path | None:
    """The token file to lock a new instance with (`options.auth`): a replaced instance's, so
    its clients keep working, or a new one. None to serve unlocked, which a remote engine
    (publishing beyond 127.0.0.1) is refused unless `options.insecure_no_auth` says so."""
    if options.auth is None:
        if engine.publish_on != LOOPBACK and not options.insecure_no_auth:
            raise RunFailed(
                f"The engine publishes instances on {engine.publish_on}, where other machines "
                "reach them, and nothing would lock this one.",
                "Pass --auth token (a bearer token, shown once), or --insecure-no-auth to "
                "serve it open anyway.",
            )
        return None
    existing = token_file_for(previous_url) if previous_url else None
    return existing or new_token_file()


def shown_once(token: str) -> str:
    """How a front door shows a new token, the one time it does."""
    return (
        f"token: {token}\n(shown once: send it as `Authorization: Bearer <token>`; this tool's "
        "own clients send it for you)"
    )


def url_key(url: str) -> str:
    """What a URL is remembered by: its host and port."""
    parts = urlsplit(url)
    return f"{parts.hostname}_{parts.port or 80}"
