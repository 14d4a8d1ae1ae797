"""Every route asks the server's Authorizer: a read-only user may look but not build or stop."""

from __future__ import annotations

import pytest
from jupyter_server.auth import Authorizer

from test_server_api import ROUTES, call


class ReadOnly(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return action == "read" and resource == "mlcontainer"


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_mlcontainer": True},
            "authorizer_class": ReadOnly,
        }
    }


#: What each read answers once authorized: the data, or 404 for the names that do not exist.
READ_STATUS = {
    "config": 200,
    "candidates?path=model.ipynb": 404,
    "jobs": 200,
    "jobs/abc123": 404,
    "jobs/abc123/events": 404,
    "instances": 200,
    "instances/some-name": 404,
    "instances/some-name/logs": 404,
    "instances/some-name/drift": 404,
    "instances/some-name/data-drift": 404,
    "deployments": 200,
    "deployments/some-name": 404,
}


@pytest.mark.parametrize("method,route", ROUTES)
async def test_only_reads_pass_a_read_only_authorizer(jp_fetch, engine, method, route):
    status, body = await call(jp_fetch, method, route)
    assert status == (READ_STATUS[route] if method == "GET" else 403), body
