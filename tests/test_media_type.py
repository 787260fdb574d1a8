"""GraphQL over HTTP's media types: ``application/graphql-response+json`` for clients that ask for it,
``application/json`` exactly as before for the others, 406 when neither is acceptable."""

import io
import json
from collections.abc import Iterator

import pytest
import requests
from conftest import LEGACY, STRONG_PASSWORD, configured_app, count_rows
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from server import Server, running_gunicorn

from service.http import media_type_for

NEW = "application/graphql-response+json; charset=utf-8"
OLD = "application/json"
APOLLO_CLIENT_4 = "application/graphql-response+json,application/json;q=0.9"
# What each kind of failure answers; the same status whichever type the client takes.
CASES = {
    "parse error": ({"query": "{ whoami { id }"}, 400, "GRAPHQL_PARSE_FAILED"),
    "validation error": ({"query": "{ whoam { id } }"}, 400, "GRAPHQL_VALIDATION_FAILED"),
    "coercion failure": (
        {"query": "query User($id: ID!) { user(id: $id) { id } }", "variables": {"id": {"not": "an id"}}},
        400,
        None,
    ),
    "field error": ({"query": "{ whoami { id } }"}, 200, "UNAUTHENTICATED"),
    "success": ({"query": "{ __typename }"}, 200, None),
}
OLD_CLIENTS = [
    pytest.param({}, id="no Accept"),
    pytest.param({"Accept": "application/json"}, id="application/json"),
    pytest.param({"Accept": "*/*"}, id="*/* (Postman, curl)"),
    pytest.param({"Accept": "application/json, text/plain, */*"}, id="axios"),
]
NEW_CLIENTS = [
    pytest.param({"Accept": APOLLO_CLIENT_4}, id="Apollo Client 4"),
    pytest.param({"Accept": "application/graphql-response+json"}, id="only the new type"),
    pytest.param({"Accept": "application/graphql-response+json, application/json"}, id="graphql-http client"),
    pytest.param({"Accept": "application/graphql-response+json; charset=utf-8"}, id="with a charset"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory) as app:
        yield app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def codes(body: dict) -> list[str | None]:
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("headers", OLD_CLIENTS)
def test_old_clients_get_application_json_with_todays_statuses(
    client: FlaskClient, case: str, headers: dict
) -> None:
    body, status, code = CASES[case]
    response = client.post("/graphql", json=body, headers=headers)

    assert response.status_code == status
    assert response.headers["Content-Type"] == OLD
    if code:
        assert code in codes(response.get_json())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("headers", NEW_CLIENTS)
def test_clients_asking_for_the_new_type_get_it_with_the_specs_statuses(
    client: FlaskClient, case: str, headers: dict
) -> None:
    body, status, code = CASES[case]
    response = client.post("/graphql", json=body, headers=headers)

    assert response.status_code == status
    assert response.headers["Content-Type"] == NEW
    answer = json.loads(response.data)
    if status == 400:
        assert "data" not in answer and answer["errors"]  # the request never ran
    if code:
        assert code in codes(answer)


@pytest.mark.parametrize("case", ["parse error", "field error", "success"])
def test_get_requests_are_negotiated_too(client: FlaskClient, case: str) -> None:
    body, status, _ = CASES[case]
    new = client.get("/graphql", query_string=body, headers={"Accept": APOLLO_CLIENT_4})
    old = client.get("/graphql", query_string=body)

    assert (new.status_code, new.headers["Content-Type"]) == (status, NEW)
    assert (old.status_code, old.headers["Content-Type"]) == (status, OLD)
    assert new.data == old.data


def test_refusals_before_execution_carry_the_negotiated_type(client: FlaskClient) -> None:
    new = {"Accept": APOLLO_CLIENT_4}
    unsupported = client.post("/graphql", data="{ __typename }", content_type="text/plain", headers=new)
    batched = client.post("/graphql", json=[{"query": "{ __typename }"}], headers=new)
    mutation_over_get = client.get(
        "/graphql", query_string={"query": "mutation { revokeAllTokens { revoked } }"}, headers=new
    )
    malformed = client.post("/graphql", data='{"query": ', content_type="application/json", headers=new)

    assert (unsupported.status_code, unsupported.headers["Content-Type"]) == (415, NEW)
    assert (batched.status_code, batched.headers["Content-Type"]) == (400, NEW)
    assert (mutation_over_get.status_code, mutation_over_get.headers["Content-Type"]) == (405, NEW)
    assert (malformed.status_code, malformed.headers["Content-Type"]) == (400, NEW)


@pytest.mark.parametrize(
    "accept",
    ["text/html", "application/xml", "application/json;q=0", "image/png, text/*"],
)
def test_an_accept_header_allowing_neither_type_gets_406_and_nothing_runs(
    app: Flask, client: FlaskClient, accept: str
) -> None:
    variables = {
        "input": {"username": "refused", "email": "refused@example.com", "password": STRONG_PASSWORD}
    }
    response = client.post(
        "/graphql", json={"query": LEGACY["CreateUser"], "variables": variables}, headers={"Accept": accept}
    )
    over_get = client.get("/graphql", query_string={"query": "{ __typename }"}, headers={"Accept": accept})

    assert response.status_code == 406 and over_get.status_code == 406
    assert response.headers["Content-Type"] == OLD
    assert codes(response.get_json()) == ["NOT_ACCEPTABLE"]
    assert "application/graphql-response+json" in response.get_json()["errors"][0]["message"]
    assert count_rows(app, "users", username="refused") == 0


def test_a_browser_asking_for_html_still_gets_the_explorer(client: FlaskClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200 and response.mimetype == "text/html"


@pytest.mark.parametrize(
    "extensions", ["persisted", 7, True, ["a"]], ids=["string", "number", "boolean", "array"]
)
@pytest.mark.parametrize("headers", [{}, {"Accept": APOLLO_CLIENT_4}], ids=["old", "new"])
def test_extensions_that_are_not_an_object_are_a_400(
    client: FlaskClient, extensions: object, headers: dict
) -> None:
    posted = client.post(
        "/graphql", json={"query": "{ __typename }", "extensions": extensions}, headers=headers
    )
    got = client.get(
        "/graphql",
        query_string={"query": "{ __typename }", "extensions": json.dumps(extensions)},
        headers=headers,
    )

    for response in (posted, got):
        assert response.status_code == 400
        assert codes(json.loads(response.data)) == ["GRAPHQL_PARSE_FAILED"]
        assert "'extensions'" in json.loads(response.data)["errors"][0]["message"]


@pytest.mark.parametrize("extensions", [None, {}, {"persistedQuery": {"version": 1}}])
def test_extensions_as_an_object_or_null_are_accepted(client: FlaskClient, extensions: object) -> None:
    response = client.post("/graphql", json={"query": "{ __typename }", "extensions": extensions})

    assert response.status_code == 200 and response.get_json() == {"data": {"__typename": "Query"}}


def test_extensions_that_are_not_json_over_get_are_a_400(client: FlaskClient) -> None:
    response = client.get("/graphql", query_string={"query": "{ __typename }", "extensions": "{"})

    assert (
        response.status_code == 400
        and "'extensions' is not valid JSON" in response.get_json()["errors"][0]["message"]
    )


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("application/graphql-response+json;q=0.5, application/json", "application/json"),
        ("application/json;q=0, */*", "application/graphql-response+json"),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON", "application/graphql-response+json"),
        ("*/*;q=0", None),
    ],
)
def test_negotiation_rules(accept: str, expected: str | None) -> None:
    assert media_type_for(accept) == expected


# Through gunicorn: the header on the wire, and a multipart upload as Apollo Client 4 sends it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("server"), workers=1) as server:
        yield server


def test_the_content_type_on_the_wire_follows_the_accept_header(server: Server) -> None:
    body = {"query": "{ whoami { id } }"}
    new = requests.post(server.graphql_url, json=body, headers={"Accept": APOLLO_CLIENT_4}, timeout=20)
    old = requests.post(server.graphql_url, json=body, timeout=20)

    assert (new.status_code, new.headers["Content-Type"]) == (200, NEW)
    assert (old.status_code, old.headers["Content-Type"]) == (200, OLD)
    assert new.content == old.content


def test_a_multipart_upload_asking_for_the_new_type_gets_it(server: Server) -> None:
    token = server.new_account("uploader")
    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(picture, "PNG")
    query = "mutation ($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePictureUrl } } }"
    operations = {"query": query, "variables": {"input": {"profilePicture": None}}}
    response = requests.post(
        server.graphql_url,
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.profilePicture"]}),
        },
        files={"0": ("me.png", picture.getvalue(), "image/png")},
        headers={"Accept": APOLLO_CLIENT_4, "Authorization": f"JWT {token}"},
        timeout=20,
    )

    assert response.headers["Content-Type"] == NEW
    assert response.status_code == 200, response.text
    assert "errors" not in response.json()
    assert response.json()["data"]["updateUser"]["user"]["profilePictureUrl"].endswith(".png")
