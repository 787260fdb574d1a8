"""Checked documents are cached per app, and a cached document keeps every rule.

A client sends the same document again and again; the second time it costs a
lookup, but it is refused (or run) exactly as the first time, and an app's
verdict never leaks into another app with other limits.
"""

from collections.abc import Iterator

import pytest
from conftest import GraphQL, configured_app
from flask import Flask
from flask.testing import FlaskClient

from service.graphql.execution import DOCUMENT_CACHE_MAX_QUERY

WHOAMI = "{ whoami { id username } }"
SCHEMA_TYPES = "{ __schema { queryType { name } } }"
TWICE_SCHEMA = "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }"
SIXTEEN_ALIASES = "{ " + " ".join(f"a{n}: __typename" for n in range(16)) + " }"
TOO_DEEP = "{ whoami { a { b { c { d { e { f { g { h { i { j } } } } } } } } } } }"
TOO_COSTLY = (
    "mutation { "
    + " ".join(f'l{n}: tokenAuth(username: "ali", password: "wrong guess") {{ token }}' for n in range(5))
    + " }"
)
MISSPELLED = "{ whoam { id } }"
SYNTAX_ERROR = "{ whoami { id }"
TOO_MANY_TOKENS = "{ " + "__typename " * 5001 + "}"
USER_BY_ID = "query One($id: ID!) { user(id: $id) { id username } }"
TWO_OPERATIONS = "query First { __typename } query Second { whoami { id } }"


def post(client: FlaskClient, query: str, **body: object) -> tuple[int, dict]:
    response = client.post("/graphql", json={"query": query, **body})
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        pytest.param(SIXTEEN_ALIASES, "GRAPHQL_MAX_ALIASES", id="aliases"),
        pytest.param(TOO_DEEP, "GRAPHQL_MAX_DEPTH", id="depth"),
        pytest.param(TOO_COSTLY, "GRAPHQL_MAX_COST", id="cost"),
        pytest.param(TOO_MANY_TOKENS, "GRAPHQL_MAX_TOKENS", id="tokens"),
        pytest.param(TWICE_SCHEMA, "__schema", id="introspection twice"),
        pytest.param(MISSPELLED, "whoam", id="unknown field"),
        pytest.param(SYNTAX_ERROR, "Syntax Error", id="syntax"),
    ],
)
def test_a_refused_document_is_refused_the_same_way_every_time(
    client: FlaskClient, query: str, named: str
) -> None:
    first = post(client, query)
    second = post(client, query)
    third = post(client, query)

    assert first[0] == 400
    assert named in first[1]["errors"][0]["message"]
    assert first == second == third


def test_a_cached_document_still_checks_the_token_on_every_request(gql: GraphQL) -> None:
    login = gql.register()
    assert gql(WHOAMI, token=login["token"])["whoami"]["username"] == "ali"

    gql("mutation { revokeAllTokens { revoked } }", token=login["token"])
    error = gql.error(WHOAMI, token=login["token"])

    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    assert gql.error(WHOAMI)["extensions"]["reason"] == "missing"


def test_a_cached_document_runs_with_each_requests_variables(gql: GraphQL) -> None:
    ali = gql.register("ali")
    zahra = gql.register("zahra")

    own = gql(USER_BY_ID, {"id": ali["user"]["id"]}, token=ali["token"])
    other = gql.error(USER_BY_ID, {"id": zahra["user"]["id"]}, token=ali["token"])
    theirs = gql(USER_BY_ID, {"id": zahra["user"]["id"]}, token=zahra["token"])

    assert own["user"]["username"] == "ali"
    assert other["extensions"]["code"] == "FORBIDDEN"
    assert theirs["user"]["username"] == "zahra"


def test_a_cached_document_with_two_operations_runs_the_one_each_request_names(gql: GraphQL) -> None:
    login = gql.register()

    first = gql(TWO_OPERATIONS, token=login["token"], operation_name="First")
    second = gql(TWO_OPERATIONS, token=login["token"], operation_name="Second")
    status, unnamed = gql.post(TWO_OPERATIONS, token=login["token"])

    assert first == {"__typename": "Query"}
    assert second == {"whoami": {"id": login["user"]["id"]}}
    assert status == 400 and unnamed["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(
    ("query", "operation_name", "message"),
    [
        pytest.param(TWO_OPERATIONS, "Third", "no operation named 'Third'", id="unknown name"),
        pytest.param(TWO_OPERATIONS, None, "name the one to run", id="two, none named"),
        pytest.param(
            "query Same { __typename } query Same { __typename }",
            "Same",
            "only one operation named 'Same'",
            id="shared name",
        ),
        pytest.param("fragment F on Query { __typename }", None, "Send one operation", id="no operation"),
    ],
)
def test_an_operation_that_cannot_be_told_is_refused_every_time(
    client: FlaskClient, query: str, operation_name: str | None, message: str
) -> None:
    answers = [post(client, query, operationName=operation_name) for _ in range(3)]

    assert answers[0] == answers[1] == answers[2]
    status, body = answers[0]
    assert status == 400
    (error,) = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_a_named_operation_runs_when_its_document_is_alone(client: FlaskClient) -> None:
    query = "query Only { __typename }"

    assert post(client, query, operationName="Only") == (200, {"data": {"__typename": "Query"}})
    assert post(client, query) == (200, {"data": {"__typename": "Query"}})


def test_a_large_document_is_checked_every_time_and_refused_the_same_way(client: FlaskClient) -> None:
    padding = "#" + "x" * DOCUMENT_CACHE_MAX_QUERY + "\n"
    query = padding + SIXTEEN_ALIASES

    assert post(client, query) == post(client, query)
    assert post(client, query)[0] == 400


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(
        tmp_path_factory, GRAPHQL_MAX_ALIASES=0, GRAPHQL_MAX_DEPTH=1, GRAPHQL_INTROSPECTION=False
    ) as app:
        yield app


@pytest.mark.parametrize(
    ("query", "named"),
    [
        pytest.param("{ a: __typename }", "GRAPHQL_MAX_ALIASES", id="aliases"),
        pytest.param("{ whoami { id } }", "GRAPHQL_MAX_DEPTH", id="depth"),
        pytest.param(SCHEMA_TYPES, "introspection", id="introspection off"),
    ],
)
def test_a_document_one_app_accepts_is_not_served_from_its_cache_to_an_app_that_refuses_it(
    client: FlaskClient, strict_app: Flask, query: str, named: str
) -> None:
    strict = strict_app.test_client()

    for _ in range(2):
        accepted_status, accepted = post(client, query)
        refused_status, refused = post(strict, query)

        assert accepted_status == 200, accepted
        assert refused_status == 400
        assert named in refused["errors"][0]["message"]
