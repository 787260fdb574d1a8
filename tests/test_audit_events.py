"""Reading the security event log: a user's own ``securityEvents``, staff's ``auditEvents`` (filters,
cursor pages, bad input), and ``flask tokens purge`` dropping events past their retention."""

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, GraphQL, update_user
from flask import Flask

from service.auth.events import record_event
from service.config import ConfigError, settings_from_env
from service.extensions import db
from service.models import SecurityEvent, utcnow

SECURITY_EVENTS = """
query Mine($first: Int, $after: String) {
  securityEvents(first: $first, after: $after) {
    edges { cursor node { id kind createdAt ipAddress userAgent userId actorId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
AUDIT_EVENTS = """
query Audit($userId: ID, $kind: SecurityEventKind, $first: Int, $after: String) {
  auditEvents(userId: $userId, kind: $kind, first: $first, after: $after) {
    edges { cursor node { id kind userId actorId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
USERS = "query { users(first: 1) { pageInfo { endCursor } } }"
TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token }
}
"""
SET_USER_ACTIVE = "mutation Active($id: ID!, $on: Boolean!) { setUserActive(id: $id, isActive: $on) { id } }"


# Helpers


def add_events(app: Flask, *events: tuple[str, int | None], age_days: float = 0) -> None:
    """Log events straight into the table (``(kind, user_id)`` each), ``age_days`` old."""
    with app.app_context():
        for kind, user_id in events:
            record_event(kind, user_id=user_id, ip="198.51.100.1", now=utcnow() - timedelta(days=age_days))
        db.session.commit()


def event_ids(app: Flask, **where: Any) -> list[int]:
    """The ids of the events (matching ``where``), newest first."""
    with app.app_context():
        query = sa.select(SecurityEvent.id).filter_by(**where).order_by(SecurityEvent.id.desc())
        return list(db.session.scalars(query))


def refusal(gql: GraphQL, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
    """The ``extensions`` of the one error of a query refused as a whole (its connection is non-null,
    so ``data`` is null)."""
    status, body = gql.post(query, variables, **kwargs)
    assert status == 200 and body["data"] is None, body
    assert len(body["errors"]) == 1, body["errors"]
    return body["errors"][0]["extensions"]


def nodes(connection: dict) -> list[dict]:
    return [edge["node"] for edge in connection["edges"]]


def ids_of(connection: dict) -> list[int]:
    return [int(node["id"]) for node in nodes(connection)]


def audit(gql: GraphQL, token: str, **arguments: Any) -> dict:
    return gql(AUDIT_EVENTS, arguments, token=token)["auditEvents"]


def staff_member(gql: GraphQL, app: Flask, username: str = "boss", **flags: bool) -> tuple[str, int]:
    account = gql.register(username)
    update_user(app, username, **(flags or {"is_staff": True}))
    return account["token"], int(account["user"]["id"])


# securityEvents


def test_security_events_lists_the_callers_own_events_newest_first(app: Flask, gql: GraphQL) -> None:
    ali = gql.register("ali")
    ali_id = int(ali["user"]["id"])
    gql.register("bob")
    add_events(app, ("LOGIN_FAILED", ali_id), ("LOGIN_FAILED", ali_id + 1), ("LOGGED_OUT", ali_id))

    page = gql(SECURITY_EVENTS, token=ali["token"])["securityEvents"]

    assert [node["kind"] for node in nodes(page)] == ["LOGGED_OUT", "LOGIN_FAILED", "LOGIN_SUCCEEDED"]
    assert ids_of(page) == event_ids(app, user_id=ali_id)
    assert {node["userId"] for node in nodes(page)} == {str(ali_id)}
    newest, registration = nodes(page)[0], nodes(page)[-1]
    assert (newest["ipAddress"], newest["userAgent"]) == ("198.51.100.1", "")
    assert registration["ipAddress"] == "127.0.0.1" and registration["userAgent"].startswith("Werkzeug")
    assert registration["createdAt"].endswith("+00:00")
    assert page["pageInfo"] == {"hasNextPage": False, "endCursor": page["edges"][-1]["cursor"]}


def test_security_events_needs_a_signed_in_user(gql: GraphQL) -> None:
    assert refusal(gql, SECURITY_EVENTS)["code"] == "UNAUTHENTICATED"


def test_a_user_does_not_learn_which_staff_member_changed_their_account(app: Flask, gql: GraphQL) -> None:
    boss_token, boss_id = staff_member(gql, app, is_staff=True, is_superuser=True)
    ali = gql.register("ali")
    gql(SET_USER_ACTIVE, {"id": ali["user"]["id"], "on": False}, token=boss_token)
    update_user(app, "ali", is_active=True)  # deactivation ended ali's sessions: log in again
    ali_token = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]["token"]

    own = nodes(gql(SECURITY_EVENTS, token=ali_token)["securityEvents"])
    audited = nodes(audit(gql, boss_token, userId=ali["user"]["id"], kind="ACTIVE_CHANGED"))

    assert [(node["kind"], node["actorId"]) for node in own if node["kind"] == "ACTIVE_CHANGED"] == [
        ("ACTIVE_CHANGED", None)
    ]
    assert [(node["kind"], node["actorId"]) for node in audited] == [("ACTIVE_CHANGED", str(boss_id))]


# auditEvents


def test_audit_events_is_for_staff_only(app: Flask, gql: GraphQL) -> None:
    ali = gql.register("ali")

    assert refusal(gql, AUDIT_EVENTS, token=ali["token"])["code"] == "FORBIDDEN"
    assert refusal(gql, AUDIT_EVENTS)["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_superuser": True}])
def test_staff_see_every_accounts_events_and_those_naming_no_account(
    app: Flask, gql: GraphQL, flags: dict
) -> None:
    token, _ = staff_member(gql, app, **flags)
    gql.register("ali")
    add_events(app, ("LOGIN_FAILED", None))

    page = audit(gql, token)

    assert ids_of(page) == event_ids(app)
    assert [node["userId"] for node in nodes(page)] == [None, "2", "1"]


def test_audit_events_filter_by_account_and_kind(app: Flask, gql: GraphQL) -> None:
    token, _ = staff_member(gql, app)
    ali_id = int(gql.register("ali")["user"]["id"])
    add_events(
        app, ("LOGIN_FAILED", ali_id), ("LOGIN_FAILED", 1), ("LOGGED_OUT", ali_id), ("LOGIN_FAILED", 99)
    )

    by_account = audit(gql, token, userId=str(ali_id))
    by_kind = audit(gql, token, kind="LOGIN_FAILED")
    both = audit(gql, token, userId=str(ali_id), kind="LOGIN_FAILED")
    deleted_account = audit(gql, token, userId="99")
    nobody = audit(gql, token, userId="12345")

    assert ids_of(by_account) == event_ids(app, user_id=ali_id)
    assert ids_of(by_kind) == event_ids(app, kind="LOGIN_FAILED")
    assert ids_of(both) == event_ids(app, user_id=ali_id, kind="LOGIN_FAILED")
    assert len(ids_of(both)) == 1
    assert ids_of(deleted_account) == event_ids(app, user_id=99) != []
    assert nobody == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def test_pages_follow_each_other_by_cursor_with_no_gap_or_overlap(app: Flask, gql: GraphQL) -> None:
    token, boss_id = staff_member(gql, app)
    add_events(app, *[("LOGIN_FAILED", boss_id)] * 6, *[("LOGGED_OUT", boss_id)] * 6)
    expected = event_ids(app, kind="LOGIN_FAILED")
    assert len(expected) == 6

    seen, after, pages = [], None, 0
    while True:
        page = audit(gql, token, kind="LOGIN_FAILED", first=4, after=after)
        pages += 1
        seen += ids_of(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]

    assert (pages, seen) == (2, expected)
    own, own_after = [], None
    for _ in range(5):  # 13 events (the registration's and 12): pages of 3, 3, 3, 3 and 1
        page = gql(SECURITY_EVENTS, {"first": 3, "after": own_after}, token=token)["securityEvents"]
        own += ids_of(page)
        own_after = page["pageInfo"]["endCursor"]
    assert own == event_ids(app, user_id=boss_id)
    assert not page["pageInfo"]["hasNextPage"] and len(page["edges"]) == 1
    after_last = gql(SECURITY_EVENTS, {"after": own_after}, token=token)["securityEvents"]
    assert after_last == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def test_the_default_page_holds_twenty_events(app: Flask, gql: GraphQL) -> None:
    token, boss_id = staff_member(gql, app)
    add_events(app, *[("LOGIN_FAILED", boss_id)] * 25)

    page = gql("{ auditEvents(first: null) { edges { cursor } pageInfo { hasNextPage } } }", token=token)

    assert len(page["auditEvents"]["edges"]) == 20 and page["auditEvents"]["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"after": "not a cursor"}, "after"),
        ({"after": "ZXZlbnQ6LTE="}, "after"),  # "event:-1"
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"userId": "ali"}, "userId"),
        ({"userId": "0"}, "userId"),
    ],
)
def test_bad_arguments_are_bad_user_input_naming_the_argument(
    app: Flask, gql: GraphQL, arguments: dict, argument: str
) -> None:
    token, _ = staff_member(gql, app)

    error = refusal(gql, AUDIT_EVENTS, arguments, token=token)

    assert error["code"] == "BAD_USER_INPUT"
    assert list(error["fields"]) == [argument]


def test_a_users_cursor_is_not_an_events_cursor(app: Flask, gql: GraphQL) -> None:
    token, _ = staff_member(gql, app)
    users_cursor = gql(USERS, token=token)["users"]["pageInfo"]["endCursor"]

    for query in (AUDIT_EVENTS, SECURITY_EVENTS):
        error = refusal(gql, query, {"after": users_cursor}, token=token)
        assert (error["code"], list(error["fields"])) == ("BAD_USER_INPUT", ["after"])


def test_an_unknown_kind_is_refused_before_anything_runs(app: Flask, gql: GraphQL) -> None:
    token, _ = staff_member(gql, app)

    status, body = gql.post(AUDIT_EVENTS, {"kind": "PASSWORD_LEAKED"}, token=token)

    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# Retention


def test_tokens_purge_deletes_only_events_past_the_retention(app: Flask, gql: GraphQL) -> None:
    gql.register("ali")
    add_events(app, ("LOGIN_FAILED", 1), ("LOGGED_OUT", 1), age_days=366)
    add_events(app, ("LOGIN_FAILED", 1), age_days=364)
    newest, *_, registration = event_ids(app)

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["tokens", "purge"])

    assert result.exit_code == 0, result.output
    assert "Removed 2 security events older than 365 days." in result.output
    assert event_ids(app) == [newest, registration]


@pytest.mark.parametrize(("raw", "days"), [(None, 365), ("30", 30), ("1", 1)])
def test_the_retention_defaults_to_a_year(raw: str | None, days: int) -> None:
    env = {} if raw is None else {"SECURITY_EVENT_RETENTION_DAYS": raw}

    assert settings_from_env(env)["SECURITY_EVENT_RETENTION_DAYS"] == days


@pytest.mark.parametrize("raw", ["0", "-5", "a year"])
def test_a_retention_under_a_day_is_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="SECURITY_EVENT_RETENTION_DAYS"):
        settings_from_env({"SECURITY_EVENT_RETENTION_DAYS": raw})
