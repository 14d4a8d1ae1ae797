"""A browser's session (a login cookie, no token header): every route that changes something
needs the XSRF token Jupyter gives the page, and with it each answers as with a token."""

from __future__ import annotations

import secrets

import pytest

from test_server_api import ROUTES, TOKEN_STATUS, call

CHANGING = [(method, route) for method, route in ROUTES if method != "GET"]


async def login(jp_fetch, jp_serverapp) -> dict:
    """The headers of a logged-in page: the cookies the server set when its token was given
    once in the URL, as when JupyterLab opens from `…/lab?token=…`."""
    response = await jp_fetch(
        "api",
        "status",
        params={"token": jp_serverapp.identity_provider.token},
        headers={"Authorization": ""},
    )
    cookies = [c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie")]
    assert cookies, "the token in the URL logs the page in"
    return {"Authorization": "", "Cookie": "; ".join(cookies)}


@pytest.mark.parametrize("method,route", CHANGING)
async def test_a_session_without_the_xsrf_token_is_refused(jp_fetch, jp_serverapp, method, route):
    session = await login(jp_fetch, jp_serverapp)
    xsrf = secrets.token_hex(16)
    for headers in (
        session,  # no XSRF token at all
        {**session, "Cookie": f"{session['Cookie']}; _xsrf={xsrf}", "X-XSRFToken": "0" * 32},
    ):
        status, body = await call(jp_fetch, method, route, headers=dict(headers))
        assert status == 403 and "XSRF" in body["message"].upper(), (headers, body)


@pytest.mark.parametrize("method,route", ROUTES)
async def test_a_session_with_the_xsrf_token_answers_as_a_token_does(
    jp_fetch, jp_serverapp, engine, method, route
):
    session = await login(jp_fetch, jp_serverapp)
    xsrf = secrets.token_hex(16)
    headers = {**session, "Cookie": f"{session['Cookie']}; _xsrf={xsrf}", "X-XSRFToken": xsrf}
    status, body = await call(jp_fetch, method, route, headers=headers)
    assert status == TOKEN_STATUS[method, route], body
