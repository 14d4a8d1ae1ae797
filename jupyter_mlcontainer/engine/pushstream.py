"""Docker's push output → our `ProgressEvent`s: one `step` per layer (n of m) with its bytes.

A pure function over the decoded stream, tested on recorded streams; errors become a
`PushFailed` that says what to do (start the registry, `docker login`, trust an HTTP registry).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..shared.errors import PushFailed
from ..shared.events import ProgressEvent

#: Statuses that end a layer: sent now, or already in the registry (or mounted from a sibling).
_SENT = "Pushed"
_REUSED = ("Layer already exists", "Mounted from")
#: The closing status line, "TAG: digest: sha256:… size: N": Podman sends no `aux` with the
#: digest (nor per-layer lines), so this is where its digest is read.
_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclass
class PushTally:
    """What a push did, filled in while its events are read."""

    digest: str = ""
    layers: int = 0
    layers_sent: int = 0
    bytes_sent: int = 0


def push_events(
    chunks: Iterable[dict], registry: str, tally: PushTally, engine_host: str = ""
) -> Iterator[ProgressEvent]:
    layers: list[str] = []
    current: dict[str, int] = {}
    done = 0
    for chunk in chunks:
        if "error" in chunk:
            raise push_error(chunk["error"], registry, engine_host)
        status, layer = chunk.get("status", ""), chunk.get("id")
        if "aux" in chunk and chunk["aux"].get("Digest"):
            tally.digest = chunk["aux"]["Digest"]
        elif not tally.digest and (found := _DIGEST.search(status)):
            tally.digest = found.group(1)
        if not layer:
            continue
        if layer not in layers:
            layers.append(layer)
        if status == "Pushing":
            current[layer] = (chunk.get("progressDetail") or {}).get(
                "current", current.get(layer, 0)
            )
        elif status == _SENT or status.startswith(_REUSED):
            done += 1
            sent = status == _SENT
            if sent:
                tally.layers_sent += 1
                tally.bytes_sent += current.get(layer, 0)
            how = f"sent {current.get(layer, 0) / 1e6:.1f} MB" if sent else "already there"
            yield ProgressEvent("step", f"layer {layer}: {how}", "push", done, len(layers))
    tally.layers = len(layers)


def push_error(message: str, registry: str, engine_host: str = "") -> PushFailed:
    """The engine's error, with what to do about it. `engine_host`: the machine a remote engine
    runs on, which is the one that connects to the registry."""
    text = message.lower()
    if "server gave http response to https client" in text:
        hint = (  # Docker trusts 127.0.0.0/8 unasked, Podman trusts no plain-HTTP registry
            f"{registry} speaks plain HTTP, which the engine only trusts when told to. Docker: add "
            f'"insecure-registries": ["{registry}"] to /etc/docker/daemon.json and restart the '
            f'engine. Podman: add `[[registry]]` `location = "{registry}"` `insecure = true` to '
            "~/.config/containers/registries.conf (rootless; /etc/containers/registries.conf "
            "with root). Or serve the registry over HTTPS."
        )
    elif any(word in text for word in ("unauthorized", "authentication required", "denied")):
        hint = (
            f"Log in first with `docker login {registry}`; credentials stay in your Docker "
            "configuration and are never stored by jupyter-mlcontainer."
        )
    elif any(
        word in text for word in ("connection refused", "no such host", "i/o timeout", "dial tcp")
    ):
        hint = f"Check that a registry runs at {registry} and that this machine reaches it."
        if engine_host:
            hint = (
                f"The engine on {engine_host} pushes, not this machine: check that a registry "
                f"runs at {registry} and that {engine_host} reaches it."
            )
            host = registry.rsplit(":", 1)[0]
            if host in ("127.0.0.1", "localhost", "[::1]"):
                hint += (
                    f" There {host} is {engine_host}'s own loopback: name the registry by an "
                    "address that machine reaches."
                )
    else:
        hint = "Read the registry's answer above."
    return PushFailed(f"Pushing to {registry} failed: {message}", hint)
