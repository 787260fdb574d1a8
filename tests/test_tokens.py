"""Tokens: rotating refresh tokens, verifying and revoking, and reading the Authorization header.

Everything goes through HTTP; PyJWT is used only to craft tokens the service must refuse.
"""

import hashlib
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flask
import jwt
import pytest
import sqlalchemy as sa
from conftest import (
    LEGACY,
    STRONG_PASSWORD,
    TEST_SECRET_KEY,
    GraphQL,
    configured_app,
    empty_tables,
    update_user,
)
from flask import Flask
from flask.sessions import NullSession, SecureCookieSessionInterface

from service.extensions import db
from service.models import User

REFRESH_ACCESS_TOKEN = """
mutation RefreshAccessToken($refreshToken: String!) {
  refreshAccessToken(refreshToken: $refreshToken) { token refreshToken payload refreshExpiresIn }
}
"""
REFRESH_TOKEN = """
mutation RefreshToken($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { token refreshToken payload refreshExpiresIn }
}
"""
REVOKE_TOKEN = """
mutation RevokeToken($refreshToken: String!) {
  revokeToken(refreshToken: $refreshToken) { revoked }
}
"""
WHOAMI = "{ whoami { id } }"

# Both names of the refresh mutation must behave the same.
REFRESH_OPERATIONS = [
    pytest.param(REFRESH_ACCESS_TOKEN, id="refreshAccessToken"),
    pytest.param(REFRESH_TOKEN, id="refreshToken"),
]
DEFAULT_REFRESH_LIFETIME = 7 * 24 * 3600
OTHER_KEY = "another-service-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ISSUER = "https://accounts.example.test"
AUDIENCE = "example-services"
URL_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]{43,}")


# Crafting tokens the service must refuse.


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token, read without checking anything."""
    return jwt.decode(token, options={"verify_signature": False})


def resigned(
    token: str,
    *,
    drop: tuple[str, ...] = (),
    key: str = TEST_SECRET_KEY,
    algorithm: str = "HS256",
    **changes: Any,
) -> str:
    """``token``'s claims with ``changes`` made and ``drop`` removed, signed again."""
    claims = {name: value for name, value in {**claims_of(token), **changes}.items() if name not in drop}
    with warnings.catch_warnings():
        # Our test key is shorter than RFC 7518 recommends for HS512; irrelevant here.
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def with_forged_signature(token: str) -> str:
    """The token with the first character of its signature changed."""
    header, payload, signature = token.split(".")
    first = "B" if signature[0] == "A" else "A"
    return f"{header}.{payload}.{first}{signature[1:]}"


def unsigned(token: str) -> str:
    """The same claims under ``alg: none``, with an empty signature."""
    return jwt.encode(claims_of(token), None, algorithm="none")


def expired(token: str) -> str:
    """The same claims, signed with the right key, but expired a minute ago."""
    now = int(time.time())
    return resigned(token, iat=now - 3660, exp=now - 60)


def missing(claim: str) -> Callable[[str], str]:
    return lambda token: resigned(token, drop=(claim,))


def changed(**claims: Any) -> Callable[[str], str]:
    return lambda token: resigned(token, **claims)


BAD_ACCESS_TOKENS = [
    pytest.param(with_forged_signature, id="forged signature"),
    pytest.param(unsigned, id="alg none"),
    pytest.param(lambda token: resigned(token, key=OTHER_KEY), id="signed with another key"),
    pytest.param(lambda token: resigned(token, algorithm="HS512"), id="HS512 with our key"),
    pytest.param(lambda token: token[:-10], id="truncated"),
    pytest.param(lambda token: "garbage", id="garbage"),
    pytest.param(lambda token: "a.b.c", id="three garbage parts"),
    *[
        pytest.param(missing(claim), id=f"no {claim}")
        for claim in ("exp", "iat", "sub", "sid", "skey", "username", "origIat")
    ],
    pytest.param(changed(sub="ali"), id="sub not a user id"),
    pytest.param(changed(sid="1"), id="sid a string"),
    pytest.param(changed(skey=42), id="skey a number"),
    pytest.param(changed(origIat="yesterday"), id="origIat a string"),
    pytest.param(changed(username=42), id="username a number"),
]

GARBAGE_REFRESH_TOKENS = [
    pytest.param("", id="empty"),
    pytest.param("garbage", id="short"),
    pytest.param("A" * 43, id="well formed but unknown"),
    pytest.param("A" * 129, id="too long"),
    pytest.param("x" * 40 + "/+=", id="not URL-safe"),
    pytest.param("x" * 40 + "' OR '1'='1", id="SQL"),
]


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def refresh(gql: GraphQL, operation: str, refresh_token: str) -> dict[str, Any]:
    """The result of a refresh operation that must succeed."""
    (result,) = gql(operation, {"refreshToken": refresh_token}).values()
    return result


def authorization(value: str) -> dict[str, str]:
    return {"headers": {"Authorization": value}}


# Refreshing


def test_legacy_refresh_access_token_returns_a_new_token_pair(gql: GraphQL) -> None:
    login = gql.register()
    result = gql(LEGACY["RefreshAccessToken"], {"refreshToken": login["refreshToken"]})["refreshAccessToken"]
    assert result["token"] != login["token"]
    assert result["refreshToken"] != login["refreshToken"]
    assert result["payload"]["username"] == "ali"
    assert result["payload"]["origIat"] == login["payload"]["origIat"]


def test_legacy_refresh_token_returns_a_new_access_token(gql: GraphQL) -> None:
    login = gql.register()
    result = gql(LEGACY["RefreshToken"], {"refreshToken": login["refreshToken"]})["refreshToken"]
    assert result["token"] != login["token"]
    assert result["payload"]["username"] == "ali"
    assert gql(LEGACY["Whoami"], token=result["token"])["whoami"]["username"] == "ali"


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_refresh_returns_a_working_access_token_and_a_new_refresh_token(gql: GraphQL, operation: str) -> None:
    login = gql.register()
    result = refresh(gql, operation, login["refreshToken"])
    assert result["token"] != login["token"]
    assert result["refreshToken"] != login["refreshToken"]
    assert URL_SAFE_TOKEN.fullmatch(result["refreshToken"])
    assert result["payload"]["sub"] == login["payload"]["sub"]
    assert gql(LEGACY["Whoami"], token=result["token"])["whoami"]["username"] == "ali"
    # The new refresh token works in turn.
    assert refresh(gql, operation, result["refreshToken"])["payload"]["username"] == "ali"


def test_refresh_tokens_are_url_safe_and_at_least_43_characters_long(gql: GraphQL) -> None:
    login = gql.register()
    refreshed = refresh(gql, REFRESH_ACCESS_TOKEN, login["refreshToken"])
    for token in (login["refreshToken"], refreshed["refreshToken"]):
        assert URL_SAFE_TOKEN.fullmatch(token), token


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_refresh_expires_in_is_the_refresh_lifetime_from_now(gql: GraphQL, operation: str) -> None:
    before = int(time.time())
    login = gql.register()
    refreshed = refresh(gql, operation, login["refreshToken"])
    after = int(time.time())
    for result in (login, refreshed):
        expires_in = result["refreshExpiresIn"]
        assert isinstance(expires_in, int)
        assert before + DEFAULT_REFRESH_LIFETIME <= expires_in <= after + DEFAULT_REFRESH_LIFETIME


def test_refresh_tokens_are_stored_only_as_their_sha256_digest(app: Flask, gql: GraphQL) -> None:
    login = gql.register()
    refreshed = refresh(gql, REFRESH_ACCESS_TOKEN, login["refreshToken"])
    raw_tokens = [login["refreshToken"], refreshed["refreshToken"]]
    with app.app_context():
        stored = db.session.scalars(sa.text("SELECT token_hash FROM refresh_tokens")).all()
        every_value = [
            str(value)
            for table in db.metadata.sorted_tables
            for row in db.session.execute(sa.select(table))
            for value in row
        ]
    assert sorted(stored) == sorted(digest(raw) for raw in raw_tokens)
    for raw in raw_tokens:
        assert not any(raw in value for value in every_value)


def test_the_stored_digest_does_not_work_as_a_refresh_token(gql: GraphQL) -> None:
    login = gql.register()
    error = gql.error(REFRESH_ACCESS_TOKEN, {"refreshToken": digest(login["refreshToken"])})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


# Rotation


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_a_refresh_token_cannot_be_used_twice(gql: GraphQL, operation: str) -> None:
    login = gql.register()
    refresh(gql, operation, login["refreshToken"])
    error = gql.error(operation, {"refreshToken": login["refreshToken"]})
    assert error["extensions"]["code"] == "TOKEN_REVOKED"


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_reusing_a_rotated_refresh_token_ends_the_whole_session(gql: GraphQL, operation: str) -> None:
    login = gql.register()
    successor = refresh(gql, operation, login["refreshToken"])["refreshToken"]
    reused = gql.error(operation, {"refreshToken": login["refreshToken"]})
    assert reused["extensions"]["code"] == "TOKEN_REVOKED"
    assert gql.error(operation, {"refreshToken": successor})["extensions"]["code"] == "TOKEN_REVOKED"


def test_ending_one_session_leaves_the_users_other_sessions_alone(gql: GraphQL) -> None:
    first = gql.register()
    second = gql(LEGACY["TokenAuth"], {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]
    refresh(gql, REFRESH_ACCESS_TOKEN, first["refreshToken"])
    gql.error(REFRESH_ACCESS_TOKEN, {"refreshToken": first["refreshToken"]})
    assert refresh(gql, REFRESH_ACCESS_TOKEN, second["refreshToken"])["payload"]["username"] == "ali"


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
@pytest.mark.parametrize("refresh_token", GARBAGE_REFRESH_TOKENS)
def test_refresh_refuses_unknown_refresh_tokens_as_invalid(
    gql: GraphQL, operation: str, refresh_token: str
) -> None:
    gql.register()
    error = gql.error(operation, {"refreshToken": refresh_token})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


def test_refresh_refuses_an_access_token_as_invalid(gql: GraphQL) -> None:
    login = gql.register()
    error = gql.error(REFRESH_ACCESS_TOKEN, {"refreshToken": login["token"]})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


def test_refresh_refuses_the_token_of_a_deactivated_user_as_revoked(app: Flask, gql: GraphQL) -> None:
    login = gql.register()
    update_user(app, "ali", is_active=False)
    error = gql.error(REFRESH_ACCESS_TOKEN, {"refreshToken": login["refreshToken"]})
    assert error["extensions"]["code"] == "TOKEN_REVOKED"


# Verifying


def test_verify_token_returns_the_payload_of_a_valid_token(gql: GraphQL) -> None:
    login = gql.register()
    payload = gql(LEGACY["VerifyToken"], {"token": login["token"]})["verifyToken"]["payload"]
    assert payload["username"] == "ali"
    assert payload["exp"] == login["payload"]["exp"] > time.time()
    assert payload["origIat"] == login["payload"]["origIat"]
    assert payload == login["payload"]


def test_verify_token_accepts_a_refreshed_token(gql: GraphQL) -> None:
    login = gql.register()
    refreshed = refresh(gql, REFRESH_TOKEN, login["refreshToken"])
    payload = gql(LEGACY["VerifyToken"], {"token": refreshed["token"]})["verifyToken"]["payload"]
    assert payload == refreshed["payload"]


@pytest.mark.parametrize("spoil", BAD_ACCESS_TOKENS)
def test_verify_token_refuses_bad_tokens_as_invalid(gql: GraphQL, spoil: Callable[[str], str]) -> None:
    login = gql.register()
    error = gql.error(LEGACY["VerifyToken"], {"token": spoil(login["token"])})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


def test_verify_token_refuses_a_token_past_its_exp_as_expired(gql: GraphQL) -> None:
    login = gql.register()
    error = gql.error(LEGACY["VerifyToken"], {"token": expired(login["token"])})
    assert error["extensions"]["code"] == "TOKEN_EXPIRED"


def test_an_app_without_an_audience_refuses_tokens_that_name_one(gql: GraphQL) -> None:
    login = gql.register()
    error = gql.error(LEGACY["VerifyToken"], {"token": resigned(login["token"], aud=AUDIENCE)})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


# Revoking


def test_revoke_token_returns_when_the_session_ended(gql: GraphQL) -> None:
    login = gql.register()
    before = int(time.time())
    revoked = gql(REVOKE_TOKEN, {"refreshToken": login["refreshToken"]})["revokeToken"]["revoked"]
    assert isinstance(revoked, int)
    assert before <= revoked <= time.time()


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_a_revoked_refresh_token_cannot_refresh(gql: GraphQL, operation: str) -> None:
    login = gql.register()
    gql(REVOKE_TOKEN, {"refreshToken": login["refreshToken"]})
    error = gql.error(operation, {"refreshToken": login["refreshToken"]})
    assert error["extensions"]["code"] == "TOKEN_REVOKED"


def test_revoking_twice_is_refused_as_revoked(gql: GraphQL) -> None:
    login = gql.register()
    gql(REVOKE_TOKEN, {"refreshToken": login["refreshToken"]})
    error = gql.error(REVOKE_TOKEN, {"refreshToken": login["refreshToken"]})
    assert error["extensions"]["code"] == "TOKEN_REVOKED"


@pytest.mark.parametrize("refresh_token", GARBAGE_REFRESH_TOKENS)
def test_revoke_token_refuses_unknown_refresh_tokens_as_invalid(gql: GraphQL, refresh_token: str) -> None:
    login = gql.register()
    error = gql.error(REVOKE_TOKEN, {"refreshToken": refresh_token})
    assert error["extensions"]["code"] == "TOKEN_INVALID"
    # Nothing was revoked on the way.
    assert refresh(gql, REFRESH_ACCESS_TOKEN, login["refreshToken"])["payload"]["username"] == "ali"


# The Authorization header


@pytest.mark.parametrize("scheme", ["JWT", "Bearer", "jwt", "bearer", "BEARER", "jWt"])
def test_whoami_accepts_jwt_and_bearer_schemes_in_any_case(gql: GraphQL, scheme: str) -> None:
    login = gql.register()
    whoami = gql(LEGACY["Whoami"], **authorization(f"{scheme} {login['token']}"))["whoami"]
    assert whoami == {"id": login["user"]["id"], "username": "ali", "email": "ali@example.com"}


def test_whoami_without_an_authorization_header_is_unauthenticated(gql: GraphQL) -> None:
    gql.register()
    error = gql.error(WHOAMI)
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}


def test_whoami_reports_a_token_past_its_exp_as_expired(gql: GraphQL) -> None:
    login = gql.register()
    error = gql.error(WHOAMI, token=expired(login["token"]))
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "expired"}


@pytest.mark.parametrize("spoil", BAD_ACCESS_TOKENS)
def test_whoami_reports_bad_tokens_as_invalid(gql: GraphQL, spoil: Callable[[str], str]) -> None:
    login = gql.register()
    error = gql.error(WHOAMI, token=spoil(login["token"]))
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic xyz", id="basic"),
        pytest.param("Basic {token}", id="basic with a valid token"),
        pytest.param("Token {token}", id="unknown scheme"),
        pytest.param("JWT", id="jwt without a token"),
        pytest.param("Bearer   ", id="bearer without a token"),
        pytest.param("JWT{token}", id="no space"),
        pytest.param("{token}", id="token without a scheme"),
        pytest.param("JWT garbage", id="jwt garbage"),
    ],
)
def test_whoami_reports_malformed_authorization_headers_as_invalid(gql: GraphQL, header: str) -> None:
    login = gql.register()
    error = gql.error(WHOAMI, **authorization(header.format(token=login["token"])))
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}


def test_whoami_reports_the_token_of_a_deactivated_user_as_revoked(app: Flask, gql: GraphQL) -> None:
    login = gql.register()
    update_user(app, "ali", is_active=False)
    error = gql.error(WHOAMI, token=login["token"])
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}


def test_whoami_reports_the_token_of_a_deleted_user_as_revoked(app: Flask, gql: GraphQL) -> None:
    login = gql.register()
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.username == "ali"))
        db.session.commit()
    error = gql.error(WHOAMI, token=login["token"])
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}


@pytest.mark.parametrize(
    "header",
    ["garbage", "Basic xyz", "JWT", "JWT garbage", "Bearer a.b.c"],
)
def test_a_bad_authorization_header_does_not_break_login(gql: GraphQL, header: str) -> None:
    gql.register()
    result = gql(
        LEGACY["TokenAuth"], {"username": "ali", "password": STRONG_PASSWORD}, **authorization(header)
    )["tokenAuth"]
    assert result["payload"]["username"] == "ali"


def test_a_users_forged_token_is_not_read_as_another_user(gql: GraphQL) -> None:
    ali = gql.register("ali")
    bea = gql.register("bea")
    forged = resigned(ali["token"], key=OTHER_KEY, sub=bea["payload"]["sub"], username="bea")
    error = gql.error(WHOAMI, token=forged)
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}


def test_access_tokens_carry_their_sessions_key_and_a_changed_key_is_refused_as_revoked(
    gql: GraphQL,
) -> None:
    login = gql.register()
    refreshed = refresh(gql, REFRESH_ACCESS_TOKEN, login["refreshToken"])
    assert re.fullmatch(r"[0-9a-f]{32}", login["payload"]["skey"])
    assert refreshed["payload"]["skey"] == login["payload"]["skey"]
    assert gql.register("bea")["payload"]["skey"] != login["payload"]["skey"]

    error = gql.error(WHOAMI, token=resigned(refreshed["token"], skey="0" * 32))

    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}


@pytest.mark.parametrize(
    "sub",
    [
        pytest.param("²", id="superscript digit"),
        pytest.param("9" * 20, id="huge"),
        pytest.param("٣", id="persian digit"),
    ],
)
def test_whoami_reports_a_validly_signed_token_whose_sub_is_no_user_id_as_invalid(
    gql: GraphQL, sub: str
) -> None:
    login = gql.register()
    status, body = gql.post(WHOAMI, token=resigned(login["token"], sub=sub))
    assert status == 200, body
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}


# Nothing but the Authorization header is read


def test_cookies_never_authenticate(app: Flask, gql: GraphQL) -> None:
    login = gql.register()
    client = gql.client
    # A Flask session cookie, validly signed with the app's own key, naming the user.
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    session_cookie = signer.dumps({"user_id": login["user"]["id"], "token": login["token"]})
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], session_cookie)
    for name in ("JWT", "token", "access_token", "Authorization"):
        client.set_cookie(name, login["token"])
    client.set_cookie("JWT-refresh-token", login["refreshToken"])

    error = gql.error(WHOAMI)

    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    response = client.post("/graphql", json={"query": WHOAMI})
    assert "Set-Cookie" not in response.headers  # and no session is ever written back


def test_flasks_cookie_session_is_never_opened(app: Flask) -> None:
    with app.test_request_context("/graphql"):
        session = app.session_interface.open_session(app, flask.request)
        assert session is None
        assert isinstance(flask.session, NullSession)


def test_a_token_in_the_query_string_is_not_read(gql: GraphQL) -> None:
    login = gql.register()
    token = login["token"]
    params = {"query": WHOAMI, "token": token, "jwt": token, "JWT": token, "access_token": token}
    response = gql.client.get("/graphql", query_string=params)
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["data"] == {"whoami": None}
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    # The same GET request with the header is answered: only the header is missing above.
    answered = gql.client.get(
        "/graphql", query_string={"query": WHOAMI}, headers={"Authorization": f"JWT {token}"}
    )
    assert answered.get_json() == {"data": {"whoami": {"id": login["user"]["id"]}}}


# Lifetimes: one pair of short-lived apps, one wait for the whole module


@dataclass
class Login:
    gql: GraphQL
    tokens: dict[str, Any]


@pytest.fixture(scope="module")
def after_a_while(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Login]]:
    """A login on an app whose access tokens live 2 s, one on an app whose refresh tokens live 1 s;
    then a wait. (Tokens count whole seconds: a 1 s token issued late in a second lives only for
    what is left of it, too short to be used once first.)"""
    with (
        configured_app(tmp_path_factory, JWT_ACCESS_TOKEN_LIFETIME=2) as short_access,
        configured_app(tmp_path_factory, JWT_REFRESH_TOKEN_LIFETIME=1) as short_refresh,
    ):
        logins = {}
        for name, app in {"short access": short_access, "short refresh": short_refresh}.items():
            gql = GraphQL(app.test_client())
            logins[name] = Login(gql, gql.register())
        # Used once while fresh, so the app has checked and remembered it before it expires.
        short = logins["short access"]
        assert short.gql(WHOAMI, token=short.tokens["token"])["whoami"]["id"] == short.tokens["user"]["id"]
        time.sleep(2.5)
        yield logins


def test_refresh_expires_in_follows_the_configured_refresh_lifetime(after_a_while: dict[str, Login]) -> None:
    tokens = after_a_while["short refresh"].tokens
    assert tokens["refreshExpiresIn"] == tokens["payload"]["iat"] + 1


@pytest.mark.parametrize("operation", REFRESH_OPERATIONS)
def test_a_refresh_token_past_its_lifetime_is_refused_as_expired(
    after_a_while: dict[str, Login], operation: str
) -> None:
    login = after_a_while["short refresh"]
    error = login.gql.error(operation, {"refreshToken": login.tokens["refreshToken"]})
    assert error["extensions"]["code"] == "TOKEN_EXPIRED"


def test_verify_token_refuses_an_access_token_past_its_lifetime_as_expired(
    after_a_while: dict[str, Login],
) -> None:
    login = after_a_while["short access"]
    error = login.gql.error(LEGACY["VerifyToken"], {"token": login.tokens["token"]})
    assert error["extensions"]["code"] == "TOKEN_EXPIRED"


def test_whoami_reports_an_access_token_past_its_lifetime_as_expired(after_a_while: dict[str, Login]) -> None:
    login = after_a_while["short access"]
    error = login.gql.error(WHOAMI, token=login.tokens["token"])
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "expired"}


def test_orig_iat_stays_the_login_time_across_refreshes(after_a_while: dict[str, Login]) -> None:
    login = after_a_while["short access"]
    logged_in_at = login.tokens["payload"]["origIat"]
    first = refresh(login.gql, REFRESH_ACCESS_TOKEN, login.tokens["refreshToken"])
    second = refresh(login.gql, REFRESH_TOKEN, first["refreshToken"])
    for result in (first, second):
        assert result["payload"]["iat"] > logged_in_at
        assert result["payload"]["origIat"] == logged_in_at


# Issuer and audience


@pytest.fixture(scope="module")
def issuing_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE) as app:
        yield app


@pytest.fixture
def issuing_gql(issuing_app: Flask) -> GraphQL:
    empty_tables(issuing_app)
    return GraphQL(issuing_app.test_client())


def test_tokens_carry_and_verify_the_configured_issuer_and_audience(issuing_gql: GraphQL) -> None:
    login = issuing_gql.register()
    assert login["payload"]["iss"] == ISSUER
    assert login["payload"]["aud"] == AUDIENCE
    payload = issuing_gql(LEGACY["VerifyToken"], {"token": login["token"]})["verifyToken"]["payload"]
    assert payload == login["payload"]
    assert issuing_gql(WHOAMI, token=login["token"])["whoami"] == {"id": login["user"]["id"]}
    refreshed = refresh(issuing_gql, REFRESH_ACCESS_TOKEN, login["refreshToken"])
    assert (refreshed["payload"]["iss"], refreshed["payload"]["aud"]) == (ISSUER, AUDIENCE)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(changed(aud="another-audience"), id="wrong aud"),
        pytest.param(missing("aud"), id="no aud"),
        pytest.param(changed(iss="https://evil.example.test"), id="wrong iss"),
        pytest.param(missing("iss"), id="no iss"),
    ],
)
def test_tokens_for_another_audience_or_issuer_are_refused(
    issuing_gql: GraphQL, spoil: Callable[[str], str]
) -> None:
    login = issuing_gql.register()
    token = spoil(login["token"])
    error = issuing_gql.error(LEGACY["VerifyToken"], {"token": token})
    assert error["extensions"]["code"] == "TOKEN_INVALID"
    error = issuing_gql.error(WHOAMI, token=token)
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}


def test_a_token_one_app_accepted_is_refused_by_an_app_with_another_key(
    gql: GraphQL, tmp_path_factory: pytest.TempPathFactory
) -> None:
    login = gql.register()
    assert gql(WHOAMI, token=login["token"])["whoami"]["id"] == login["user"]["id"]

    with configured_app(tmp_path_factory, SECRET_KEY="another-key-" + "x" * 40) as other:
        error = GraphQL(other.test_client()).error(LEGACY["VerifyToken"], {"token": login["token"]})

    assert error["extensions"]["code"] == "TOKEN_INVALID"
