"""Cookie mode and CORS through a real gunicorn: the headers and cookies exactly as they go over HTTP.

Clients keep ``Secure`` cookies only over HTTPS, so each request here sends its ``Cookie``
header by hand, and the raw ``Set-Cookie`` headers are read attribute by attribute.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import STRONG_PASSWORD
from cookies import CSRF_COOKIE, REFRESH_COOKIE, SetCookie, cookie_header, parse_set_cookies
from server import Server, running_gunicorn

APP_ORIGIN = "https://app.example.com"
REFRESH_LIFETIME = 7 * 24 * 3600
LOGIN = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken }
}
"""
REFRESH = "mutation { refreshAccessToken { token refreshToken } }"
LOGOUT = "mutation { deleteRefreshTokenCookie { deleted } }"
WHOAMI = "{ whoami { username } }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(
        tmp_path_factory.mktemp("cookie"), workers=1, JWT_REFRESH_COOKIE="true", CORS_ORIGINS=APP_ORIGIN
    ) as server:
        yield server


def post(
    server: Server,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    sent = dict(headers or {})
    if cookies:
        sent["Cookie"] = cookie_header(cookies)
    return requests.post(
        server.graphql_url,
        json={"query": query, "variables": variables},
        headers=sent,
        timeout=server.request_timeout,
    )


def set_cookies(response: requests.Response) -> dict[str, SetCookie]:
    """The response's Set-Cookie headers, each one on its own (requests would join them)."""
    return parse_set_cookies(response.raw.headers.getlist("Set-Cookie"))


def log_in(server: Server) -> tuple[str, dict[str, str], requests.Response]:
    """A new account logged in: its access token, the cookies a browser would send back, the answer."""
    username, _ = server.register("cookie")
    response = post(server, LOGIN, {"username": username, "password": STRONG_PASSWORD})
    assert response.status_code == 200, response.text
    cookies = set_cookies(response)
    body = response.json()["data"]["tokenAuth"]
    return body["token"], {name: cookie.value for name, cookie in cookies.items()}, response


def refresh_tokens(server: Server) -> object:
    return server.scalar("SELECT count(*) FROM refresh_tokens")


def test_the_refresh_token_travels_only_in_an_httponly_cookie(server: Server) -> None:
    _, cookies, response = log_in(server)

    assert response.json()["data"]["tokenAuth"]["refreshToken"] == ""
    assert cookies[REFRESH_COOKIE] not in response.text
    issued = set_cookies(response)
    refresh, csrf = issued[REFRESH_COOKIE], issued[CSRF_COOKIE]
    assert refresh.has("HttpOnly") and refresh.has("Secure")
    assert refresh["SameSite"] == "Strict" and refresh["Path"] == "/graphql"
    assert REFRESH_LIFETIME - 10 <= int(refresh["Max-Age"]) <= REFRESH_LIFETIME
    # Readable by scripts, sent back with every path of the site, gone with the refresh cookie.
    assert not csrf.has("HttpOnly") and csrf.has("Secure")
    assert csrf["SameSite"] == "Strict" and csrf["Path"] == "/" and csrf["Max-Age"] == refresh["Max-Age"]
    assert response.headers["X-CSRF-Token"] == cookies[CSRF_COOKIE]


@pytest.mark.parametrize("csrf_header", [None, "", "not-the-csrf-cookie"])
def test_a_refresh_without_the_right_csrf_header_is_refused_and_rotates_nothing(
    server: Server, csrf_header: str | None
) -> None:
    _, cookies, _ = log_in(server)
    before = refresh_tokens(server)
    headers = {} if csrf_header is None else {"X-CSRF-Token": csrf_header}

    response = post(server, REFRESH, cookies=cookies, headers=headers)

    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    assert "Set-Cookie" not in response.headers
    assert refresh_tokens(server) == before
    # The cookie's token is still the live one.
    response = post(server, REFRESH, cookies=cookies, headers={"X-CSRF-Token": cookies[CSRF_COOKIE]})
    assert response.json()["data"]["refreshAccessToken"]["refreshToken"] == ""
    assert set_cookies(response)[REFRESH_COOKIE].value != cookies[REFRESH_COOKIE]
    assert refresh_tokens(server) == before + 1


def test_no_cookie_authenticates_whoami(server: Server) -> None:
    token, cookies, _ = log_in(server)
    # Every cookie the old clients or django-graphql-jwt's JWT_COOKIE ever used, holding live tokens.
    everything = {**cookies, "JWT": token, "token": token, "access_token": token}

    response = post(server, WHOAMI, cookies=everything, headers={"X-CSRF-Token": cookies[CSRF_COOKIE]})

    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    assert "Set-Cookie" not in response.headers
    assert server.graphql(WHOAMI, token=token)["data"]["whoami"]["username"].startswith("cookie")


def test_logout_expires_the_cookie_and_ends_the_session(server: Server) -> None:
    token, cookies, _ = log_in(server)

    # As a browser sends it: the cookies, no CSRF header needed to log out.
    response = post(server, LOGOUT, cookies=cookies)

    assert response.json() == {"data": {"deleteRefreshTokenCookie": {"deleted": True}}}
    expired = set_cookies(response)
    assert expired[REFRESH_COOKIE].value == "" and expired[REFRESH_COOKIE]["Max-Age"] == "0"
    assert expired[REFRESH_COOKIE]["Path"] == "/graphql" and expired[REFRESH_COOKIE].has("HttpOnly")
    assert expired[CSRF_COOKIE].value == "" and expired[CSRF_COOKIE]["Max-Age"] == "0"
    whoami = server.graphql(WHOAMI, token=token)
    assert whoami["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    again = post(server, REFRESH, cookies=cookies, headers={"X-CSRF-Token": cookies[CSRF_COOKIE]})
    assert again.json()["errors"][0]["extensions"]["code"] == "TOKEN_REVOKED"


def test_cors_answers_only_the_listed_origin(server: Server) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization, x-csrf-token",
    }

    allowed = requests.options(
        server.graphql_url, headers={**preflight, "Origin": APP_ORIGIN}, timeout=server.request_timeout
    )
    refused = requests.options(
        server.graphql_url,
        headers={**preflight, "Origin": "https://evil.example.com"},
        timeout=server.request_timeout,
    )
    allowed_post = post(server, WHOAMI, headers={"Origin": APP_ORIGIN})
    refused_post = post(server, WHOAMI, headers={"Origin": "https://evil.example.com"})

    assert allowed.status_code in (200, 204)
    assert allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert allowed.headers["Access-Control-Allow-Headers"] == "authorization, content-type, x-csrf-token"
    assert allowed_post.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Origin" in allowed_post.headers["Vary"]
    for response in (refused, refused_post):
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]
