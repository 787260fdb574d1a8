"""Answers keep the query's field order (spec: "Serialized Map Ordering"); errors, the spec's key order."""

import json
from collections.abc import Iterator

import pytest
from conftest import GraphQL, configured_app
from flask import Flask
from flask.testing import FlaskClient

LOGIN = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { %s } }"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory) as app:
        yield app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def account(client: FlaskClient) -> dict:
    return GraphQL(client).register("orderly")


def keys_in_order(raw: bytes, *path: str | int) -> list[str]:
    """The keys of the object at ``path`` in the raw answer, in the order they were sent."""
    value = json.loads(raw, object_pairs_hook=lambda pairs: pairs)
    for step in path:
        value = value[step] if isinstance(step, int) else dict(value)[step]
    return [key for key, _ in value]


@pytest.mark.parametrize(
    "fields",
    [
        ["user { id }", "token", "refreshToken", "payload", "refreshExpiresIn"],
        ["refreshExpiresIn", "payload", "token", "refreshToken", "user { id }"],
    ],
    ids=["one order", "another order"],
)
def test_the_answer_keeps_the_selection_order(client: FlaskClient, account: dict, fields: list[str]) -> None:
    response = client.post(
        "/graphql",
        json={
            "query": LOGIN % " ".join(fields),
            "variables": {"u": "orderly", "p": "correct horse battery staple"},
        },
    )

    assert response.status_code == 200, response.data
    assert keys_in_order(response.data, "data", "tokenAuth") == [field.split()[0] for field in fields]


@pytest.mark.parametrize("selection", ["email username id isActive", "isActive id email username"])
def test_nested_objects_and_aliases_keep_their_order_too(
    client: FlaskClient, account: dict, selection: str
) -> None:
    query = f"{{ second: whoami {{ {selection} }} first: __typename }}"
    response = client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"JWT {account['token']}"}
    )

    assert keys_in_order(response.data, "data") == ["second", "first"]
    assert keys_in_order(response.data, "data", "second") == selection.split()


def test_an_errors_keys_come_in_the_specs_order(client: FlaskClient) -> None:
    field_error = client.post("/graphql", json={"query": "{ whoami { id } }"})
    parse_error = client.post("/graphql", json={"query": "{ whoami { id }"})

    assert keys_in_order(field_error.data) == ["data", "errors"]
    assert keys_in_order(field_error.data, "errors", 0) == ["message", "locations", "path", "extensions"]
    assert keys_in_order(parse_error.data, "errors", 0) == ["message", "locations", "extensions"]
