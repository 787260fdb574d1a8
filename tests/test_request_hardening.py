"""Requests built to hurt: exponential fragments, cross-site forms, deeply nested JSON,
introspection multiplied by aliases, and two files for one upload variable."""

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import STRONG_PASSWORD, GraphQL, count_rows
from flask import Flask
from flask.testing import FlaskClient
from graphql import get_introspection_query
from PIL import Image
from server import Server, running_gunicorn

CREATE_USER = """
mutation Register($input: CreateUserInput!) { createUser(input: $input) { ok } }
"""
NEW_USER = {"input": {"username": "mallory", "email": "m@example.com", "password": STRONG_PASSWORD}}
TOKEN_AUTH = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"
UPDATE_PICTURE = """
mutation SetPicture($input: UpdateUserInput!) { updateUser(input: $input) { ok user { profilePicture } } }
"""
PICTURE_PATH = "variables.input.profilePicture"
TYPE_DETAILS = """
fragment Details on __Type {
  name kind description
  fields { name description isDeprecated deprecationReason args { name description defaultValue }
           type { name kind ofType { name kind ofType { name kind } } } }
}
"""


def double_spread_chain(links: int) -> str:
    """F0 spreads F1 twice, F1 spreads F2 twice ...: 2^links copies of one field."""
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(links)]
    return " ".join(["{ ...F0 }", *fragments, f"fragment F{links} on Query {{ whoami {{ id }} }}"])


def nested_list(levels: int) -> list:
    """A JSON array ``levels`` deep: [[[...]]]."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


def error_of(response) -> dict:
    """The one error of a request refused before execution: 400, no ``data``."""
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert response.status_code == 400, body
    assert "data" not in body, body
    (error,) = body["errors"]
    return error


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def multipart(operations: dict, files_map: dict, files: dict[str, bytes]) -> dict:
    """The test client's ``data`` for a GraphQL multipart request."""
    data: dict = {"operations": json.dumps(operations), "map": json.dumps(files_map)}
    for name, content in files.items():
        data[name] = (io.BytesIO(content), f"{name}.png", "image/png")
    return data


def post_multipart(client: FlaskClient, data: dict, headers: dict | None = None):
    return client.post("/graphql", data=data, content_type="multipart/form-data", headers=headers or {})


# Exponential fragments (item 2): answered at once, over GET and POST, through a real gunicorn.


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("server"), workers=1) as server:
        yield server


@pytest.mark.parametrize("method", ["get", "post"])
def test_thirty_chained_double_spread_fragments_are_refused_within_a_second(server: Server, method: str):
    query = double_spread_chain(30)
    assert len(query.encode()) < 1300
    options = {"params": {"query": query}} if method == "get" else {"json": {"query": query}}

    started = time.monotonic()
    response = getattr(requests, method)(server.graphql_url, timeout=5, **options)
    elapsed = time.monotonic() - started

    assert elapsed < 1
    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "GRAPHQL_MAX_COST" in error["message"]


def test_fragments_that_spread_each_other_in_a_cycle_are_refused_not_a_fault(client: FlaskClient):
    query = "{ ...A } fragment A on Query { whoami { id } ...B } fragment B on Query { ...A }"

    response = client.post("/graphql", json={"query": query})

    body = response.get_json()
    assert response.status_code == 400, body
    assert {error["extensions"]["code"] for error in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


def test_a_password_mutation_in_a_fragment_still_costs_fifty(app: Flask, client: FlaskClient, gql: GraphQL):
    gql.register("ali")
    events = count_rows(app, "rate_events")
    login = 'tokenAuth(username: "ali", password: "wrong guess") { token }'
    query = (
        "mutation { ...Five } fragment Five on Mutation { "
        + " ".join(f"a{n}: {login}" for n in range(5))
        + " }"
    )

    error = error_of(client.post("/graphql", json={"query": query}))

    assert (
        error["message"]
        == "The query exceeds the maximum cost of 250. Actual cost is 255 (GRAPHQL_MAX_COST)."
    )
    assert error["extensions"]["cost"] == {"requestedQueryCost": 255, "maximumAvailable": 250}
    assert count_rows(app, "rate_events") == events


# Cross-site forms (item 9): a multipart request needs a header no plain form can send.


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param({"Authorization": ""}, id="empty Authorization"),
        pytest.param({"Apollo-Require-Preflight": ""}, id="empty Apollo-Require-Preflight"),
        pytest.param({"X-Apollo-Operation-Name": " "}, id="blank X-Apollo-Operation-Name"),
        pytest.param({"Origin": "https://evil.example", "Referer": "https://evil.example/"}, id="a web page"),
    ],
)
def test_a_multipart_request_without_a_preflight_header_runs_nothing(
    app: Flask, client: FlaskClient, headers: dict
):
    response = post_multipart(
        client, multipart({"query": CREATE_USER, "variables": NEW_USER}, {}, {}), headers
    )

    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "Apollo-Require-Preflight" in error["message"] and "Authorization" in error["message"]
    assert count_rows(app, "users") == 0


def test_a_cross_site_form_cannot_burn_login_attempts(app: Flask, client: FlaskClient, gql: GraphQL):
    gql.register("ali")
    events = count_rows(app, "rate_events")
    operations = {"query": TOKEN_AUTH, "variables": {"u": "ali", "p": "wrong guess"}}

    error = error_of(post_multipart(client, multipart(operations, {}, {})))

    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert count_rows(app, "rate_events") == events


def test_the_refusal_comes_before_the_body_is_read(client: FlaskClient):
    response = client.post(
        "/graphql", data=b"--x\r\nnot a multipart body", content_type="multipart/form-data; boundary=x"
    )

    assert "Apollo-Require-Preflight" in error_of(response)["message"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Apollo-Require-Preflight": "true"}, id="Apollo-Require-Preflight"),
        pytest.param({"X-Apollo-Operation-Name": "Register"}, id="X-Apollo-Operation-Name"),
    ],
)
def test_a_multipart_request_with_an_apollo_preflight_header_runs(
    app: Flask, client: FlaskClient, headers: dict
):
    response = post_multipart(
        client, multipart({"query": CREATE_USER, "variables": NEW_USER}, {}, {}), headers
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"data": {"createUser": {"ok": True}}}
    assert count_rows(app, "users") == 1


def test_an_authenticated_upload_works_as_before(client: FlaskClient, gql: GraphQL):
    token = gql.register("ali")["token"]
    operations = {"query": UPDATE_PICTURE, "variables": {"input": {"profilePicture": None}}}

    response = post_multipart(
        client,
        multipart(operations, {"0": [PICTURE_PATH]}, {"0": png()}),
        {"Authorization": f"JWT {token}"},
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["data"]["updateUser"]["user"]["profilePicture"].startswith("profile_pics/")


def test_json_posts_and_get_queries_need_no_preflight_header(client: FlaskClient):
    assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 200
    assert client.get("/graphql", query_string={"query": "{ __typename }"}).status_code == 200


# Deeply nested JSON (item 10): a 400 with a code, one log line, never a 500.


DEEP = 1000
DEEPER_THAN_THE_PARSER = 100_000


def nested_json(levels: int) -> str:
    return "[" * levels + "]" * levels


def body_with_variable(value: str, query: str = "{ __typename }") -> str:
    """A JSON body whose variable ``x`` is ``value``, spelled as JSON."""
    return '{"query": ' + json.dumps(query) + ', "variables": {"x": ' + value + "}}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(body_with_variable(nested_json(DEEP)), id="variables"),
        pytest.param(
            body_with_variable(nested_json(DEEPER_THAN_THE_PARSER)),
            id="deeper than the JSON parser goes",
        ),
        pytest.param(nested_json(DEEP), id="the body itself"),
        pytest.param(
            body_with_variable(nested_json(200), "query ($x: [[String]]) { whoami { id } }"),
            id="a list variable",
        ),
        pytest.param(body_with_variable(nested_json(63)), id="65 levels"),
    ],
)
def test_json_nested_too_deeply_is_a_400_logged_in_one_line(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, body: str
):
    with caplog.at_level(logging.DEBUG):
        response = client.post("/graphql", data=body, content_type="application/json")

    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "nested too deeply" in error["message"]
    problems = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(problems) == 1
    assert problems[0].exc_info is None and "\n" not in problems[0].getMessage()
    assert "Traceback" not in caplog.text


def test_json_nested_sixty_four_levels_is_read(client: FlaskClient):
    # The body is level 1, "variables" level 2, so "x" may be 62 deep.
    body = {"query": "{ __typename }", "variables": {"x": nested_list(62)}}

    response = client.post("/graphql", json=body)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"data": {"__typename": "Query"}}


def test_get_variables_nested_too_deeply_are_a_400(client: FlaskClient):
    response = client.get(
        "/graphql", query_string={"query": "{ __typename }", "variables": f'{{"x": {nested_json(DEEP)}}}'}
    )

    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "nested too deeply" in error["message"]


@pytest.mark.parametrize("field", ["operations", "map"])
def test_multipart_json_nested_too_deeply_is_a_400(client: FlaskClient, gql: GraphQL, field: str):
    token = gql.register("ali")["token"]
    operations = {"query": UPDATE_PICTURE, "variables": {"input": {"profilePicture": None}}}
    data = multipart(operations, {"0": [PICTURE_PATH]}, {"0": png()})
    data[field] = f'{{"x": {nested_json(DEEP)}}}'

    response = post_multipart(client, data, {"Authorization": f"JWT {token}"})

    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "nested too deeply" in error["message"]


# Introspection (item 11): counted by the limits, and __schema once per document.


STANDARD_INTROSPECTION = {
    "graphql-core default": get_introspection_query(),
    "without descriptions": get_introspection_query(descriptions=False),
    "every option (GraphiQL, codegen)": get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    ),
    "shallower type references (Playground)": get_introspection_query(type_depth=7),
}


@pytest.mark.parametrize("query", STANDARD_INTROSPECTION.values(), ids=STANDARD_INTROSPECTION.keys())
def test_the_standard_introspection_queries_pass_the_default_limits(client: FlaskClient, query: str):
    response = client.post("/graphql", json={"query": query, "operationName": "IntrospectionQuery"})

    body = response.get_json()
    assert response.status_code == 200, body
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(
            "{ " + " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(4)) + " }",
            id="four aliases",
        ),
        pytest.param("{ __schema { types { name } } again: __schema { queryType { name } } }", id="two"),
        pytest.param(
            "{ ...S ...T } fragment S on Query { __schema { types { name } } } "
            "fragment T on Query { other: __schema { types { name } } }",
            id="through fragments",
        ),
        pytest.param(
            "{ ...S } fragment S on Query { ...One ...One } "
            "fragment One on Query { __schema { types { name } } }",
            id="one fragment spread twice",
        ),
    ],
)
def test_a_document_may_select_schema_only_once(client: FlaskClient, query: str):
    error = error_of(client.post("/graphql", json={"query": query}))

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "__schema" in error["message"]


def test_introspection_fields_count_toward_the_cost(client: FlaskClient):
    types = " ".join(f't{n}: __type(name: "User") {{ ...Details }}' for n in range(15))

    error = error_of(client.post("/graphql", json={"query": f"{{ {types} }} {TYPE_DETAILS}"}))

    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "GRAPHQL_MAX_COST" in error["message"]


def test_aliased_introspection_fields_count_toward_the_alias_limit(client: FlaskClient):
    query = "{ " + " ".join(f't{n}: __type(name: "User") {{ name }}' for n in range(16)) + " }"

    assert "GRAPHQL_MAX_ALIASES" in error_of(client.post("/graphql", json={"query": query}))["message"]


# Two files for one variable (item 12): a broken map.


@pytest.mark.parametrize(
    ("files_map", "files"),
    [
        pytest.param({"0": [PICTURE_PATH], "1": [PICTURE_PATH]}, {"0": png(), "1": png()}, id="two entries"),
        pytest.param({"0": [PICTURE_PATH, PICTURE_PATH]}, {"0": png()}, id="one entry naming it twice"),
    ],
)
def test_two_files_for_one_upload_variable_are_refused_and_nothing_is_stored(
    app: Flask, client: FlaskClient, gql: GraphQL, files_map: dict, files: dict
):
    token = gql.register("ali")["token"]
    operations = {"query": UPDATE_PICTURE, "variables": {"input": {"profilePicture": None}}}
    pictures = Path(app.config["UPLOAD_FOLDER"]) / "profile_pics"
    before = set(pictures.iterdir()) if pictures.exists() else set()

    response = post_multipart(
        client, multipart(operations, files_map, files), {"Authorization": f"JWT {token}"}
    )

    error = error_of(response)
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert PICTURE_PATH in error["message"]
    assert (set(pictures.iterdir()) if pictures.exists() else set()) == before
    assert gql("{ whoami { profilePicture } }", token=token)["whoami"]["profilePicture"] is None
