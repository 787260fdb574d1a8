"""A token belongs to one session, a user has a bounded number of sessions, and a session has one
chain of refresh tokens.

Everything goes through HTTP (the Flask test client) and the operators' commands (Flask's CLI
runner); SQL is used only to stage what an attacker cannot do through the API.
"""

import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from conftest import STRONG_PASSWORD, GraphQL, configured_app, empty_tables
from flask import Flask

from service.extensions import db
from service.models import LoginSession

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) {
    token refreshToken payload refreshExpiresIn user { id }
  }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshAccessToken(refreshToken: $refreshToken) { token refreshToken payload refreshExpiresIn }
}
"""
VERIFY = "mutation Verify($token: String!) { verifyToken(token: $token) { payload } }"
WHOAMI = "{ whoami { id username isSuperuser } }"
SESSIONS = "{ sessions { id current } }"
REVOKE_ALL = "mutation LogoutEverywhere { revokeAllTokens { revoked } }"
REVOKE_TOKEN = (
    "mutation Logout($refreshToken: String!) { revokeToken(refreshToken: $refreshToken) { revoked } }"
)
DELETE_ACCOUNT = "mutation DeleteAccount($password: String!) { deleteAccount(password: $password) { ok } }"

REVOKED = {"code": "UNAUTHENTICATED", "reason": "revoked"}


# Helpers


def log_in(gql: GraphQL, username: str, password: str = STRONG_PASSWORD) -> dict:
    return gql(TOKEN_AUTH, {"username": username, "password": password})["tokenAuth"]


def refresh(gql: GraphQL, refresh_token: str) -> dict:
    return gql(REFRESH, {"refreshToken": refresh_token})["refreshAccessToken"]


def refused_refresh(gql: GraphQL, refresh_token: str) -> str:
    return gql.error(REFRESH, {"refreshToken": refresh_token})["extensions"]["code"]


def whoami(gql: GraphQL, token: str) -> dict:
    return gql(WHOAMI, token=token)["whoami"]


def assert_refused(gql: GraphQL, token: str) -> None:
    """The access token authenticates nobody: whoami is unauthenticated and verifyToken says revoked."""
    assert gql.error(WHOAMI, token=token)["extensions"] == REVOKED
    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_REVOKED"


def session_ids(gql: GraphQL, token: str) -> list[str]:
    return [session["id"] for session in gql(SESSIONS, token=token)["sessions"]]


def flask_command(app: Flask, *args: str, input: str | None = None) -> Result:
    """``flask <args>``, run as the flask command runs it."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args), input=input, env={"SUPERUSER_PASSWORD": None})
    assert result.exit_code == 0, result.output
    return result


def create_superuser(app: Flask, username: str) -> None:
    flask_command(
        app,
        *("users", "create-superuser", "--username", username, "--email", f"{username}@example.com"),
        "--password-stdin",
        input=f"{STRONG_PASSWORD}\n",
    )


def sql(app: Flask, query: str, **parameters: Any) -> Any:
    """The first value of a query run straight on the app's database."""
    with app.app_context():
        return db.session.scalar(sa.text(query), parameters)


# Access tokens never come back to life as someone else's


@pytest.mark.parametrize("newcomer", ["createUser", "create-superuser"])
def test_tokens_of_a_deleted_account_never_authenticate_the_next_account(
    app: Flask, gql: GraphQL, newcomer: str
) -> None:
    ali = [gql.register("ali"), log_in(gql, "ali"), log_in(gql, "ali")]
    old_sessions = {login["payload"]["sid"] for login in ali}
    old_user = ali[0]["user"]["id"]
    gql(DELETE_ACCOUNT, {"password": STRONG_PASSWORD}, token=ali[0]["token"])

    if newcomer == "createUser":
        logins = [gql.register("bea"), log_in(gql, "bea"), log_in(gql, "bea")]
    else:
        create_superuser(app, "root")
        logins = [log_in(gql, "root") for _ in range(3)]

    for login in ali:
        assert_refused(gql, login["token"])
    assert logins[0]["user"]["id"] != old_user
    assert old_sessions.isdisjoint(login["payload"]["sid"] for login in logins)
    assert whoami(gql, logins[-1]["token"])["isSuperuser"] is (newcomer == "create-superuser")


def test_tokens_ended_by_revoke_all_tokens_stay_dead_after_tokens_purge_and_new_logins(
    app: Flask, gql: GraphQL
) -> None:
    stolen = [gql.register("ali"), log_in(gql, "ali"), log_in(gql, "ali")]
    gql(REVOKE_ALL, token=stolen[-1]["token"])

    assert "Removed 3 ended sessions" in flask_command(app, "tokens", "purge").output
    newer = [gql.register("bea"), log_in(gql, "ali"), log_in(gql, "ali"), log_in(gql, "ali")]

    for login in stolen:
        assert_refused(gql, login["token"])
        assert refused_refresh(gql, login["refreshToken"]) == "TOKEN_INVALID"
    assert {login["payload"]["sid"] for login in stolen}.isdisjoint(
        login["payload"]["sid"] for login in newer
    )
    assert whoami(gql, newer[-1]["token"])["username"] == "ali"


@pytest.mark.parametrize(
    "difference",
    [
        pytest.param({"session_key": "0" * 32}, id="same login time, another key"),
        pytest.param({"created_at": timedelta(seconds=-5)}, id="same key, an earlier login"),
    ],
)
def test_an_access_token_is_refused_by_another_session_that_took_its_id(
    app: Flask, gql: GraphQL, difference: dict[str, Any]
) -> None:
    login = gql.register("ali")
    sessions = LoginSession.__table__
    with app.app_context():
        row = db.session.execute(sa.select(sessions).where(sessions.c.id == login["payload"]["sid"])).one()
        columns = row._asdict()
        for name, change in difference.items():
            columns[name] = columns[name] + change if isinstance(change, timedelta) else change
        db.session.execute(sa.delete(sessions).where(sessions.c.id == row.id))
        db.session.execute(sa.insert(sessions).values(**columns))
        db.session.commit()

    assert_refused(gql, login["token"])


# At most SESSION_MAX_PER_USER sessions


@pytest.fixture(scope="module")
def three_sessions_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, SESSION_MAX_PER_USER=3) as app:
        yield app


def fresh_gql(app: Flask) -> GraphQL:
    empty_tables(app)
    return GraphQL(app.test_client())


def test_a_login_beyond_the_session_limit_ends_the_oldest_session(three_sessions_app: Flask) -> None:
    gql = fresh_gql(three_sessions_app)
    bea = gql.register("bea")
    oldest, *kept = [gql.register("ali"), log_in(gql, "ali"), log_in(gql, "ali")]

    newest = log_in(gql, "ali")

    assert_refused(gql, oldest["token"])
    assert refused_refresh(gql, oldest["refreshToken"]) == "TOKEN_REVOKED"
    live = [newest, *reversed(kept)]
    assert session_ids(gql, newest["token"]) == [str(login["payload"]["sid"]) for login in live]
    for login in live:
        assert whoami(gql, login["token"])["username"] == "ali"
    assert whoami(gql, bea["token"])["username"] == "bea"
    assert refresh(gql, bea["refreshToken"])["payload"]["username"] == "bea"


def test_ended_sessions_do_not_count_toward_the_session_limit(three_sessions_app: Flask) -> None:
    gql = fresh_gql(three_sessions_app)
    first, second, third = [gql.register("ali"), log_in(gql, "ali"), log_in(gql, "ali")]
    gql(REVOKE_TOKEN, {"refreshToken": third["refreshToken"]})

    fourth = log_in(gql, "ali")

    for login in (first, second, fourth):
        assert whoami(gql, login["token"])["username"] == "ali"
    assert len(session_ids(gql, fourth["token"])) == 3


# One chain of refresh tokens per session


@pytest.fixture(scope="module")
def grace_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """Keeps the default two-tab window of 10 s."""
    with configured_app(tmp_path_factory, JWT_REFRESH_REUSE_INTERVAL=10) as app:
        yield app


@pytest.fixture(scope="module")
def short_grace_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, JWT_REFRESH_REUSE_INTERVAL=1) as app:
        yield app


def unused_refresh_tokens(app: Flask, sid: int) -> int:
    """The session's refresh tokens that could still be rotated: its live chains."""
    return sql(
        app, "SELECT count(*) FROM refresh_tokens WHERE session_id = :sid AND used_at IS NULL", sid=sid
    )


def sealed_successor(app: Flask, refresh_token: str) -> str | None:
    return sql(
        app,
        "SELECT successor_sealed FROM refresh_tokens WHERE token_hash = :digest",
        digest=hashlib.sha256(refresh_token.encode()).hexdigest(),
    )


def test_every_reuse_within_the_window_gets_the_same_refresh_token_so_the_session_has_one_chain(
    grace_app: Flask,
) -> None:
    gql = fresh_gql(grace_app)
    login = gql.register("ali")
    sid = login["payload"]["sid"]
    first = refresh(gql, login["refreshToken"])

    reuses = [refresh(gql, login["refreshToken"]) for _ in range(6)]

    assert {reuse["refreshToken"] for reuse in reuses} == {first["refreshToken"]}
    assert {reuse["refreshExpiresIn"] for reuse in reuses} == {first["refreshExpiresIn"]}
    for reuse in reuses:
        assert reuse["payload"]["sid"] == sid
        assert whoami(gql, reuse["token"])["username"] == "ali"
    assert session_ids(gql, reuses[-1]["token"]) == [str(sid)]
    assert unused_refresh_tokens(grace_app, sid) == 1
    assert refresh(gql, first["refreshToken"])["payload"]["sid"] == sid


def test_a_reuse_within_the_window_after_the_successor_was_used_still_leaves_one_chain(
    grace_app: Flask,
) -> None:
    gql = fresh_gql(grace_app)
    login = gql.register("ali")
    sid = login["payload"]["sid"]
    first = refresh(gql, login["refreshToken"])
    second = refresh(gql, first["refreshToken"])

    assert refresh(gql, login["refreshToken"])["refreshToken"] == first["refreshToken"]
    assert refresh(gql, first["refreshToken"])["refreshToken"] == second["refreshToken"]
    third = refresh(gql, second["refreshToken"])

    assert unused_refresh_tokens(grace_app, sid) == 1
    assert session_ids(gql, third["token"]) == [str(sid)]
    assert refresh(gql, third["refreshToken"])["payload"]["sid"] == sid


def test_the_successor_is_kept_encrypted_never_in_clear(grace_app: Flask) -> None:
    gql = fresh_gql(grace_app)
    login = gql.register("ali")
    successor = refresh(gql, login["refreshToken"])["refreshToken"]

    sealed = sealed_successor(grace_app, login["refreshToken"])

    assert sealed and successor not in sealed
    assert hashlib.sha256(successor.encode()).hexdigest() not in sealed
    assert sealed_successor(grace_app, successor) is None


def test_without_a_reuse_window_no_successor_is_kept(app: Flask, gql: GraphQL) -> None:
    login = gql.register("ali")
    refresh(gql, refresh(gql, login["refreshToken"])["refreshToken"])

    assert sql(app, "SELECT count(*) FROM refresh_tokens WHERE successor_sealed IS NOT NULL") == 0


def test_sealed_successors_are_wiped_once_the_window_has_passed(short_grace_app: Flask) -> None:
    gql = fresh_gql(short_grace_app)
    login = gql.register("ali")
    first = refresh(gql, login["refreshToken"])
    assert sealed_successor(short_grace_app, login["refreshToken"])
    time.sleep(1.1)

    second = refresh(gql, first["refreshToken"])

    assert sealed_successor(short_grace_app, login["refreshToken"]) is None
    assert sealed_successor(short_grace_app, first["refreshToken"])
    time.sleep(1.1)
    flask_command(short_grace_app, "tokens", "purge")
    assert sql(short_grace_app, "SELECT count(*) FROM refresh_tokens WHERE successor_sealed IS NOT NULL") == 0
    assert refresh(gql, second["refreshToken"])["payload"]["username"] == "ali"
    # Past the window a reuse is theft, as before.
    assert refused_refresh(gql, first["refreshToken"]) == "TOKEN_REVOKED"
