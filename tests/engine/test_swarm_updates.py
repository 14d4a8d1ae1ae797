"""A service update that swarm refuses because the service changed in between (swarm records an
update's progress in the service itself) is read again and sent again; any other refusal is a
clear DeployFailed. The API is scripted here; the real swarm is in tests/deploy/test_replicas.py."""

from __future__ import annotations

import pytest
from docker.errors import APIError

from jupyter_mlcontainer.engine.swarm import SPEC_ATTEMPTS, SwarmOrchestrator
from jupyter_mlcontainer.shared.errors import DeployFailed

OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"


class ScriptedAPI:
    """Refuses the first updates with the given explanations, then takes them."""

    def __init__(self, *refusals: str):
        self.refusals = list(refusals)
        self.sent: list[tuple[dict, dict]] = []

    def _url(self, path, *args):
        return path.format(*args)

    def _post_json(self, url, data, params):
        self.sent.append((data, params))
        return self.refusals.pop(0) if self.refusals else None

    def _raise_for_status(self, refusal):
        if refusal:
            raise APIError("500 Server Error", explanation=refusal)


class Service:
    def __init__(self, api: ScriptedAPI):
        self.client = self  # docker-py's model: service.client.api
        self.api = api
        self.id, self.name, self.version = "s1", "iris", 10
        self.attrs = {"Spec": {"Name": "iris", "Mode": {"Replicated": {"Replicas": 2}}}}

    def reload(self):
        self.version += 1  # swarm's updater wrote the service meanwhile


class Services:
    def __init__(self, service: Service):
        self.service = service

    def get(self, name):
        return self.service


def orchestrator(api: ScriptedAPI) -> SwarmOrchestrator:
    client = type("Client", (), {})()
    client.services = Services(Service(api))
    return SwarmOrchestrator(client)


def test_a_rollback_refused_as_out_of_sequence_is_sent_again_at_the_new_version():
    api = ScriptedAPI(OUT_OF_SEQUENCE)
    orchestrator(api).rollback_service("iris")
    assert [params for _, params in api.sent] == [
        {"version": 10, "rollback": "previous"},
        {"version": 11, "rollback": "previous"},
    ]


def test_a_scale_changes_only_the_count_and_gives_up_after_its_attempts():
    api = ScriptedAPI(*[OUT_OF_SEQUENCE] * SPEC_ATTEMPTS)
    with pytest.raises(DeployFailed, match="Swarm refused to update the service iris: .*sequence"):
        orchestrator(api).update_service("iris", replicas=3)
    assert len(api.sent) == SPEC_ATTEMPTS
    assert api.sent[0][0] == {"Name": "iris", "Mode": {"Replicated": {"Replicas": 3}}}


def test_another_refusal_is_not_retried():
    api = ScriptedAPI("rpc error: code = InvalidArgument desc = bad spec")
    with pytest.raises(DeployFailed, match="bad spec"):
        orchestrator(api).rollback_service("iris")
    assert len(api.sent) == 1
