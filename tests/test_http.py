"""The HTTP layer: status codes, request errors, the explorer, and what never reaches the client."""

import logging

import pytest
import sqlalchemy as sa
from conftest import LEGACY, STRONG_PASSWORD, make_app

from service.extensions import db
from service.models import User

CREATE_USER_GET = (
    'mutation { createUser(input: {username: "ali", email: "a@example.com", password: "%s"}) { ok } }'
)


def error_code(response) -> str:
    body = response.get_json()
    assert "data" not in body
    return body["errors"][0]["extensions"]["code"]


def test_executed_operations_answer_200_even_when_a_field_fails(client):
    response = client.post("/graphql", json={"query": LEGACY["Whoami"]})

    assert response.status_code == 200
    assert response.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("not json", "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('{"query": "{ whoami { id } }"}', "text/plain", 415, "GRAPHQL_PARSE_FAILED"),
        ("query=x", "application/x-www-form-urlencoded", 415, "GRAPHQL_PARSE_FAILED"),
        ("{}", "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('{"query": ""}', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('{"query": 5}', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('"just a string"', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('[{"query": "{ whoami { id } }"}]', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('{"query": "{ whoami { id } }", "variables": [1]}', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        (
            '{"query": "{ whoami { id } }", "operationName": 3}',
            "application/json",
            400,
            "GRAPHQL_PARSE_FAILED",
        ),
        ('{"query": "{ whoami { id "}', "application/json", 400, "GRAPHQL_PARSE_FAILED"),
        ('{"query": "{ nope }"}', "application/json", 400, "GRAPHQL_VALIDATION_FAILED"),
        ('{"query": "{ whoami }"}', "application/json", 400, "GRAPHQL_VALIDATION_FAILED"),
        (
            '{"query": "query A { whoami { id } } query B { whoami { id } }"}',
            "application/json",
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            '{"query": "query A { whoami { id } }", "operationName": "B"}',
            "application/json",
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ('{"query": "subscription { whoami { id } }"}', "application/json", 400, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_requests_that_cannot_run_get_a_4xx_json_answer(client, body, content_type, status, code):
    response = client.post("/graphql", data=body, content_type=content_type)

    assert response.status_code == status
    assert response.is_json
    assert error_code(response) == code


@pytest.mark.parametrize(
    "variables",
    [{"token": 5}, {"token": None}, {}, {"token": ["a"]}],
    ids=["int", "null", "missing", "list"],
)
def test_variables_of_the_wrong_type_are_bad_user_input(client, variables):
    response = client.post("/graphql", json={"query": LEGACY["VerifyToken"], "variables": variables})

    assert response.status_code == 400
    assert error_code(response) == "BAD_USER_INPUT"
    assert "token" in response.get_json()["errors"][0]["extensions"]["fields"]


def test_a_mutation_sent_with_get_is_refused_and_changes_nothing(app, client):
    response = client.get("/graphql", query_string={"query": CREATE_USER_GET % STRONG_PASSWORD})

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_queries_may_be_sent_with_get(client, gql):
    token = gql.register("ali")["token"]

    response = client.get(
        "/graphql",
        query_string={"query": "query Me { whoami { username } }", "operationName": "Me"},
        headers={"Authorization": f"JWT {token}"},
    )

    assert response.status_code == 200
    assert response.get_json() == {"data": {"whoami": {"username": "ali"}}}


def test_get_with_malformed_variables_is_a_parse_failure(client):
    response = client.get("/graphql", query_string={"query": LEGACY["Whoami"], "variables": "{nope"})

    assert response.status_code == 400
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"


def test_get_in_a_browser_shows_graphql_playground(client):
    response = client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "playground" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(("explorer", "marker"), [("graphiql", "graphiql"), ("apollo", "apollo")])
def test_the_explorer_can_be_chosen(tmp_path, explorer, marker):
    app = make_app(tmp_path, GRAPHQL_EXPLORER=explorer)

    page = app.test_client().get("/graphql").get_data(as_text=True).lower()

    assert marker in page
    assert "graphql-playground" not in page


def test_the_explorer_can_be_turned_off(tmp_path):
    app = make_app(tmp_path, GRAPHQL_EXPLORER="off")

    response = app.test_client().get("/graphql")

    assert response.status_code == 400
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"


def test_introspection_works_by_default_and_can_be_turned_off(client, tmp_path):
    query = {"query": "{ __schema { queryType { name } } }"}
    assert client.post("/graphql", json=query).get_json()["data"]["__schema"]["queryType"]["name"] == "Query"

    closed = make_app(tmp_path, GRAPHQL_INTROSPECTION=False).test_client()
    response = closed.post("/graphql", json=query)

    assert response.status_code == 400
    assert error_code(response) == "GRAPHQL_VALIDATION_FAILED"


def test_unknown_paths_and_methods_answer_json(client):
    missing = client.get("/nowhere")
    wrong_method = client.put("/graphql", json={"query": "{ whoami { id } }"})

    assert missing.status_code == 404
    assert error_code(missing) == "NOT_FOUND"
    assert wrong_method.status_code == 405
    assert error_code(wrong_method) == "GRAPHQL_PARSE_FAILED"


def test_a_failing_resolver_is_masked_and_logged(app, gql, monkeypatch, caplog):
    """An unexpected exception inside a resolver leaks nothing to the client but is logged."""
    gql.register("ali")

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr("service.graphql.accounts.log_in", broken)
    with caplog.at_level(logging.ERROR, logger="service.graphql"):
        status, body = gql.post(LEGACY["TokenAuth"], {"username": "ali", "password": STRONG_PASSWORD})

    assert status == 200
    assert body["data"] == {"tokenAuth": None}
    assert body["errors"][0]["message"] == "Internal server error."
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in str(body) and "Traceback" not in str(body)
    assert "secret internals" in caplog.text


def test_client_errors_are_not_logged_with_their_inputs(gql, caplog):
    with caplog.at_level(logging.DEBUG):
        gql.error(LEGACY["TokenAuth"], {"username": "ali", "password": "my secret guess"})
        gql.error(LEGACY["CreateUser"], {"username": "ali", "email": "a@example.com", "password": "12345678"})

    assert "my secret guess" not in caplog.text
    assert "12345678" not in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        '{"query": "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }",'
        ' "variables": {"u": "ali", "p": "\\ud800"}}',
        '{"query": "{ whoami { id } } # \\udfff"}',
        '{"query": "{ whoami { id } }", "variables": {"x": ["\\ud83d"]}}',
    ],
    ids=["password", "query", "nested-variable"],
)
def test_lone_surrogates_are_refused_as_a_bad_request(client, body):
    response = client.post("/graphql", data=body, content_type="application/json")

    assert response.status_code == 400
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"
    assert "Unicode" in response.get_json()["errors"][0]["message"]
