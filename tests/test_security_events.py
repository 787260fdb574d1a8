"""The security event log is written where things happen: each kind, through the API, the staff
console or an operator's command, in the transaction of the change it records; never a secret."""

from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from conftest import STRONG_PASSWORD, GraphQL, update_user
from console_pages import form_token_in
from flask import Flask
from flask.testing import FlaskClient

from service.extensions import db
from service.models import SecurityEvent

IP = "203.0.113.9"
AGENT = "EventTest/1.0"
NEW_PASSWORD = "purple submarine under the bridge"
WRONG_PASSWORD = "not the password at all"

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken payload }
}
"""
REFRESH = "mutation Refresh($r: String!) { refreshAccessToken(refreshToken: $r) { token refreshToken } }"
REVOKE_TOKEN = "mutation Logout($r: String!) { revokeToken(refreshToken: $r) { revoked } }"
REVOKE_SESSION = "mutation End($id: ID!) { revokeSession(id: $id) { revoked } }"
REVOKE_ALL = "mutation { revokeAllTokens { revoked } }"
CHANGE_PASSWORD = """
mutation Change($old: String!, $new: String!) {
  changePassword(oldPassword: $old, newPassword: $new) { ok token refreshToken }
}
"""
DELETE_ACCOUNT = "mutation Delete($password: String!) { deleteAccount(password: $password) { ok } }"
SET_USER_ACTIVE = "mutation Active($id: ID!, $on: Boolean!) { setUserActive(id: $id, isActive: $on) { id } }"
SET_USER_STAFF = "mutation Staff($id: ID!, $on: Boolean!) { setUserStaff(id: $id, isStaff: $on) { id } }"


# Helpers


@pytest.fixture
def gql(client: FlaskClient) -> GraphQL:
    """Every request of the test comes from one address with one user agent."""
    client.environ_base.update(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    return GraphQL(client)


def logged(app: Flask) -> list[dict[str, Any]]:
    """Every event in the table, oldest first."""
    with app.app_context():
        events = db.session.scalars(sa.select(SecurityEvent).order_by(SecurityEvent.id)).all()
        return [
            {
                "kind": event.kind,
                "user_id": event.user_id,
                "actor_id": event.actor_id,
                "ip": event.ip_address,
                "agent": event.user_agent,
            }
            for event in events
        ]


def kinds(app: Flask, user_id: int | None = None) -> list[str]:
    """The kinds logged (for one account), oldest first."""
    return [event["kind"] for event in logged(app) if user_id is None or event["user_id"] == user_id]


def event(
    kind: str, user_id: int | None, actor_id: int | None = None, ip: str = IP, agent: str = AGENT
) -> dict:
    return {"kind": kind, "user_id": user_id, "actor_id": actor_id, "ip": ip, "agent": agent}


def register(gql: GraphQL, username: str = "ali") -> tuple[dict, int]:
    account = gql.register(username)
    return account, int(account["user"]["id"])


def log_in(gql: GraphQL, username: str = "ali", password: str = STRONG_PASSWORD) -> dict:
    return gql(TOKEN_AUTH, {"username": username, "password": password})["tokenAuth"]


def login_error(gql: GraphQL, username: str = "ali", password: str = WRONG_PASSWORD) -> str:
    return gql.error(TOKEN_AUTH, {"username": username, "password": password})["extensions"]["code"]


def invoke(app: Flask, *args: str, input: str | None = None) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), input=input, env={"SUPERUSER_PASSWORD": None})


def console_log_in(client: FlaskClient, username: str, password: str = STRONG_PASSWORD) -> int:
    token = form_token_in(client.get("/admin/login").text)
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/admin/login", data=data).status_code


def console_act(client: FlaskClient, path: str, **fields: str) -> int:
    token = form_token_in(client.get("/admin/users").text)
    return client.post(path, data={**fields, "csrf_token": token}).status_code


# Logins


def test_registration_and_login_each_log_a_login_with_the_address_and_agent(app: Flask, gql: GraphQL) -> None:
    _, ali = register(gql)
    log_in(gql)

    assert logged(app) == [event("LOGIN_SUCCEEDED", ali), event("LOGIN_SUCCEEDED", ali)]


def test_a_wrong_password_is_logged_although_the_login_fails(app: Flask, gql: GraphQL) -> None:
    _, ali = register(gql)

    assert login_error(gql) == "INVALID_CREDENTIALS"

    assert logged(app)[1:] == [event("LOGIN_FAILED", ali)]


def test_an_inactive_accounts_right_password_is_a_failed_login(app: Flask, gql: GraphQL) -> None:
    register(gql)
    update_user(app, "ali", is_active=False)

    assert login_error(gql, password=STRONG_PASSWORD) == "INVALID_CREDENTIALS"

    assert kinds(app) == ["LOGIN_SUCCEEDED", "LOGIN_FAILED"]


def test_a_login_naming_no_account_is_logged_with_no_account(app: Flask, gql: GraphQL) -> None:
    assert login_error(gql, username="nobody") == "INVALID_CREDENTIALS"

    assert logged(app) == [event("LOGIN_FAILED", None)]


def test_the_failure_that_fills_the_limit_logs_one_lockout_and_refusals_log_nothing(
    app: Flask, gql: GraphQL
) -> None:
    _, ali = register(gql)
    limit = app.config["LOGIN_MAX_FAILURES"]

    for _ in range(limit - 1):
        assert login_error(gql) == "INVALID_CREDENTIALS"
    assert "LOCKED_OUT" not in kinds(app)
    assert login_error(gql) == "INVALID_CREDENTIALS"
    assert kinds(app)[-2:] == ["LOGIN_FAILED", "LOCKED_OUT"]
    assert login_error(gql) == "RATE_LIMITED"
    assert login_error(gql, password=STRONG_PASSWORD) == "RATE_LIMITED"

    assert kinds(app, ali) == ["LOGIN_SUCCEEDED"] + ["LOGIN_FAILED"] * limit + ["LOCKED_OUT"]
    assert logged(app)[-1] == event("LOCKED_OUT", ali)


def test_a_lockout_of_a_name_no_account_has_is_not_logged(app: Flask, gql: GraphQL) -> None:
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        login_error(gql, username="nobody")

    assert set(kinds(app)) == {"LOGIN_FAILED"}


# Logouts and sessions


def test_revoke_token_logs_a_logout_once(app: Flask, gql: GraphQL) -> None:
    account, ali = register(gql)

    gql(REVOKE_TOKEN, {"r": account["refreshToken"]})
    assert gql.error(REVOKE_TOKEN, {"r": account["refreshToken"]})["extensions"]["code"] == "TOKEN_REVOKED"

    assert logged(app)[1:] == [event("LOGGED_OUT", ali)]


def test_revoke_session_logs_a_logout_and_a_refused_one_logs_nothing(app: Flask, gql: GraphQL) -> None:
    account, ali = register(gql)
    other = log_in(gql)

    gql(REVOKE_SESSION, {"id": str(other["payload"]["sid"])}, token=account["token"])
    error = gql.error(REVOKE_SESSION, {"id": str(other["payload"]["sid"])}, token=account["token"])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    assert kinds(app) == ["LOGIN_SUCCEEDED", "LOGIN_SUCCEEDED", "LOGGED_OUT"]
    assert logged(app)[-1] == event("LOGGED_OUT", ali)


def test_revoke_all_tokens_logs_a_logout_everywhere(app: Flask, gql: GraphQL) -> None:
    account, ali = register(gql)

    gql(REVOKE_ALL, token=account["token"])

    assert logged(app)[1:] == [event("LOGGED_OUT_EVERYWHERE", ali)]


def test_reusing_a_rotated_refresh_token_logs_session_theft_once(app: Flask, gql: GraphQL) -> None:
    account, ali = register(gql)
    gql(REFRESH, {"r": account["refreshToken"]})

    thief = {"User-Agent": "Thief/6.6"}
    for _ in range(2):  # the second reuse meets a session that has already ended
        error = gql.error(REFRESH, {"r": account["refreshToken"]}, headers=thief)
        assert error["extensions"]["code"] == "TOKEN_REVOKED"

    assert logged(app)[1:] == [event("SESSION_THEFT_DETECTED", ali, agent="Thief/6.6")]


def test_refreshing_logs_nothing(app: Flask, gql: GraphQL) -> None:
    account, _ = register(gql)

    gql(REFRESH, {"r": account["refreshToken"]})

    assert kinds(app) == ["LOGIN_SUCCEEDED"]


# Passwords and deletion


def test_change_password_logs_the_change_and_a_refused_change_logs_none(app: Flask, gql: GraphQL) -> None:
    account, ali = register(gql)

    error = gql.error(CHANGE_PASSWORD, {"old": STRONG_PASSWORD, "new": "short"}, token=account["token"])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = gql.error(CHANGE_PASSWORD, {"old": WRONG_PASSWORD, "new": NEW_PASSWORD}, token=account["token"])
    assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert kinds(app) == ["LOGIN_SUCCEEDED", "LOGIN_FAILED"]

    gql(CHANGE_PASSWORD, {"old": STRONG_PASSWORD, "new": NEW_PASSWORD}, token=account["token"])

    assert logged(app)[2:] == [event("PASSWORD_CHANGED", ali)]


def test_delete_account_logs_the_deletion_and_the_events_outlive_the_account(
    app: Flask, gql: GraphQL
) -> None:
    account, ali = register(gql)

    error = gql.error(DELETE_ACCOUNT, {"password": WRONG_PASSWORD}, token=account["token"])
    assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
    gql(DELETE_ACCOUNT, {"password": STRONG_PASSWORD}, token=account["token"])

    assert logged(app) == [
        event("LOGIN_SUCCEEDED", ali),
        event("LOGIN_FAILED", ali),
        event("ACCOUNT_DELETED", ali),
    ]


# Staff changes


def test_superusers_switches_log_the_change_and_who_made_it(app: Flask, gql: GraphQL) -> None:
    boss, boss_id = register(gql, "boss")
    update_user(app, "boss", is_staff=True, is_superuser=True)
    _, ali = register(gql, "ali")

    gql(SET_USER_STAFF, {"id": str(ali), "on": True}, token=boss["token"])
    gql(SET_USER_STAFF, {"id": str(ali), "on": True}, token=boss["token"])  # no change: nothing logged
    gql(SET_USER_ACTIVE, {"id": str(ali), "on": False}, token=boss["token"])
    gql(SET_USER_ACTIVE, {"id": str(ali), "on": True}, token=boss["token"])
    refused = gql.error(SET_USER_ACTIVE, {"id": str(boss_id), "on": False}, token=boss["token"])
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"

    assert logged(app)[2:] == [
        event("STAFF_CHANGED", ali, actor_id=boss_id),
        event("ACTIVE_CHANGED", ali, actor_id=boss_id),
        event("ACTIVE_CHANGED", ali, actor_id=boss_id),
    ]


def test_operators_commands_log_their_changes_with_no_actor_address_or_agent(
    app: Flask, gql: GraphQL
) -> None:
    _, ali = register(gql)

    assert (
        invoke(app, "users", "set-password", "ali", "--password-stdin", input=f"{NEW_PASSWORD}\n").exit_code
        == 0
    )
    assert invoke(app, "users", "set-password", "ali", "--password-stdin", input="short\n").exit_code == 1
    assert invoke(app, "users", "deactivate", "ali").exit_code == 0
    assert invoke(app, "users", "activate", "ali").exit_code == 0

    blank = {"ip": "", "agent": ""}
    assert logged(app)[1:] == [
        event("PASSWORD_CHANGED", ali, **blank),
        event("ACTIVE_CHANGED", ali, **blank),
        event("ACTIVE_CHANGED", ali, **blank),
    ]


def test_the_staff_console_logs_sign_ins_actions_and_sign_outs(
    app: Flask, gql: GraphQL, client: FlaskClient
) -> None:
    _, root = register(gql, "root")
    update_user(app, "root", is_staff=True, is_superuser=True)
    _, ali = register(gql, "ali")
    assert console_log_in(client, "root", WRONG_PASSWORD) == 200
    assert console_log_in(client, "root") == 303

    assert console_act(client, f"/admin/users/{ali}/deactivate") == 303
    assert console_act(client, f"/admin/users/{ali}/activate") == 303
    assert console_act(client, f"/admin/users/{ali}/staff", is_staff="true") == 303
    assert console_act(client, f"/admin/users/{ali}/password", password="short") == 400
    assert console_act(client, f"/admin/users/{ali}/password", password=NEW_PASSWORD) == 303
    second = log_in(gql, password=NEW_PASSWORD)
    assert console_act(client, f"/admin/users/{ali}/sessions/{second['payload']['sid']}/revoke") == 303
    assert console_act(client, f"/admin/users/{ali}/sessions/revoke-all") == 303
    assert console_act(client, "/admin/logout") == 303

    assert logged(app)[2:] == [
        event("LOGIN_FAILED", root),
        event("LOGIN_SUCCEEDED", root),
        event("ACTIVE_CHANGED", ali, actor_id=root),
        event("ACTIVE_CHANGED", ali, actor_id=root),
        event("STAFF_CHANGED", ali, actor_id=root),
        event("PASSWORD_CHANGED", ali, actor_id=root),
        event("LOGIN_SUCCEEDED", ali),
        event("LOGGED_OUT", ali, actor_id=root),
        event("LOGGED_OUT_EVERYWHERE", ali, actor_id=root),
        event("LOGGED_OUT", root),
    ]


def test_the_console_account_page_lists_the_accounts_recent_events(
    app: Flask, gql: GraphQL, client: FlaskClient
) -> None:
    _, root = register(gql, "root")
    update_user(app, "root", is_staff=True, is_superuser=True)
    _, ali = register(gql, "ali")
    login_error(gql)
    assert console_log_in(client, "root") == 303
    assert console_act(client, f"/admin/users/{ali}/deactivate") == 303

    page = client.get(f"/admin/users/{ali}").text
    events = page.split("Recent security events", 1)[1]

    assert events.index("active changed") < events.index("login failed") < events.index("login succeeded")
    assert f'href="/admin/users/{root}">staff #{root}</a>' in events
    assert IP in events and AGENT in events


# Never a secret


def test_no_password_or_token_is_ever_stored_in_the_log(app: Flask, gql: GraphQL) -> None:
    account, _ = register(gql)
    secrets = {STRONG_PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, account["token"], account["refreshToken"]}
    login_error(gql, username=WRONG_PASSWORD)  # a password typed as the username
    login_error(gql)
    pair = log_in(gql)
    secrets |= {pair["token"], pair["refreshToken"]}
    rotated = gql(REFRESH, {"r": pair["refreshToken"]})["refreshAccessToken"]
    secrets |= {rotated["token"], rotated["refreshToken"]}
    gql.error(REFRESH, {"r": pair["refreshToken"]})
    changed = gql(CHANGE_PASSWORD, {"old": STRONG_PASSWORD, "new": NEW_PASSWORD}, token=account["token"])
    secrets |= {changed["changePassword"]["token"], changed["changePassword"]["refreshToken"]}
    gql(REVOKE_TOKEN, {"r": changed["changePassword"]["refreshToken"]})

    with app.app_context():
        rows = [tuple(row) for row in db.session.execute(sa.select(SecurityEvent.__table__))]
    assert len(rows) >= 7
    stored = "\n".join(str(value) for row in rows for value in row)
    assert [secret for secret in secrets if secret in stored] == []
