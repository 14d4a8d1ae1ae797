"""Docker's push stream → progress events and errors that say what to do, on recorded streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyter_mlcontainer.engine.pushstream import PushTally, push_error, push_events
from jupyter_mlcontainer.shared.errors import PushFailed

STREAMS = Path(__file__).resolve().parent / "streams"


def recorded(name: str) -> list[dict]:
    return [json.loads(line) for line in (STREAMS / f"{name}.jsonl").read_text().splitlines()]


def test_a_first_push_counts_layers_and_the_bytes_it_sent():
    tally = PushTally()
    events = list(push_events(recorded("push_first"), "127.0.0.1:5055", tally))
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
    assert events[0].message == "layer 1cbb1f16c3b9: already there"  # mounted from a sibling
    assert events[1].message == "layer b6ab6114586f: sent 2.0 MB"
    assert tally.layers == 3 and tally.layers_sent == 2
    assert tally.bytes_sent == 2001920 + 3001856
    assert tally.digest.startswith("sha256:09a168bb")


def test_a_second_push_sends_nothing():
    tally = PushTally()
    events = list(push_events(recorded("push_again"), "127.0.0.1:5055", tally))
    assert [e.message for e in events] == ["layer 1cbb1f16c3b9: already there"]
    assert tally.layers_sent == 0 and tally.bytes_sent == 0 and tally.digest


def test_an_unreachable_registry_says_to_check_it():
    with pytest.raises(PushFailed) as caught:
        list(push_events(recorded("push_unreachable"), "127.0.0.1:5099", PushTally()))
    assert "connection refused" in caught.value.message
    assert "Check that a registry runs at 127.0.0.1:5099" in caught.value.hint


@pytest.mark.parametrize(
    "message,advice",
    [
        ("unauthorized: authentication required", "docker login registry.example:443"),
        ("denied: requested access to the resource is denied", "docker login registry.example:443"),
        ("http: server gave HTTP response to HTTPS client", '"insecure-registries"'),
    ],
)
def test_refusals_say_what_to_do(message, advice):
    assert advice in push_error(message, "registry.example:443").hint
