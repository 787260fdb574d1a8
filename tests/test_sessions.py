"""Sessions: reuse and revocation, the sessions list, the session lifetime, password changes,
account deletion, and the clock leeway on access tokens."""

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from conftest import (
    STRONG_PASSWORD,
    TEST_SECRET_KEY,
    GraphQL,
    configured_app,
    count_rows,
    empty_tables,
    send_picture,
    update_user,
)
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from service.extensions import db
from service.models import User

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken payload refreshExpiresIn }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshAccessToken(refreshToken: $refreshToken) { token refreshToken payload refreshExpiresIn }
}
"""
VERIFY = "mutation Verify($token: String!) { verifyToken(token: $token) { payload } }"
REVOKE_TOKEN = (
    "mutation Logout($refreshToken: String!) { revokeToken(refreshToken: $refreshToken) { revoked } }"
)
REVOKE_ALL = "mutation LogoutEverywhere { revokeAllTokens { revoked } }"
SESSIONS = "{ sessions { id createdAt lastRefreshedAt expiresAt userAgent ipAddress current } }"
REVOKE_SESSION = "mutation EndSession($id: ID!) { revokeSession(id: $id) { revoked } }"
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) {
    ok token refreshToken payload refreshExpiresIn
  }
}
"""
DELETE_ACCOUNT = "mutation DeleteAccount($password: String!) { deleteAccount(password: $password) { ok } }"
UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePicture } } }
"""
WHOAMI = "{ whoami { username } }"

NEW_PASSWORD = "purple submarine under the bridge"
DEFAULT_SESSION_LIFETIME = 30 * 24 * 3600
REVOKED = {"code": "UNAUTHENTICATED", "reason": "revoked"}
EXPIRED = {"code": "UNAUTHENTICATED", "reason": "expired"}


# Helpers


def log_in(gql: GraphQL, username: str = "ali", password: str = STRONG_PASSWORD, **kwargs: Any) -> dict:
    return gql(TOKEN_AUTH, {"username": username, "password": password}, **kwargs)["tokenAuth"]


def refresh(gql: GraphQL, refresh_token: str) -> dict:
    return gql(REFRESH, {"refreshToken": refresh_token})["refreshAccessToken"]


def refused_refresh(gql: GraphQL, refresh_token: str) -> str:
    """The error code of a refresh that must fail."""
    return gql.error(REFRESH, {"refreshToken": refresh_token})["extensions"]["code"]


def whoami_error(gql: GraphQL, token: str) -> dict:
    return gql.error(WHOAMI, token=token)["extensions"]


def verify_error(gql: GraphQL, token: str) -> str:
    return gql.error(VERIFY, {"token": token})["extensions"]["code"]


def sessions(gql: GraphQL, token: str) -> list[dict]:
    return gql(SESSIONS, token=token)["sessions"]


def sessions_error(gql: GraphQL, token: str | None = None) -> dict:
    """The one error of a refused ``sessions`` query."""
    return gql.error(SESSIONS, token=token)["extensions"]


def assert_session_ended(gql: GraphQL, tokens: dict) -> None:
    """Neither the access token nor the refresh token of ``tokens`` works any more."""
    assert whoami_error(gql, tokens["token"]) == REVOKED
    assert verify_error(gql, tokens["token"]) == "TOKEN_REVOKED"
    assert refused_refresh(gql, tokens["refreshToken"]) == "TOKEN_REVOKED"


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment


def fresh_gql(app: Flask) -> GraphQL:
    empty_tables(app)
    return GraphQL(app.test_client())


# Reusing a rotated refresh token


def test_reusing_a_rotated_refresh_token_also_refuses_the_sessions_access_tokens(gql: GraphQL) -> None:
    login = gql.register()
    rotated = refresh(gql, login["refreshToken"])
    assert gql(WHOAMI, token=rotated["token"])["whoami"]["username"] == "ali"

    assert refused_refresh(gql, login["refreshToken"]) == "TOKEN_REVOKED"

    for token in (login["token"], rotated["token"]):
        assert whoami_error(gql, token) == REVOKED
        assert verify_error(gql, token) == "TOKEN_REVOKED"
    assert refused_refresh(gql, rotated["refreshToken"]) == "TOKEN_REVOKED"


def test_reuse_ends_only_the_session_the_token_belongs_to(gql: GraphQL) -> None:
    stolen = gql.register()
    other = log_in(gql)
    refresh(gql, stolen["refreshToken"])
    refused_refresh(gql, stolen["refreshToken"])

    assert gql(WHOAMI, token=other["token"])["whoami"]["username"] == "ali"
    assert refresh(gql, other["refreshToken"])["payload"]["username"] == "ali"


@pytest.fixture(scope="module")
def grace_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app that keeps the default two-tab grace window of 10 s."""
    with configured_app(tmp_path_factory, JWT_REFRESH_REUSE_INTERVAL=10) as app:
        yield app


def test_two_refreshes_of_one_token_within_the_reuse_interval_both_succeed_with_one_successor(
    grace_app: Flask,
) -> None:
    gql = fresh_gql(grace_app)
    login = gql.register()

    first = refresh(gql, login["refreshToken"])
    second = refresh(gql, login["refreshToken"])

    # Both tabs get the same refresh token, so the session never forks into two chains.
    assert second["refreshToken"] == first["refreshToken"]
    assert second["refreshExpiresIn"] == first["refreshExpiresIn"]
    for result in (first, second):
        assert gql(WHOAMI, token=result["token"])["whoami"]["username"] == "ali"
    assert refresh(gql, first["refreshToken"])["payload"]["sid"] == login["payload"]["sid"]
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"
    assert [session["id"] for session in sessions(gql, first["token"])] == [str(login["payload"]["sid"])]


# Logging out


def test_revoke_token_ends_that_session_and_refuses_its_access_tokens(gql: GraphQL) -> None:
    ending = gql.register()
    staying = log_in(gql)

    revoked = gql(REVOKE_TOKEN, {"refreshToken": ending["refreshToken"]})["revokeToken"]["revoked"]

    assert abs(revoked - time.time()) < 5
    assert_session_ended(gql, ending)
    assert gql(WHOAMI, token=staying["token"])["whoami"]["username"] == "ali"
    assert gql(VERIFY, {"token": staying["token"]})["verifyToken"]["payload"]["username"] == "ali"


def test_revoke_all_tokens_ends_every_session_of_the_caller(gql: GraphQL) -> None:
    first = gql.register()
    second = log_in(gql)
    rotated = refresh(gql, second["refreshToken"])
    bea = gql.register("bea")
    before = int(time.time())

    revoked = gql(REVOKE_ALL, token=first["token"])["revokeAllTokens"]["revoked"]

    assert before <= revoked <= time.time()
    for token in (first["token"], second["token"], rotated["token"]):
        assert whoami_error(gql, token) == REVOKED
        assert verify_error(gql, token) == "TOKEN_REVOKED"
    for refresh_token in (first["refreshToken"], rotated["refreshToken"]):
        assert refused_refresh(gql, refresh_token) == "TOKEN_REVOKED"
    # Other users keep their sessions; the caller can sign in again.
    assert gql(WHOAMI, token=bea["token"])["whoami"]["username"] == "bea"
    assert gql(WHOAMI, token=log_in(gql)["token"])["whoami"]["username"] == "ali"


def test_revoke_all_tokens_needs_an_access_token(gql: GraphQL) -> None:
    login = gql.register()
    assert gql.error(REVOKE_ALL)["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"


# The sessions list


def test_sessions_lists_the_callers_live_sessions_newest_first(client: FlaskClient, gql: GraphQL) -> None:
    registered = gql.register()
    gql.register("bea")
    response = client.post(
        "/graphql",
        json={"query": TOKEN_AUTH, "variables": {"username": "ali", "password": STRONG_PASSWORD}},
        headers={"User-Agent": "Firefox/140.0"},
        environ_overrides={"REMOTE_ADDR": "203.0.113.7"},
    )
    phone = response.get_json()["data"]["tokenAuth"]
    phone = refresh(gql, phone["refreshToken"])

    listed = sessions(gql, phone["token"])

    assert [session["id"] for session in listed] == [
        str(phone["payload"]["sid"]),
        str(registered["payload"]["sid"]),
    ]
    newest, oldest = listed
    assert (newest["userAgent"], newest["ipAddress"]) == ("Firefox/140.0", "203.0.113.7")
    assert oldest["userAgent"].startswith("Werkzeug/")
    assert oldest["ipAddress"] == "127.0.0.1"
    assert (newest["current"], oldest["current"]) == (True, False)
    assert oldest["lastRefreshedAt"] is None
    assert parse_time(newest["lastRefreshedAt"]) >= parse_time(newest["createdAt"])
    for session in listed:
        lifetime = parse_time(session["expiresAt"]) - parse_time(session["createdAt"])
        assert lifetime == timedelta(seconds=DEFAULT_SESSION_LIFETIME)
    # Asked with the other session's token, the other one is current.
    assert [session["current"] for session in sessions(gql, registered["token"])] == [False, True]


def test_sessions_leaves_out_ended_sessions(gql: GraphQL) -> None:
    kept = gql.register()
    logged_out = log_in(gql)
    stolen = log_in(gql)
    gql(REVOKE_TOKEN, {"refreshToken": logged_out["refreshToken"]})
    refresh(gql, stolen["refreshToken"])
    refused_refresh(gql, stolen["refreshToken"])

    assert [session["id"] for session in sessions(gql, kept["token"])] == [str(kept["payload"]["sid"])]


def test_sessions_needs_an_access_token(gql: GraphQL) -> None:
    gql.register()
    assert sessions_error(gql) == {"code": "UNAUTHENTICATED", "reason": "missing"}


def test_a_refused_sessions_query_executed_so_it_answers_200_with_the_field_null(gql: GraphQL) -> None:
    gql.register()
    status, body = gql.post(SESSIONS)
    assert status == 200
    assert body["data"] == {"sessions": None}
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}


def test_revoke_session_ends_one_of_the_callers_sessions(gql: GraphQL) -> None:
    laptop = gql.register()
    phone = log_in(gql)

    revoked = gql(REVOKE_SESSION, {"id": str(phone["payload"]["sid"])}, token=laptop["token"])

    assert abs(revoked["revokeSession"]["revoked"] - time.time()) < 5
    assert_session_ended(gql, phone)
    assert [session["id"] for session in sessions(gql, laptop["token"])] == [str(laptop["payload"]["sid"])]


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("bea", id="another users session"),
        pytest.param("999999", id="unknown id"),
        pytest.param("revoked", id="an already ended session"),
        pytest.param("not-an-id", id="not an id"),
    ],
)
def test_revoke_session_refuses_ids_that_are_not_a_live_session_of_the_caller(
    gql: GraphQL, session_id: str
) -> None:
    ali = gql.register()
    bea = gql.register("bea")
    ended = log_in(gql)
    gql(REVOKE_TOKEN, {"refreshToken": ended["refreshToken"]})
    ids = {"bea": str(bea["payload"]["sid"]), "revoked": str(ended["payload"]["sid"])}

    error = gql.error(REVOKE_SESSION, {"id": ids.get(session_id, session_id)}, token=ali["token"])

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["id"]
    assert gql(WHOAMI, token=bea["token"])["whoami"]["username"] == "bea"
    assert refresh(gql, bea["refreshToken"])["payload"]["username"] == "bea"
    assert gql(WHOAMI, token=ali["token"])["whoami"]["username"] == "ali"


# Deactivated and deleted users


def deactivate(app: Flask) -> None:
    update_user(app, "ali", is_active=False)


def delete(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.username == "ali"))
        db.session.commit()


@pytest.mark.parametrize("remove", [deactivate, delete], ids=["deactivated", "deleted"])
def test_the_access_tokens_of_a_removed_user_are_refused_at_once(app: Flask, gql: GraphQL, remove) -> None:
    login = gql.register()
    assert gql(VERIFY, {"token": login["token"]})["verifyToken"]["payload"]["username"] == "ali"

    remove(app)

    assert verify_error(gql, login["token"]) == "TOKEN_REVOKED"
    assert whoami_error(gql, login["token"]) == REVOKED
    assert sessions_error(gql, login["token"]) == REVOKED


# The session's maximum lifetime


def test_refresh_expires_in_never_passes_the_end_of_the_session(tmp_path_factory) -> None:
    with configured_app(tmp_path_factory, SESSION_MAX_LIFETIME=3600) as app:
        gql = fresh_gql(app)
        login = gql.register()
        ends_at = login["payload"]["origIat"] + 3600
        refreshed = refresh(gql, login["refreshToken"])
        again = refresh(gql, refreshed["refreshToken"])

        # The refresh lifetime (7 days) is longer than what is left of the session.
        assert [result["refreshExpiresIn"] for result in (login, refreshed, again)] == [ends_at] * 3
        (listed,) = sessions(gql, again["token"])
        assert parse_time(listed["expiresAt"]) - parse_time(listed["createdAt"]) == timedelta(seconds=3600)


def test_with_the_default_lifetimes_refresh_expires_in_is_the_refresh_lifetime(gql: GraphQL) -> None:
    login = gql.register()
    assert login["refreshExpiresIn"] == login["payload"]["iat"] + 7 * 24 * 3600
    assert login["refreshExpiresIn"] < login["payload"]["origIat"] + DEFAULT_SESSION_LIFETIME


@dataclass
class Login:
    gql: GraphQL
    tokens: dict[str, Any]
    rotated: dict[str, Any]


@pytest.fixture(scope="module")
def after_a_while(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Login]]:
    """A login refreshed three times at once on an app whose sessions last 1 s, one on an app
    whose reuse interval is 1 s; then one wait, longer than both, for the whole module."""
    with (
        configured_app(tmp_path_factory, SESSION_MAX_LIFETIME=1) as short_session,
        configured_app(tmp_path_factory, JWT_REFRESH_REUSE_INTERVAL=1) as short_grace,
    ):
        logins = {}
        for name, app in {"short session": short_session, "short grace": short_grace}.items():
            gql = fresh_gql(app)
            tokens = rotated = gql.register()
            for _ in range(3):
                rotated = refresh(gql, rotated["refreshToken"])
            logins[name] = Login(gql, tokens, rotated)
        time.sleep(1.3)
        yield logins


def test_refresh_expires_in_is_capped_by_a_short_session(after_a_while: dict[str, Login]) -> None:
    login = after_a_while["short session"]
    ends_at = login.tokens["payload"]["origIat"] + 1
    assert login.tokens["refreshExpiresIn"] <= ends_at
    assert login.rotated["refreshExpiresIn"] <= ends_at


def test_a_session_past_its_maximum_lifetime_cannot_be_refreshed_however_often_refreshed(
    after_a_while: dict[str, Login],
) -> None:
    login = after_a_while["short session"]
    assert refused_refresh(login.gql, login.rotated["refreshToken"]) == "TOKEN_EXPIRED"


def test_reusing_a_rotated_token_after_the_reuse_interval_ends_the_session(
    after_a_while: dict[str, Login],
) -> None:
    login = after_a_while["short grace"]
    assert refused_refresh(login.gql, login.tokens["refreshToken"]) == "TOKEN_REVOKED"
    assert_session_ended(login.gql, login.rotated)


# Changing the password


def change_password(gql: GraphQL, token: str, old: str = STRONG_PASSWORD, new: str = NEW_PASSWORD) -> dict:
    return gql(CHANGE_PASSWORD, {"oldPassword": old, "newPassword": new}, token=token)["changePassword"]


def test_change_password_refuses_a_wrong_current_password(gql: GraphQL) -> None:
    login = gql.register()

    error = gql.error(
        CHANGE_PASSWORD, {"oldPassword": "not my password", "newPassword": NEW_PASSWORD}, token=login["token"]
    )

    assert error["extensions"] == {"code": "INVALID_CREDENTIALS"}
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"
    log_in(gql, password=STRONG_PASSWORD)
    assert gql.error(TOKEN_AUTH, {"username": "ali", "password": NEW_PASSWORD})["extensions"]["code"] == (
        "INVALID_CREDENTIALS"
    )


@pytest.mark.parametrize(
    "new_password",
    [
        pytest.param("12345678", id="common"),
        pytest.param("short", id="too short"),
        pytest.param("x" * 1025, id="too long"),
        pytest.param("ali-is-my-name-123", id="contains the username"),
        pytest.param(STRONG_PASSWORD, id="same as the current one"),
    ],
)
def test_change_password_applies_the_password_policy_to_the_new_password(
    gql: GraphQL, new_password: str
) -> None:
    login = gql.register()

    error = gql.error(
        CHANGE_PASSWORD, {"oldPassword": STRONG_PASSWORD, "newPassword": new_password}, token=login["token"]
    )

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["newPassword"]
    assert new_password not in error["message"]
    # Nothing changed: the session lives on and the old password still works.
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"
    log_in(gql)


def test_change_password_ends_every_session_and_returns_a_fresh_working_pair(gql: GraphQL) -> None:
    current = gql.register()
    other = log_in(gql)
    rotated = refresh(gql, other["refreshToken"])

    changed = change_password(gql, current["token"])

    assert changed["ok"] is True
    assert changed["payload"]["username"] == "ali"
    assert changed["payload"]["sid"] not in (current["payload"]["sid"], other["payload"]["sid"])
    assert changed["refreshExpiresIn"] > time.time()
    for old in (current, rotated):
        assert_session_ended(gql, old)
    assert whoami_error(gql, other["token"]) == REVOKED
    assert gql(WHOAMI, token=changed["token"])["whoami"]["username"] == "ali"
    assert [session["current"] for session in sessions(gql, changed["token"])] == [True]
    assert refresh(gql, changed["refreshToken"])["payload"]["username"] == "ali"


def test_after_a_password_change_only_the_new_password_logs_in(gql: GraphQL) -> None:
    login = gql.register()
    change_password(gql, login["token"])

    error = gql.error(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})

    assert error["extensions"] == {"code": "INVALID_CREDENTIALS"}
    assert log_in(gql, password=NEW_PASSWORD)["payload"]["username"] == "ali"


def test_change_password_needs_an_access_token(gql: GraphQL) -> None:
    gql.register()
    error = gql.error(CHANGE_PASSWORD, {"oldPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD})
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    log_in(gql)


# Deleting the account


def test_delete_account_refuses_a_wrong_password_and_deletes_nothing(app: Flask, gql: GraphQL) -> None:
    login = gql.register()

    error = gql.error(DELETE_ACCOUNT, {"password": "not my password"}, token=login["token"])

    assert error["extensions"] == {"code": "INVALID_CREDENTIALS"}
    assert count_rows(app, "users", username="ali") == 1
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"


def test_delete_account_removes_the_user_and_their_sessions_only(app: Flask, gql: GraphQL) -> None:
    ali = gql.register()
    refresh(gql, log_in(gql)["refreshToken"])
    bea = gql.register("bea")
    ali_id = int(ali["user"]["id"])
    assert count_rows(app, "login_sessions", user_id=ali_id) == 2

    assert gql(DELETE_ACCOUNT, {"password": STRONG_PASSWORD}, token=ali["token"]) == {
        "deleteAccount": {"ok": True}
    }

    assert count_rows(app, "users", id=ali_id) == 0
    assert count_rows(app, "login_sessions", user_id=ali_id) == 0
    with app.app_context():
        orphans = db.session.scalar(
            sa.text(
                "SELECT count(*) FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM login_sessions)"
            )
        )
    assert orphans == 0
    assert count_rows(app, "refresh_tokens") == 1  # bea's
    assert whoami_error(gql, ali["token"]) == REVOKED
    assert refused_refresh(gql, ali["refreshToken"]) in {"TOKEN_INVALID", "TOKEN_REVOKED"}
    assert gql.error(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["extensions"] == {
        "code": "INVALID_CREDENTIALS"
    }
    assert gql(WHOAMI, token=bea["token"])["whoami"]["username"] == "bea"
    # The name is free again.
    assert gql.register()["user"]["username"] == "ali"


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def test_delete_account_deletes_the_profile_picture_file(
    app: Flask, client: FlaskClient, gql: GraphQL
) -> None:
    login = gql.register()
    response = send_picture(client, UPDATE_USER, small_png(), token=login["token"])
    stored = response.get_json()["data"]["updateUser"]["user"]["profilePicture"]
    picture = Path(app.config["UPLOAD_FOLDER"]) / stored
    assert picture.is_file()

    gql(DELETE_ACCOUNT, {"password": STRONG_PASSWORD}, token=login["token"])

    assert not picture.exists()


def test_delete_account_needs_an_access_token(app: Flask, gql: GraphQL) -> None:
    gql.register()
    error = gql.error(DELETE_ACCOUNT, {"password": STRONG_PASSWORD})
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    assert count_rows(app, "users", username="ali") == 1


# Clock leeway


@pytest.fixture(scope="module")
def lenient_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, JWT_LEEWAY=5) as app:
        yield app


def expired_ago(token: str, seconds: int) -> str:
    """A real token's claims (so its session is live), re-signed to have expired ``seconds`` ago."""
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 600, exp=now - seconds)
    return jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256")


@pytest.mark.parametrize(
    ("lenient", "seconds_ago", "accepted"),
    [
        pytest.param(True, 2, True, id="leeway 5, expired 2 s ago"),
        pytest.param(True, 30, False, id="leeway 5, expired 30 s ago"),
        pytest.param(False, 2, False, id="no leeway, expired 2 s ago"),
    ],
)
def test_jwt_leeway_accepts_tokens_expired_within_it(
    app: Flask, lenient_app: Flask, lenient: bool, seconds_ago: int, accepted: bool
) -> None:
    gql = fresh_gql(lenient_app if lenient else app)
    token = expired_ago(gql.register()["token"], seconds_ago)

    if accepted:
        assert gql(WHOAMI, token=token)["whoami"]["username"] == "ali"
        assert gql(VERIFY, {"token": token})["verifyToken"]["payload"]["exp"] < time.time()
    else:
        assert whoami_error(gql, token) == EXPIRED
        assert verify_error(gql, token) == "TOKEN_EXPIRED"
