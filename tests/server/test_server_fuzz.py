"""Generated request bodies against every route that takes one: never a server error, always a
JSON reply with a message for what is refused. Nothing accepted is run: queued work is recorded,
not executed, so a generated body can never build, push or turn on swarm mode."""

from __future__ import annotations

import random

import pytest

from jupyter_mlcontainer.server.jobs import JobManager, JobRecord
from jupyter_mlcontainer.server.validation import (
    DEPLOY_FIELDS,
    JOB_FIELDS,
    PUSH_FIELDS,
    ROLLOUT_FIELDS,
    SCALE_FIELDS,
)

from test_server_api import call

#: Bodies generated per route; a fixed seed makes a failure reproducible.
BODIES = 150
SEED = 20261201

ROUTES = [
    ("POST", "jobs", JOB_FIELDS),
    ("POST", "push", PUSH_FIELDS),
    ("POST", "deployments", DEPLOY_FIELDS),
    ("PATCH", "deployments/some-name", SCALE_FIELDS),
    ("POST", "deployments/some-name/rollout", ROLLOUT_FIELDS),
    ("POST", "instances/some-name/predict", {"payload": (dict, "")}),
]

STRINGS = ["", "model.ipynb", "../../etc/passwd", "a\u0000b", "é" * 300, "127.0.0.1:5000/x", "-1"]


def value(rng: random.Random, depth: int = 0):
    """Any JSON value, biased to the edges: huge and negative numbers, odd strings, nesting."""
    kinds = ["null", "bool", "int", "float", "string", "list", "object"]
    kind = rng.choice(kinds if depth < 4 else kinds[:5])
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, 1, -1, 2, 65536, 10**20, -(10**20), rng.randint(-999, 999)])
    if kind == "float":
        return rng.choice([0.5, -1.5, 1e308, -1e-308, rng.uniform(-1e6, 1e6)])
    if kind == "string":
        return rng.choice(STRINGS + ["".join(rng.choice("aZ9_-./:@ ") for _ in range(12))])
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["x", "path", "name", ""]): value(rng, depth + 1) for _ in range(2)}


def body(rng: random.Random, fields: dict):
    """Mostly objects built from the route's own fields (so validation is reached and passed
    sometimes), sometimes unknown keys, sometimes not an object at all."""
    roll = rng.random()
    if roll < 0.05:
        return value(rng)  # not an object
    if roll < 0.10:
        return rng.choice(["{", "[1, 2", "nul", '{"a": 1}}', "\u00ff"])  # not JSON
    chosen = rng.sample(sorted(fields), rng.randint(0, len(fields)))
    generated = {key: value(rng) for key in chosen}
    if rng.random() < 0.15:
        generated[rng.choice(["extra", "__proto__", "PATH"])] = value(rng)
    return generated


@pytest.fixture
def nothing_runs(monkeypatch):
    queued = []

    def record(self, job: JobRecord) -> JobRecord:
        queued.append(job)
        self._jobs[job.id] = job
        return job

    monkeypatch.setattr(JobManager, "_queue", record)
    return queued


@pytest.mark.parametrize("method,route,fields", ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES])
async def test_generated_bodies_never_cause_a_server_error(
    jp_fetch, engine, nothing_runs, method, route, fields
):
    rng = random.Random(f"{SEED}{route}")
    statuses = {}
    for _ in range(BODIES):
        sent = body(rng, fields)
        status, reply = await call(
            jp_fetch, method, route, sent if not isinstance(sent, str) else sent
        )
        assert status < 500, (sent, reply)
        if status >= 400:
            assert isinstance(reply, dict) and reply.get("message"), (sent, reply)
        statuses[status] = statuses.get(status, 0) + 1
    assert 400 in statuses, statuses  # the generator does reach refusals
