"""CORS_ORIGINS: only the listed origins get CORS headers, at /graphql only; none without the setting."""

from collections.abc import Iterator

import pytest
from conftest import configured_app
from flask import Flask
from flask.testing import FlaskClient

from service.config import ConfigError, settings_from_env

APP_ORIGIN = "https://app.example.com"
OTHER_APP_ORIGIN = "http://localhost:5173"
QUERY = {"query": "{ __typename }"}
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, authorization, x-csrf-token",
}


@pytest.fixture(scope="module")
def cors_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, CORS_ORIGINS=(APP_ORIGIN, OTHER_APP_ORIGIN)) as app:
        yield app


def cors_headers(headers: dict[str, str] | object) -> dict[str, str]:
    return {name: value for name, value in dict(headers).items() if name.startswith("Access-Control-")}


def test_a_listed_origin_may_call_graphql_with_credentials(cors_app: Flask) -> None:
    response = cors_app.test_client().post("/graphql", json=QUERY, headers={"Origin": APP_ORIGIN})

    assert response.status_code == 200
    assert cors_headers(response.headers) == {
        "Access-Control-Allow-Origin": APP_ORIGIN,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "X-CSRF-Token",
    }
    assert "Origin" in response.headers["Vary"]
    # The service's own headers are still there.
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("origin", [APP_ORIGIN, OTHER_APP_ORIGIN, "HTTPS://APP.EXAMPLE.COM"])
def test_a_preflight_from_a_listed_origin_allows_the_three_headers(cors_app: Flask, origin: str) -> None:
    headers = {
        **PREFLIGHT,
        "Origin": origin,
        "Access-Control-Request-Headers": "content-type, authorization, x-csrf-token, x-evil",
    }
    response = cors_app.test_client().options("/graphql", headers=headers)

    assert response.status_code in (200, 204)
    allowed = cors_headers(response.headers)
    assert allowed["Access-Control-Allow-Origin"] == origin
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert allowed["Access-Control-Allow-Headers"] == "authorization, content-type, x-csrf-token"
    assert allowed["Access-Control-Allow-Methods"] == "GET, OPTIONS, POST"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "http://app.example.com",  # another scheme is another origin
        "https://app.example.com:8443",
        "https://app.example.com.evil.example",
        "https://xapp.example.com",
        "null",
        None,
    ],
)
def test_other_origins_get_no_cors_header_at_all(cors_app: Flask, origin: str | None) -> None:
    client = cors_app.test_client()
    headers = {"Origin": origin} if origin else {}

    answers = [
        client.post("/graphql", json=QUERY, headers=headers),
        client.options("/graphql", headers={**PREFLIGHT, **headers}),
    ]

    for response in answers:
        assert cors_headers(response.headers) == {}
    assert answers[0].get_json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("path", ["/healthz", "/admin/login", "/uploads/profile_pics/x.png"])
def test_only_graphql_is_opened_to_other_origins(cors_app: Flask, path: str) -> None:
    response = cors_app.test_client().get(path, headers={"Origin": APP_ORIGIN})

    assert cors_headers(response.headers) == {}


def test_without_cors_origins_no_origin_gets_cors_headers(client: FlaskClient) -> None:
    answers = [
        client.post("/graphql", json=QUERY, headers={"Origin": APP_ORIGIN}),
        client.options("/graphql", headers={**PREFLIGHT, "Origin": APP_ORIGIN}),
    ]

    for response in answers:
        assert cors_headers(response.headers) == {}
        assert "Origin" not in response.headers.get("Vary", "")


def test_cors_origins_are_read_as_exact_origins() -> None:
    settings = settings_from_env({"CORS_ORIGINS": " https://App.Example.com,http://localhost:5173 ,, "})

    assert settings["CORS_ORIGINS"] == ("https://app.example.com", "http://localhost:5173")
    assert settings_from_env({})["CORS_ORIGINS"] == ()


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*.example.com",
        "https://app.example.com/",
        "https://app.example.com/graphql",
        "https://app.example.com?x=1",
        "app.example.com",
        "ftp://app.example.com",
        "https://user@app.example.com",
        "https://app.example.com:port",
        "null",
        "https://app.example.com, *",
    ],
)
def test_cors_origins_refuses_wildcards_paths_and_other_shapes(value: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        settings_from_env({"CORS_ORIGINS": value})
