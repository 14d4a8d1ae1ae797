"""A bearer token that locks the served API: `Authorization: Bearer <token>` on every route but
the probes an orchestrator calls without credentials.

The token is read from a file (`MLCONTAINER_TOKEN_FILE`: a Docker secret in swarm mode, a
Kubernetes Secret's volume, a read-only file mounted into a plain instance), never from an
environment variable, so that it is in no image layer, label, `inspect` output or log.
"""

from __future__ import annotations

import hmac
import os

TOKEN_FILE_VARIABLE = "MLCONTAINER_TOKEN_FILE"
#: Where a locked container finds its token: a file mounted read-only, or a Docker secret.
TOKEN_MOUNT = "/run/secrets/mlcontainer-token"
#: Routes that answer without the token: liveness and readiness probes.
OPEN_PATHS = frozenset({"/health", "/ready", "/ping", "/v2/health/live", "/v2/health/ready"})


class TokenError(Exception):
    """The token file is named but cannot be used: the instance must not serve unlocked."""


def load_token(environ=None) -> bytes | None:
    """The token, or None when no token file is named (the API is open)."""
    environ = os.environ if environ is None else environ
    path = environ.get(TOKEN_FILE_VARIABLE)
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            token = file.read().strip()
    except OSError as error:
        raise TokenError(f"{TOKEN_FILE_VARIABLE}={path} cannot be read: {error}") from None
    if len(token) < 16:
        raise TokenError(f"{TOKEN_FILE_VARIABLE}={path} holds no token of 16 characters or more")
    return token


def authorized(headers: list, token: bytes) -> bool:
    """Whether the request's headers carry `Authorization: Bearer <token>`."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False
