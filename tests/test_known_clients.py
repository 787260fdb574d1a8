"""Known clients: a network the owner logged in from is not locked out by strangers' failures."""

import hashlib
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, configured_app, empty_tables
from flask import Flask
from flask.testing import FlaskClient
from server import Server, running_gunicorn

from service.extensions import db
from service.models import KnownClient, utcnow

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token }
}
"""
CREATE_USER = "mutation Register($input: CreateUserInput!) { createUser(input: $input) { ok } }"
HOME = "192.0.2.10"
HOME_V6 = "2001:db8:aa:1::10"
WRONG = "not the right password"
ACCOUNT_LIMIT = 3


def outcome(client: FlaskClient, query: str, variables: dict, ip: str) -> str:
    """``ok``, or the code of the operation's one error."""
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, environ_overrides={"REMOTE_ADDR": ip}
    )
    body = response.get_json()
    assert response.status_code == 200, body
    return body["errors"][0]["extensions"]["code"] if "errors" in body else "ok"


def login(client: FlaskClient, password: str, ip: str, username: str = "ali") -> str:
    return outcome(client, TOKEN_AUTH, {"username": username, "password": password}, ip)


def register(client: FlaskClient, ip: str, username: str = "ali") -> None:
    variables = {
        "input": {"username": username, "email": f"{username}@example.com", "password": STRONG_PASSWORD}
    }
    assert outcome(client, CREATE_USER, variables, ip) == "ok"


def strangers_fill_the_account_bucket(client: FlaskClient) -> None:
    for index in range(ACCOUNT_LIMIT):
        assert login(client, WRONG, f"203.0.113.{index + 1}") == "INVALID_CREDENTIALS"
    assert login(client, STRONG_PASSWORD, "203.0.113.99") == "RATE_LIMITED"


@pytest.fixture(scope="module")
def small_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """At most 3 failures per account from anywhere; 5 per account and address, as by default."""
    with configured_app(tmp_path_factory, LOGIN_ACCOUNT_MAX_FAILURES=ACCOUNT_LIMIT) as app:
        yield app


@pytest.fixture
def client(small_app: Flask) -> FlaskClient:
    """Ali registered from an address of its own, then logged in from HOME and from HOME_V6."""
    empty_tables(small_app)
    client = small_app.test_client()
    register(client, "198.51.100.1")
    assert login(client, STRONG_PASSWORD, HOME) == "ok"
    assert login(client, STRONG_PASSWORD, HOME_V6) == "ok"
    return client


def test_the_owners_known_address_gets_in_while_strangers_fill_the_account_bucket(
    client: FlaskClient,
) -> None:
    strangers_fill_the_account_bucket(client)

    assert login(client, STRONG_PASSWORD, HOME) == "ok"


def test_any_address_of_a_known_ipv6_64_gets_in(client: FlaskClient) -> None:
    strangers_fill_the_account_bucket(client)

    assert login(client, STRONG_PASSWORD, "2001:db8:aa:1:ffff::1") == "ok"
    assert login(client, STRONG_PASSWORD, "2001:db8:aa:2::10") == "RATE_LIMITED"


def test_the_address_an_account_was_registered_from_is_known(client: FlaskClient) -> None:
    strangers_fill_the_account_bucket(client)

    assert login(client, STRONG_PASSWORD, "198.51.100.1") == "ok"


def test_a_known_address_is_known_for_that_account_only(client: FlaskClient) -> None:
    register(client, "198.51.100.2", username="bea")
    for index in range(ACCOUNT_LIMIT):
        assert login(client, WRONG, f"203.0.113.{index + 1}", username="bea") == "INVALID_CREDENTIALS"

    assert login(client, STRONG_PASSWORD, HOME, username="bea") == "RATE_LIMITED"


def test_a_known_address_is_still_held_by_the_account_and_address_limit(client: FlaskClient) -> None:
    for attempt in range(5):
        assert login(client, f"{WRONG} {attempt}", HOME) == "INVALID_CREDENTIALS"

    assert login(client, STRONG_PASSWORD, HOME) == "RATE_LIMITED"


def test_failures_from_a_known_address_still_count_against_the_account(client: FlaskClient) -> None:
    for attempt in range(ACCOUNT_LIMIT):
        assert login(client, f"{WRONG} {attempt}", HOME) == "INVALID_CREDENTIALS"

    assert login(client, STRONG_PASSWORD, "203.0.113.99") == "RATE_LIMITED"
    assert login(client, STRONG_PASSWORD, HOME) == "ok"


def test_a_login_more_than_30_days_ago_no_longer_makes_the_address_known(
    small_app: Flask, client: FlaskClient
) -> None:
    with small_app.app_context():
        db.session.execute(sa.update(KnownClient).values(last_login_at=utcnow() - timedelta(days=31)))
        db.session.commit()
    strangers_fill_the_account_bucket(client)

    assert login(client, STRONG_PASSWORD, HOME) == "RATE_LIMITED"


def test_a_login_renews_the_address_and_stores_only_a_digest_of_the_network(
    small_app: Flask, client: FlaskClient
) -> None:
    with small_app.app_context():
        db.session.execute(sa.update(KnownClient).values(last_login_at=utcnow() - timedelta(days=29)))
        db.session.commit()

    assert login(client, STRONG_PASSWORD, "2001:db8:aa:1::99") == "ok"

    digest = hashlib.sha256(b"2001:db8:aa:1::/64").hexdigest()
    with small_app.app_context():
        rows = db.session.execute(sa.select(KnownClient.network, KnownClient.last_login_at)).all()
    assert len(rows) == 3
    renewed = [row for row in rows if row.network == digest]
    assert len(renewed) == 1 and renewed[0].last_login_at > utcnow() - timedelta(minutes=1)
    assert all(HOME not in row.network for row in rows)


# Behind a real gunicorn: simultaneous logins from one network keep one row


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("server"), workers=2) as server:
        yield server


def test_simultaneous_logins_from_one_network_record_it_once(server: Server) -> None:
    variables = {"input": {"username": "racer", "email": "racer@example.com", "password": STRONG_PASSWORD}}
    requests.post(server.graphql_url, json={"query": CREATE_USER, "variables": variables}, timeout=20)
    results: list[object] = [None] * 6

    def log_in(index: int) -> None:
        response = requests.post(
            server.graphql_url,
            json={"query": TOKEN_AUTH, "variables": {"username": "racer", "password": STRONG_PASSWORD}},
            timeout=20,
        )
        results[index] = response.json()

    threads = [threading.Thread(target=log_in, args=(index,)) for index in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    failed = [body for body in results if not isinstance(body, dict) or "errors" in body]
    assert not failed, f"{failed}\n{server.log_text()[-6000:]}"
    assert server.scalar("SELECT count(*) FROM known_clients") == 1
