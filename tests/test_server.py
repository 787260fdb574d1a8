"""The service behind a real gunicorn (two workers) over HTTP: legacy clients, races, bad requests."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import LEGACY, STRONG_PASSWORD
from server import Server, running_gunicorn

RACERS = 20
TIMEOUT = 20
# One address, differing only in case: email addresses are unique regardless of case.
EMAIL_SPELLINGS = ["Race.Twin@Example.com", "race.twin@example.com", "RACE.TWIN@EXAMPLE.COM"]

MUTATION_OVER_GET = """
mutation {
  createUser(input: {
    username: "getter", email: "getter@example.com", password: "correct horse battery staple"
  }) {
    ok
  }
}
"""
MALFORMED_JSON_BODY = '{"query": "query Whoami { whoami { id } }", "variables": {'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("server"), workers=2) as server:
        yield server


@pytest.fixture(scope="module", autouse=True)
def first_account(server: Server) -> requests.Response:
    """The legacy ``CreateUser``, sent before any test runs, so the account it makes has id 1."""
    return post(
        server,
        LEGACY["CreateUser"],
        {"username": "ali", "email": "ali@example.com", "password": STRONG_PASSWORD},
    )


def post(
    server: Server, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
) -> requests.Response:
    headers = {"Authorization": f"JWT {token}"} if token else {}
    return requests.post(
        server.graphql_url, json={"query": query, "variables": variables}, headers=headers, timeout=TIMEOUT
    )


def data_of(response: requests.Response) -> dict[str, Any]:
    """The ``data`` of an answer that must be a 200 without errors."""
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    return body["data"]


def count_accounts(server: Server, column: str, key: str) -> int:
    """Rows of ``users`` whose ``username_key`` or ``email_key`` is ``key``, read from the database itself."""
    assert column in {"username_key", "email_key"}
    count = server.scalar(f"SELECT count(*) FROM users WHERE {column} = :key", key=key)
    assert isinstance(count, int)
    return count


def race(server: Server, inputs: list[dict[str, str]]) -> list[requests.Response]:
    """Send one legacy ``CreateUser`` per input, all released at the same instant."""
    barrier = threading.Barrier(len(inputs))
    responses: list[requests.Response | BaseException | None] = [None] * len(inputs)

    def register(index: int) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            responses[index] = post(server, LEGACY["CreateUser"], inputs[index])
        except BaseException as error:
            responses[index] = error

    threads = [threading.Thread(target=register, args=(index,)) for index in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    failures = [response for response in responses if not isinstance(response, requests.Response)]
    assert not failures, failures
    return responses  # type: ignore[return-value]


def assert_one_winner(responses: list[requests.Response], field: str) -> None:
    """Exactly one ``ok``; every other answer a 200 with ``BAD_USER_INPUT`` naming ``field``."""
    assert [response.status_code for response in responses] == [200] * len(responses), [
        response.text for response in responses if response.status_code != 200
    ]
    bodies = [response.json() for response in responses]
    winners = [body for body in bodies if "errors" not in body]
    losers = [body for body in bodies if "errors" in body]
    assert len(winners) == 1, bodies
    assert winners[0]["data"]["createUser"]["ok"] is True
    for body in losers:
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", body
        assert field in error["extensions"]["fields"], body
        assert body["data"]["createUser"] is None


def test_legacy_clients_operations_work_verbatim_through_gunicorn(
    server: Server, first_account: requests.Response
) -> None:
    created = data_of(first_account)["createUser"]
    assert created["ok"] is True
    assert created["token"] and created["refreshToken"]
    assert created["user"] == {"id": "1", "username": "ali", "email": "ali@example.com"}

    credentials = {"username": "ali", "password": STRONG_PASSWORD}
    login = data_of(post(server, LEGACY["TokenAuth"], credentials))["tokenAuth"]
    assert login["token"] and login["refreshToken"]
    payload = login["payload"]
    assert payload["username"] == "ali"
    assert isinstance(payload["exp"], int) and isinstance(payload["origIat"], int)
    assert payload["exp"] > payload["origIat"]

    no_refresh = data_of(post(server, LEGACY["TokenAuthNoRefresh"], credentials))["tokenAuth"]
    assert no_refresh["token"] and no_refresh["payload"]["username"] == "ali"

    refreshed = data_of(post(server, LEGACY["RefreshAccessToken"], {"refreshToken": login["refreshToken"]}))[
        "refreshAccessToken"
    ]
    assert refreshed["token"] and refreshed["refreshToken"] != login["refreshToken"]
    assert refreshed["payload"]["username"] == "ali"
    assert refreshed["payload"]["origIat"] == payload["origIat"]

    again = data_of(post(server, LEGACY["RefreshToken"], {"refreshToken": refreshed["refreshToken"]}))[
        "refreshToken"
    ]
    assert again["token"] and again["payload"]["origIat"] == payload["origIat"]

    verified = data_of(post(server, LEGACY["VerifyToken"], {"token": again["token"]}))["verifyToken"]
    assert verified["payload"]["username"] == "ali"

    me = {"id": "1", "username": "ali", "email": "ali@example.com"}
    assert data_of(post(server, LEGACY["Whoami"], token=again["token"])) == {"whoami": me}
    assert data_of(post(server, LEGACY["UserById"], token=again["token"])) == {"user": me}


def test_get_graphql_from_a_browser_shows_the_playground(server: Server) -> None:
    response = requests.get(server.graphql_url, headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "playground" in response.text.lower()


def test_simultaneous_registrations_of_one_username_make_one_account(server: Server) -> None:
    inputs = [
        {"username": "racer", "email": f"racer{index}@example.com", "password": STRONG_PASSWORD}
        for index in range(RACERS)
    ]
    assert_one_winner(race(server, inputs), "username")
    assert count_accounts(server, "username_key", "racer") == 1


def test_simultaneous_registrations_of_one_email_in_any_case_make_one_account(server: Server) -> None:
    inputs = [
        {"username": f"twin{index}", "email": EMAIL_SPELLINGS[index % 3], "password": STRONG_PASSWORD}
        for index in range(RACERS)
    ]
    assert_one_winner(race(server, inputs), "email")
    assert count_accounts(server, "email_key", "race.twin@example.com") == 1


def test_mutation_sent_with_get_is_refused_with_405_and_changes_nothing(server: Server) -> None:
    response = requests.get(server.graphql_url, params={"query": MUTATION_OVER_GET}, timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Allow"] == "POST"
    assert response.json()["errors"][0]["message"]
    assert count_accounts(server, "username_key", "getter") == 0


def test_malformed_json_body_is_a_400_parse_failure_without_a_stack_trace(server: Server) -> None:
    response = requests.post(
        server.graphql_url,
        data=MALFORMED_JSON_BODY,
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "exception" not in errors[0]["extensions"]
    assert "Traceback" not in response.text
    assert "Traceback" not in server.log_text()
