"""Bounds on one GraphQL request (aliases, depth, size, tokens, batches), introspection,
the headers every answer carries, and what never reaches the logs."""

import json
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, GraphQL, configured_app, count_rows, empty_tables
from flask import Flask
from flask.testing import FlaskClient
from graphql import get_introspection_query

from service.extensions import db

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshAccessToken(refreshToken: $refreshToken) { token refreshToken }
}
"""
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { token refreshToken }
}
"""
LOGIN_WITH_USER = 'mutation { tokenAuth(username: "ali", password: "wrong guess") { user { id } } }'
LOGIN_WITH_USER_IN_A_FRAGMENT = """
mutation { tokenAuth(username: "ali", password: "wrong guess") { ...Who } }
fragment Who on ObtainJSONWebTokenPayload { user { id } }
"""
WHOAMI = "{ whoami { id } }"
SHALLOW_REGISTER = """
mutation Register($input: CreateUserInput!) { createUser(input: $input) { ok } }
"""
DEEP_QUERY = "{ whoami { a { b { c { d { e { f { g { h { i { j } } } } } } } } } } }"
MISSPELLED = "{ whoam { id } }"
SCHEMA_NAMES = "{ __schema { types { name } } }"
NEW_PASSWORD = "purple submarine under the bridge"
MAX_QUERY_SIZE = 100 * 1024


def aliased(count: int, field: str = "whoami { id }") -> str:
    return "{ " + " ".join(f"a{index}: {field}" for index in range(count)) + " }"


def refused(response) -> str:
    """The message of a request refused before execution: 400, no ``data``, one validation error."""
    body = response.get_json()
    assert response.status_code == 400, body
    assert "data" not in body
    assert all(error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" for error in body["errors"]), body
    return " ".join(error["message"] for error in body["errors"])


def send(client: FlaskClient, query: str, variables: dict | None = None):
    return client.post("/graphql", json={"query": query, "variables": variables})


# Aliases


def test_fifteen_aliased_fields_are_executed(client: FlaskClient) -> None:
    response = send(client, aliased(15))

    body = response.get_json()
    assert response.status_code == 200
    assert body["data"] == {f"a{index}": None for index in range(15)}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["UNAUTHENTICATED"] * 15


def test_sixteen_aliased_fields_are_refused_naming_the_setting(client: FlaskClient) -> None:
    assert "GRAPHQL_MAX_ALIASES" in refused(send(client, aliased(16)))


def test_aliases_hidden_in_fragments_count_too(client: FlaskClient) -> None:
    query = (
        "{ ...Eight ...More } "
        f"fragment Eight on Query {{ {aliased(8)[2:-2]} }} "
        f"fragment More on Query {{ {' '.join(f'b{index}: whoami {{ id }}' for index in range(8))} }}"
    )
    assert "GRAPHQL_MAX_ALIASES" in refused(send(client, query))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="default limits"),
        pytest.param({"GRAPHQL_MAX_TOKENS": 1_000_000}, id="no token limit to stop it"),
    ],
)
def test_a_thousand_aliased_logins_are_refused_before_any_password_is_checked(
    tmp_path_factory: pytest.TempPathFactory, overrides: dict
) -> None:
    with configured_app(tmp_path_factory, **overrides) as app:
        client = app.test_client()
        gql = GraphQL(client)
        gql.register()
        events = count_rows(app, "rate_events")
        with app.app_context():
            last_login = db.session.scalar(sa.text("SELECT last_login FROM users"))
        query = aliased(1000, f'tokenAuth(username: "ali", password: "{STRONG_PASSWORD}") {{ token }}')
        query = "mutation " + query

        message = refused(send(client, query))

        assert "GRAPHQL_MAX_" in message
        assert count_rows(app, "rate_events") == events
        assert count_rows(app, "login_sessions") == 1
        with app.app_context():
            assert db.session.scalar(sa.text("SELECT last_login FROM users")) == last_login


# Depth


def test_a_query_deeper_than_ten_levels_is_refused_naming_the_setting(client: FlaskClient) -> None:
    message = refused(send(client, DEEP_QUERY))
    assert "11 levels deep" in message
    assert "GRAPHQL_MAX_DEPTH" in message


@pytest.fixture(scope="module")
def shallow_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, GRAPHQL_MAX_DEPTH=2) as app:
        yield app


@pytest.fixture
def shallow(shallow_app: Flask) -> FlaskClient:
    empty_tables(shallow_app)
    return shallow_app.test_client()


def test_a_query_within_the_depth_limit_is_executed(shallow: FlaskClient) -> None:
    response = send(shallow, WHOAMI)
    assert response.status_code == 200
    assert response.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(LOGIN_WITH_USER, id="fields"),
        pytest.param(LOGIN_WITH_USER_IN_A_FRAGMENT, id="through a fragment"),
        pytest.param(
            'mutation { tokenAuth(username: "ali", password: "wrong guess") '
            "{ ... on ObtainJSONWebTokenPayload { user { id } } } }",
            id="through an inline fragment",
        ),
    ],
)
def test_a_query_past_a_configured_depth_is_refused_before_it_runs(
    shallow_app: Flask, shallow: FlaskClient, query: str
) -> None:
    GraphQL(shallow)(
        SHALLOW_REGISTER,
        {"input": {"username": "ali", "email": "ali@example.com", "password": STRONG_PASSWORD}},
    )
    events = count_rows(shallow_app, "rate_events")

    message = refused(send(shallow, query))

    assert "3 levels deep; at most 2" in message
    assert "GRAPHQL_MAX_DEPTH" in message
    assert count_rows(shallow_app, "rate_events") == events


# Size and tokens


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        pytest.param("{ __typename }\n#" + "x" * (MAX_QUERY_SIZE - 16), True, id="exactly 100 KiB"),
        pytest.param("{ __typename }\n#" + "x" * (MAX_QUERY_SIZE - 15), False, id="one byte more"),
        pytest.param("{ __typename }\n#" + "é" * 60_000, False, id="60,000 characters in 120,000 bytes"),
    ],
)
def test_documents_over_the_query_size_limit_are_refused_naming_it(
    client: FlaskClient, query: str, accepted: bool
) -> None:
    response = send(client, query)
    if accepted:
        assert response.status_code == 200
        assert response.get_json() == {"data": {"__typename": "Query"}}
    else:
        assert "GRAPHQL_MAX_QUERY_SIZE" in refused(response)


def test_documents_with_more_than_five_thousand_tokens_are_refused_naming_the_setting(
    client: FlaskClient,
) -> None:
    query = "{ whoami { " + "id " * 5000 + "} }"
    assert len(query.encode()) < MAX_QUERY_SIZE
    message = refused(send(client, query))
    assert "5000 tokens" in message
    assert "GRAPHQL_MAX_TOKENS" in message


BATCH_LOGIN = {"query": TOKEN_AUTH, "variables": {"username": "ali", "password": "wrong guess"}}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"json": [BATCH_LOGIN, BATCH_LOGIN]}, id="JSON list"),
        pytest.param(
            {
                "data": {"operations": json.dumps([BATCH_LOGIN, BATCH_LOGIN]), "map": "{}"},
                "content_type": "multipart/form-data",
            },
            id="multipart",
        ),
    ],
)
def test_a_batch_of_operations_is_refused_outright(app: Flask, client: FlaskClient, options: dict) -> None:
    GraphQL(client).register()
    events = count_rows(app, "rate_events")

    response = client.post("/graphql", **options)

    body = response.get_json()
    assert response.status_code == 400
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert count_rows(app, "rate_events") == events


# Introspection


def test_the_standard_introspection_query_works_with_the_default_limits(client: FlaskClient) -> None:
    response = send(client, get_introspection_query(descriptions=True))

    body = response.get_json()
    assert response.status_code == 200, body
    assert "errors" not in body
    names = {named["name"] for named in body["data"]["__schema"]["types"]}
    assert {"Query", "Mutation", "User", "Session"} <= names


def test_with_introspection_on_a_misspelled_field_gets_a_suggestion(client: FlaskClient) -> None:
    assert "Did you mean 'whoami'?" in refused(send(client, MISSPELLED))


@pytest.fixture(scope="module")
def closed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, GRAPHQL_INTROSPECTION=False) as app:
        yield app


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(SCHEMA_NAMES, id="__schema"),
        pytest.param('{ __type(name: "User") { fields { name } } }', id="__type"),
        pytest.param(get_introspection_query(descriptions=True), id="standard introspection query"),
    ],
)
def test_with_introspection_off_schema_queries_are_refused(closed_app: Flask, query: str) -> None:
    assert "introspection is disabled" in refused(send(closed_app.test_client(), query))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param(MISSPELLED, "whoam", id="query field"),
        pytest.param("{ whoami { usernam } }", "usernam", id="type field"),
        pytest.param(
            'mutation { tokenAut(username: "a", password: "b") { token } }', "tokenAut", id="mutation"
        ),
    ],
)
def test_with_introspection_off_errors_suggest_no_field_names(
    closed_app: Flask, query: str, field: str
) -> None:
    message = refused(send(closed_app.test_client(), query))
    assert f"Cannot query field '{field}'" in message
    assert "Did you mean" not in message


# Headers


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        pytest.param("post", "/graphql", {"json": {"query": WHOAMI}}, id="executed operation"),
        pytest.param("post", "/graphql", {"json": {"query": "{ nope }"}}, id="refused operation"),
        pytest.param("get", "/graphql", {"query_string": {"query": WHOAMI}}, id="query over GET"),
        pytest.param("get", "/graphql", {"headers": {"Accept": "text/html"}}, id="explorer page"),
        pytest.param("put", "/graphql", {}, id="wrong method"),
        pytest.param("get", "/nowhere", {}, id="unknown path"),
        pytest.param("get", "/uploads/profile_pics/missing.png", {}, id="missing upload"),
    ],
)
def test_every_answer_forbids_sniffing_and_referrers(
    client: FlaskClient, method: str, path: str, options: dict
) -> None:
    response = getattr(client, method)(path, **options)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("method", "options"),
    [
        pytest.param(
            "post",
            {"json": {"query": TOKEN_AUTH, "variables": {"username": "ali", "password": STRONG_PASSWORD}}},
            id="login",
        ),
        pytest.param("post", {"json": {"query": "{ nope }"}}, id="refused operation"),
        pytest.param("post", {"data": "not json", "content_type": "application/json"}, id="unreadable body"),
        pytest.param("get", {"query_string": {"query": WHOAMI}}, id="query over GET"),
    ],
)
def test_graphql_answers_may_not_be_cached(client: FlaskClient, method: str, options: dict) -> None:
    GraphQL(client).register()
    response = getattr(client, method)("/graphql", **options)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_explorer_page_may_not_be_framed_and_talks_only_to_this_service(client: FlaskClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    directives = {
        name: value
        for name, _, value in (
            part.strip().partition(" ") for part in response.headers["Content-Security-Policy"].split(";")
        )
    }
    assert directives["frame-ancestors"] == "'none'"
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'"


# Logs


def test_passwords_and_tokens_never_reach_the_logs_or_error_messages(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    gql = GraphQL(client)
    secrets: list[str] = [STRONG_PASSWORD, NEW_PASSWORD, "my secret guess", "12345678"]
    answers: list[dict] = []
    # Every statement the service sends to the database, with its parameters and rows, is logged too.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"):
        registered = gql.register()
        login = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]
        refreshed = gql(REFRESH, {"refreshToken": login["refreshToken"]})["refreshAccessToken"]
        answers.append(gql.post(TOKEN_AUTH, {"username": "ali", "password": "my secret guess"})[1])
        answers.append(
            gql.post(
                CHANGE_PASSWORD,
                {"oldPassword": "my secret guess", "newPassword": NEW_PASSWORD},
                token=refreshed["token"],
            )[1]
        )
        answers.append(
            gql.post(
                CHANGE_PASSWORD,
                {"oldPassword": STRONG_PASSWORD, "newPassword": "12345678"},
                token=refreshed["token"],
            )[1]
        )
        changed = gql(
            CHANGE_PASSWORD,
            {"oldPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD},
            token=refreshed["token"],
        )["changePassword"]
        answers.append(gql.post(REFRESH, {"refreshToken": login["refreshToken"]})[1])
    for tokens in (registered, login, refreshed, changed):
        secrets += [tokens["token"], tokens["refreshToken"]]

    assert "INSERT INTO refresh_tokens" in caplog.text, "the capture missed the database's log"
    assert [answer["errors"][0]["extensions"]["code"] for answer in answers] == [
        "INVALID_CREDENTIALS",
        "INVALID_CREDENTIALS",
        "BAD_USER_INPUT",
        "TOKEN_REVOKED",
    ]
    for secret in secrets:
        assert secret not in caplog.text
        for answer in answers:
            assert secret not in str(answer["errors"])
