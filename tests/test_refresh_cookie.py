"""Cookie mode (JWT_REFRESH_COOKIE): refresh tokens only in an HttpOnly cookie, refreshed and ended
with a CSRF double submit; and without it, the relaxed arguments still ask for a token."""

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from conftest import (
    CREATE_USER,
    STRONG_PASSWORD,
    GraphQL,
    configured_app,
    count_rows,
    empty_tables,
)
from cookies import CSRF_COOKIE, REFRESH_COOKIE, SetCookie, cookie_header, parse_set_cookies
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.config import ConfigError, settings_from_env
from service.extensions import db

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken refreshExpiresIn }
}
"""
REFRESH = "mutation { refreshAccessToken { token refreshToken refreshExpiresIn } }"
REFRESH_DJANGO_NAME = "mutation { refreshToken { token refreshToken } }"
REFRESH_WITH_ARGUMENT = """
mutation Refresh($refreshToken: String) {
  refreshAccessToken(refreshToken: $refreshToken) { token refreshToken }
}
"""
REVOKE = "mutation { revokeToken { revoked } }"
REVOKE_WITH_ARGUMENT = (
    "mutation Logout($refreshToken: String) { revokeToken(refreshToken: $refreshToken) { revoked } }"
)
DELETE_COOKIE = "mutation { deleteRefreshTokenCookie { deleted } }"
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { ok token refreshToken }
}
"""
WHOAMI = "{ whoami { username } }"
REFRESH_LIFETIME = 7 * 24 * 3600
NEW_PASSWORD = "purple submarine under the bridge"


@pytest.fixture(scope="module")
def cookie_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, JWT_REFRESH_COOKIE=True) as app:
        yield app


@pytest.fixture
def browser(cookie_app: Flask) -> FlaskClient:
    """A client on an empty database that keeps no cookies: each test sends them by hand."""
    empty_tables(cookie_app)
    return cookie_app.test_client(use_cookies=False)


def send(
    client: FlaskClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    cookies: dict[str, str] | None = None,
    csrf: str | None = None,
    token: str | None = None,
) -> tuple[TestResponse, dict[str, Any]]:
    """``query`` with the ``cookies`` given, ``csrf`` as the X-CSRF-Token header and ``token`` as a JWT."""
    headers = {}
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    if token:
        headers["Authorization"] = f"JWT {token}"
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    return response, response.get_json()


def issued(response: TestResponse) -> tuple[SetCookie, SetCookie]:
    """The refresh and CSRF cookies an answer sets (both must be there)."""
    cookies = parse_set_cookies(response.headers.getlist("Set-Cookie"))
    assert set(cookies) == {REFRESH_COOKIE, CSRF_COOKIE}, cookies
    return cookies[REFRESH_COOKIE], cookies[CSRF_COOKIE]


def sent_back(response: TestResponse) -> dict[str, str]:
    """The cookies a browser would send after ``response``."""
    refresh, csrf = issued(response)
    return {REFRESH_COOKIE: refresh.value, CSRF_COOKIE: csrf.value}


def register(client: FlaskClient, username: str = "ali") -> tuple[TestResponse, dict[str, Any]]:
    email = f"{username}@example.com"
    variables = {"input": {"username": username, "email": email, "password": STRONG_PASSWORD}}
    response, body = send(client, CREATE_USER, variables)
    assert "errors" not in body, body
    return response, body["data"]["createUser"]


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


# Handing out the cookie


def test_login_puts_the_refresh_token_only_in_an_httponly_cookie(browser: FlaskClient) -> None:
    register(browser)

    response, body = send(browser, TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})

    login = body["data"]["tokenAuth"]
    assert login["refreshToken"] == ""
    refresh, csrf = issued(response)
    assert len(refresh.value) == 43 and refresh.value not in response.get_data(as_text=True)
    assert refresh.has("HttpOnly") and refresh.has("Secure")
    assert refresh["SameSite"] == "Strict" and refresh["Path"] == "/graphql"
    # Max-Age is what is left of the refresh token's life.
    assert REFRESH_LIFETIME - 5 <= int(refresh["Max-Age"]) <= REFRESH_LIFETIME
    assert abs(login["refreshExpiresIn"] - int(refresh["Max-Age"]) - login_time(login)) <= 5
    # The CSRF cookie is for scripts to read, and comes in a header too.
    assert not csrf.has("HttpOnly") and csrf.has("Secure")
    assert csrf["SameSite"] == "Strict" and csrf["Path"] == "/"
    assert csrf["Max-Age"] == refresh["Max-Age"]
    assert len(csrf.value) >= 43 and response.headers["X-CSRF-Token"] == csrf.value


def login_time(login: dict[str, Any]) -> int:
    return jwt.decode(login["token"], options={"verify_signature": False})["iat"]


def test_registration_and_password_change_set_the_cookie_too(browser: FlaskClient, cookie_app: Flask) -> None:
    response, created = register(browser)
    first = sent_back(response)
    assert created["refreshToken"] == ""

    response, body = send(
        browser,
        CHANGE_PASSWORD,
        {"oldPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD},
        token=created["token"],
    )

    assert body["data"]["changePassword"]["refreshToken"] == ""
    second = sent_back(response)
    assert second[REFRESH_COOKIE] != first[REFRESH_COOKIE] and second[CSRF_COOKIE] != first[CSRF_COOKIE]
    # The new cookie is the live one; the registration's session ended with the change.
    _, body = send(browser, REFRESH, cookies=second, csrf=second[CSRF_COOKIE])
    assert body["data"]["refreshAccessToken"]["token"]
    _, body = send(browser, REFRESH, cookies=first, csrf=first[CSRF_COOKIE])
    assert error_of(body)["extensions"]["code"] == "TOKEN_REVOKED"


# Refreshing from the cookie


@pytest.mark.parametrize(
    ("query", "field"), [(REFRESH, "refreshAccessToken"), (REFRESH_DJANGO_NAME, "refreshToken")]
)
def test_refresh_from_the_cookie_with_the_csrf_header_rotates_into_a_new_cookie(
    browser: FlaskClient, query: str, field: str
) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)

    response, body = send(browser, query, cookies=cookies, csrf=cookies[CSRF_COOKIE])

    assert "errors" not in body, body
    assert body["data"][field]["refreshToken"] == "" and body["data"][field]["token"]
    rotated = sent_back(response)
    assert rotated[REFRESH_COOKIE] != cookies[REFRESH_COOKIE]
    assert rotated[CSRF_COOKIE] != cookies[CSRF_COOKIE]
    # The cookie's token is used up (reuse ends the session), the new one works.
    _, body = send(browser, query, cookies=cookies, csrf=cookies[CSRF_COOKIE])
    assert error_of(body)["extensions"]["code"] == "TOKEN_REVOKED"


@pytest.mark.parametrize(
    ("csrf_cookie", "csrf_header"),
    [
        ("from-login", None),  # no header
        ("from-login", ""),
        ("from-login", "a-guess-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ("from-login", "from-login-but-longer"),
        (None, "from-login"),  # the header, but no CSRF cookie to match
        ("", ""),
        ("Ünïcode", "Ünïcode-guess"),
    ],
)
def test_refresh_from_the_cookie_without_a_matching_csrf_header_is_forbidden_and_rotates_nothing(
    browser: FlaskClient, cookie_app: Flask, csrf_cookie: str | None, csrf_header: str | None
) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)
    real = cookies[CSRF_COOKIE]
    sent = {REFRESH_COOKIE: cookies[REFRESH_COOKIE]}
    if csrf_cookie is not None:
        sent[CSRF_COOKIE] = csrf_cookie.replace("from-login", real)
    header = None if csrf_header is None else csrf_header.replace("from-login", real)
    tokens_before = count_rows(cookie_app, "refresh_tokens")

    response, body = send(browser, REFRESH, cookies=sent, csrf=header)

    error = error_of(body)
    assert error["extensions"] == {"code": "FORBIDDEN"}
    assert "X-CSRF-Token" in error["message"]
    assert body["data"] == {"refreshAccessToken": None}
    assert "Set-Cookie" not in response.headers and "X-CSRF-Token" not in response.headers
    assert count_rows(cookie_app, "refresh_tokens") == tokens_before
    # The cookie's token was not used up: with the right header it still refreshes.
    _, body = send(browser, REFRESH, cookies=cookies, csrf=real)
    assert body["data"]["refreshAccessToken"]["token"]


def test_refresh_without_argument_or_cookie_names_the_field(browser: FlaskClient) -> None:
    response, body = send(browser, REFRESH, csrf="anything")

    error = error_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["refreshToken"]
    assert "Set-Cookie" not in response.headers


def test_a_refresh_token_passed_as_the_argument_needs_no_csrf_and_comes_back_as_the_cookie(
    browser: FlaskClient,
) -> None:
    """Old clients that keep the token themselves; they get the new one only as the cookie."""
    response, _ = register(browser)
    cookies = sent_back(response)

    response, body = send(browser, REFRESH_WITH_ARGUMENT, {"refreshToken": cookies[REFRESH_COOKIE]})

    assert body["data"]["refreshAccessToken"]["refreshToken"] == ""
    assert sent_back(response)[REFRESH_COOKIE] != cookies[REFRESH_COOKIE]


def test_an_empty_argument_reads_the_cookie_as_if_left_out(browser: FlaskClient) -> None:
    """Clients that send back the "" the answers carry in cookie mode."""
    response, _ = register(browser)
    cookies = sent_back(response)

    _, refused = send(browser, REFRESH_WITH_ARGUMENT, {"refreshToken": ""}, cookies=cookies)
    response, body = send(
        browser, REFRESH_WITH_ARGUMENT, {"refreshToken": ""}, cookies=cookies, csrf=cookies[CSRF_COOKIE]
    )

    assert error_of(refused)["extensions"]["code"] == "FORBIDDEN"
    assert body["data"]["refreshAccessToken"]["token"] and sent_back(response)


def test_a_refused_refresh_token_from_the_cookie_leaves_the_cookies_alone(browser: FlaskClient) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)
    send(browser, REFRESH, cookies=cookies, csrf=cookies[CSRF_COOKIE])

    response, body = send(browser, REFRESH, cookies=cookies, csrf=cookies[CSRF_COOKIE])

    assert error_of(body)["extensions"]["code"] == "TOKEN_REVOKED"
    assert "Set-Cookie" not in response.headers


# Logging out


def test_revoke_token_from_the_cookie_ends_the_session_and_expires_the_cookies(
    browser: FlaskClient, cookie_app: Flask
) -> None:
    response, created = register(browser)
    cookies = sent_back(response)

    assert live_sessions(cookie_app) == 1

    # Logging out needs no CSRF header: a forged logout could only sign the user out.
    response, body = send(browser, REVOKE, cookies=cookies)

    assert body["data"]["revokeToken"]["revoked"] > 0
    assert_expired(response)
    assert live_sessions(cookie_app) == 0
    _, body = send(browser, WHOAMI, token=created["token"])
    assert error_of(body)["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}


def test_delete_refresh_token_cookie_ends_the_session_and_expires_the_cookies(
    browser: FlaskClient, cookie_app: Flask
) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)

    response, body = send(browser, DELETE_COOKIE, cookies=cookies, csrf=cookies[CSRF_COOKIE])

    assert body == {"data": {"deleteRefreshTokenCookie": {"deleted": True}}}
    assert_expired(response)
    assert live_sessions(cookie_app) == 0
    _, body = send(browser, REFRESH, cookies=cookies, csrf=cookies[CSRF_COOKIE])
    assert error_of(body)["extensions"]["code"] == "TOKEN_REVOKED"


def test_delete_refresh_token_cookie_needs_no_csrf_header(browser: FlaskClient, cookie_app: Flask) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)

    response, body = send(browser, DELETE_COOKIE, cookies=cookies, csrf="wrong")

    assert body == {"data": {"deleteRefreshTokenCookie": {"deleted": True}}}
    assert_expired(response)
    assert live_sessions(cookie_app) == 0


def test_delete_refresh_token_cookie_expires_a_cookie_whose_session_already_ended(
    browser: FlaskClient,
) -> None:
    response, _ = register(browser)
    cookies = sent_back(response)
    send(browser, REVOKE_WITH_ARGUMENT, {"refreshToken": cookies[REFRESH_COOKIE]})

    response, body = send(browser, DELETE_COOKIE, cookies=cookies, csrf=cookies[CSRF_COOKIE])

    assert body == {"data": {"deleteRefreshTokenCookie": {"deleted": True}}}
    assert_expired(response)


def test_delete_refresh_token_cookie_without_a_cookie_deletes_nothing(browser: FlaskClient) -> None:
    response, body = send(browser, DELETE_COOKIE)

    assert body == {"data": {"deleteRefreshTokenCookie": {"deleted": False}}}
    assert "Set-Cookie" not in response.headers


def live_sessions(app: Flask) -> int:
    return count_rows(app, "login_sessions") - count_revoked(app)


def count_revoked(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT count(*) FROM login_sessions WHERE revoked_at IS NOT NULL"))


def assert_expired(response: TestResponse) -> None:
    """Both cookies expired, with the attributes they were set with."""
    refresh, csrf = issued(response)
    for cookie, path in ((refresh, "/graphql"), (csrf, "/")):
        assert cookie.value == "" and cookie["Max-Age"] == "0" and cookie["Path"] == path
        assert cookie.has("Secure") and cookie["SameSite"] == "Strict"
    assert refresh.has("HttpOnly") and not csrf.has("HttpOnly")


@pytest.mark.parametrize("operation", ["revokeAllTokens", "deleteAccount"])
def test_ending_every_session_of_the_account_expires_the_cookies(
    browser: FlaskClient, cookie_app: Flask, operation: str
) -> None:
    response, created = register(browser)
    cookies = sent_back(response)
    query, variables = {
        "revokeAllTokens": ("mutation { revokeAllTokens { revoked } }", None),
        "deleteAccount": (
            "mutation Delete($p: String!) { deleteAccount(password: $p) { ok } }",
            {"p": STRONG_PASSWORD},
        ),
    }[operation]

    response, body = send(browser, query, variables, cookies=cookies, token=created["token"])

    assert "errors" not in body, body
    assert_expired(response)
    assert live_sessions(cookie_app) == 0
    # Without the cookie there is nothing to expire.
    response, created = register(browser, "bo")
    response, body = send(browser, query, variables, token=created["token"])
    assert "errors" not in body, body
    assert "Set-Cookie" not in response.headers


# Cookies never authenticate


def test_no_cookie_authenticates_a_query_or_a_mutation_in_cookie_mode(browser: FlaskClient) -> None:
    response, created = register(browser)
    cookies = {**sent_back(response), "JWT": created["token"], "token": created["token"]}

    _, whoami = send(browser, WHOAMI, cookies=cookies, csrf=cookies[CSRF_COOKIE])
    _, revoke_all = send(browser, "mutation { revokeAllTokens { revoked } }", cookies=cookies)

    for body in (whoami, revoke_all):
        assert error_of(body)["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}


# Without cookie mode


@pytest.mark.parametrize("query", [REFRESH, REFRESH_DJANGO_NAME, REVOKE])
def test_without_cookie_mode_a_left_out_refresh_token_is_bad_user_input(gql: GraphQL, query: str) -> None:
    login = gql.register()
    gql.client.set_cookie(REFRESH_COOKIE, login["refreshToken"])
    gql.client.set_cookie(CSRF_COOKIE, "csrf")

    status, body = gql.post(query, headers={"X-CSRF-Token": "csrf"})

    assert status == 200
    error = error_of(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["refreshToken"]
    assert "JWT_REFRESH_COOKIE" in error["message"]
    # The cookie was not read: the token is still live.
    assert gql(REFRESH_WITH_ARGUMENT, {"refreshToken": login["refreshToken"]})["refreshAccessToken"]["token"]


def test_without_cookie_mode_tokens_stay_in_the_body_and_no_cookie_is_set(client: FlaskClient) -> None:
    _, created = register(client)
    response, body = send(client, TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})

    assert len(created["refreshToken"]) == 43 and len(body["data"]["tokenAuth"]["refreshToken"]) == 43
    assert "Set-Cookie" not in response.headers and "X-CSRF-Token" not in response.headers


def test_without_cookie_mode_delete_refresh_token_cookie_deletes_nothing(gql: GraphQL, app: Flask) -> None:
    login = gql.register()
    gql.client.set_cookie(REFRESH_COOKIE, login["refreshToken"])

    response = gql.client.post("/graphql", json={"query": DELETE_COOKIE}, headers={"X-CSRF-Token": ""})

    assert response.get_json() == {"data": {"deleteRefreshTokenCookie": {"deleted": False}}}
    assert "Set-Cookie" not in response.headers
    assert live_sessions(app) == 1


def test_cookie_mode_is_off_unless_asked_for() -> None:
    assert settings_from_env({})["JWT_REFRESH_COOKIE"] is False
    assert settings_from_env({"JWT_REFRESH_COOKIE": "true"})["JWT_REFRESH_COOKIE"] is True
    with pytest.raises(ConfigError, match="JWT_REFRESH_COOKIE"):
        settings_from_env({"JWT_REFRESH_COOKIE": "cookies please"})
