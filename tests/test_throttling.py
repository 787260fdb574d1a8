"""Brute-force and abuse limits: failed password checks per account and address, per account,
per address; registration attempts and registrations per address; IPv6 clients counted by their
/64; aliases; and the same limits behind a real gunicorn."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, configured_app, count_rows, empty_tables
from flask import Flask
from flask.testing import FlaskClient
from server import Server, running_gunicorn

from service.extensions import db

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token }
}
"""
CREATE_USER = """
mutation Register($input: CreateUserInput!) { createUser(input: $input) { ok token } }
"""
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { ok }
}
"""
DELETE_ACCOUNT = "mutation DeleteAccount($password: String!) { deleteAccount(password: $password) { ok } }"
SESSIONS = "{ sessions { ipAddress } }"

HOME = "192.0.2.10"
AWAY = "192.0.2.20"
WRONG = "not the right password"
NEW_PASSWORD = "purple submarine under the bridge"
LOCKOUT_SECONDS = 900
TIMEOUT = 20


# Sending requests from a chosen address


def post(
    client: FlaskClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    ip: str = HOME,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """The JSON body of an operation sent from ``ip``; it must have executed (200)."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"JWT {token}"
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        environ_overrides={"REMOTE_ADDR": ip},
    )
    body = response.get_json()
    assert response.status_code == 200, body
    return body


def outcome(body: dict) -> str:
    """``ok`` for an operation without errors, else the code of its one error."""
    if "errors" not in body:
        return "ok"
    (error,) = body["errors"]
    assert body["data"][error["path"][0]] is None
    return error["extensions"]["code"]


def log_in(client: FlaskClient, username: str, password: str, *, ip: str = HOME, **kwargs: Any) -> dict:
    return post(client, TOKEN_AUTH, {"username": username, "password": password}, ip=ip, **kwargs)


def login_outcome(client: FlaskClient, username: str, password: str, *, ip: str = HOME) -> str:
    return outcome(log_in(client, username, password, ip=ip))


def fail(client: FlaskClient, username: str, times: int, *, ip: str = HOME) -> None:
    """``times`` failed logins, each of which must still be answered INVALID_CREDENTIALS."""
    for attempt in range(times):
        assert login_outcome(client, username, f"{WRONG} {attempt}", ip=ip) == "INVALID_CREDENTIALS"


def register(client: FlaskClient, username: str, *, ip: str = HOME, **kwargs: Any) -> dict:
    variables = {
        "input": {"username": username, "email": f"{username}@example.com", "password": STRONG_PASSWORD}
    }
    return post(client, CREATE_USER, variables, ip=ip, **kwargs)


def token_of(client: FlaskClient, username: str, *, ip: str = HOME) -> str:
    body = register(client, username, ip=ip)
    assert outcome(body) == "ok", body
    return body["data"]["createUser"]["token"]


def assert_rate_limited(body: dict, window: int = LOCKOUT_SECONDS) -> None:
    assert outcome(body) == "RATE_LIMITED", body
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= window
    assert str(retry_after) in body["errors"][0]["message"]


# Failed logins per account and address


def test_five_failures_lock_the_account_for_that_address_even_with_the_right_password(
    client: FlaskClient,
) -> None:
    token_of(client, "ali")
    fail(client, "ali", 5)

    assert_rate_limited(log_in(client, "ali", STRONG_PASSWORD))
    assert_rate_limited(log_in(client, "ali", WRONG))


def test_the_lockout_holds_only_for_that_account_from_that_address(client: FlaskClient) -> None:
    token_of(client, "ali")
    token_of(client, "bea")
    fail(client, "ali", 5)

    assert login_outcome(client, "ali", STRONG_PASSWORD, ip=AWAY) == "ok"
    assert login_outcome(client, "bea", STRONG_PASSWORD) == "ok"
    assert login_outcome(client, "ali", STRONG_PASSWORD) == "RATE_LIMITED"


def test_a_success_before_the_limit_resets_the_count_for_that_account_and_address(
    client: FlaskClient,
) -> None:
    token_of(client, "ali")
    fail(client, "ali", 4)
    assert login_outcome(client, "ali", STRONG_PASSWORD) == "ok"

    fail(client, "ali", 4)

    assert login_outcome(client, "ali", STRONG_PASSWORD) == "ok"


def test_the_lockout_ends_when_its_window_has_passed(tmp_path_factory: pytest.TempPathFactory) -> None:
    with configured_app(tmp_path_factory, LOGIN_LOCKOUT_SECONDS=1) as app:
        client = app.test_client()
        token_of(client, "ali")
        fail(client, "ali", 5)
        assert_rate_limited(log_in(client, "ali", STRONG_PASSWORD), window=1)

        time.sleep(1.1)

        assert login_outcome(client, "ali", STRONG_PASSWORD) == "ok"


def error_without_location(body: dict) -> dict:
    (error,) = body["errors"]
    return {"message": error["message"], "code": error["extensions"]["code"]}


def test_unknown_accounts_are_throttled_exactly_like_real_ones(client: FlaskClient) -> None:
    token_of(client, "ali")
    for attempt in range(5):
        real = log_in(client, "ali", f"{WRONG} {attempt}")
        unknown = log_in(client, "nobody", f"{WRONG} {attempt}")
        assert error_without_location(real) == error_without_location(unknown)
        assert error_without_location(real)["code"] == "INVALID_CREDENTIALS"

    real = log_in(client, "ali", STRONG_PASSWORD)
    unknown = log_in(client, "nobody", STRONG_PASSWORD)
    assert_rate_limited(real)
    assert_rate_limited(unknown)
    assert outcome(real) == outcome(unknown)


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param(["ALI", "Ali", " ali ", "ali@example.com", "ALI@Example.COM"], id="case, spaces, email"),
        pytest.param(["ali@example.com"] * 5, id="email"),
    ],
)
def test_every_spelling_of_an_account_shares_one_count(client: FlaskClient, spellings: list[str]) -> None:
    token_of(client, "ali")
    for spelling in spellings:
        assert login_outcome(client, spelling, WRONG) == "INVALID_CREDENTIALS"

    assert login_outcome(client, "ali", STRONG_PASSWORD) == "RATE_LIMITED"


# Wrong passwords given to changePassword and deleteAccount count too


PASSWORD_CHECKS = [
    pytest.param(
        CHANGE_PASSWORD,
        lambda password: {"oldPassword": password, "newPassword": NEW_PASSWORD},
        id="changePassword",
    ),
    pytest.param(DELETE_ACCOUNT, lambda password: {"password": password}, id="deleteAccount"),
]


@pytest.mark.parametrize(("operation", "arguments"), PASSWORD_CHECKS)
def test_wrong_passwords_of_account_changes_count_against_the_login_limit(
    app: Flask, client: FlaskClient, operation: str, arguments
) -> None:
    token = token_of(client, "ali")
    for attempt in range(5):
        body = post(client, operation, arguments(f"{WRONG} {attempt}"), token=token)
        assert outcome(body) == "INVALID_CREDENTIALS"

    assert_rate_limited(log_in(client, "ali", STRONG_PASSWORD))
    assert_rate_limited(post(client, operation, arguments(STRONG_PASSWORD), token=token))
    # Nothing was changed or deleted, and another address may still sign in.
    assert login_outcome(client, "ali", STRONG_PASSWORD, ip=AWAY) == "ok"


def test_failures_of_logins_and_account_changes_add_up(client: FlaskClient) -> None:
    token = token_of(client, "ali")
    fail(client, "ali", 2)
    for arguments in (
        {"oldPassword": WRONG, "newPassword": NEW_PASSWORD},
        {"oldPassword": "x", "newPassword": "y"},
    ):
        assert outcome(post(client, CHANGE_PASSWORD, arguments, token=token)) == "INVALID_CREDENTIALS"
    assert outcome(post(client, DELETE_ACCOUNT, {"password": WRONG}, token=token)) == "INVALID_CREDENTIALS"

    assert login_outcome(client, "ali", STRONG_PASSWORD) == "RATE_LIMITED"


# Limits per account across addresses, and per address across accounts


@pytest.fixture(scope="module")
def tight_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """At most 3 failures per account (any address) and 3 per address (any account)."""
    with configured_app(tmp_path_factory, LOGIN_ACCOUNT_MAX_FAILURES=3, LOGIN_IP_MAX_FAILURES=3) as app:
        yield app


@pytest.fixture
def tight(tight_app: Flask) -> FlaskClient:
    empty_tables(tight_app)
    client = tight_app.test_client()
    for index, username in enumerate(["ali", "bea", "cyrus"]):
        token_of(client, username, ip=f"198.51.100.{index + 1}")
    return client


def test_failures_for_one_account_from_many_addresses_lock_the_account(tight: FlaskClient) -> None:
    for index in range(3):
        assert login_outcome(tight, "ali", WRONG, ip=f"203.0.113.{index}") == "INVALID_CREDENTIALS"

    assert_rate_limited(log_in(tight, "ali", STRONG_PASSWORD, ip="203.0.113.99"), window=3600)
    assert login_outcome(tight, "bea", STRONG_PASSWORD, ip="203.0.113.99") == "ok"


def test_failures_from_one_address_against_many_accounts_lock_the_address(tight: FlaskClient) -> None:
    for username in ("bea", "cyrus", "nobody"):
        assert login_outcome(tight, username, WRONG) == "INVALID_CREDENTIALS"

    assert_rate_limited(log_in(tight, "ali", STRONG_PASSWORD), window=3600)
    assert login_outcome(tight, "ali", STRONG_PASSWORD, ip=AWAY) == "ok"


def test_signing_in_to_ones_own_account_does_not_clear_the_addresss_failures(tight: FlaskClient) -> None:
    for username in ("bea", "cyrus"):
        assert login_outcome(tight, username, WRONG) == "INVALID_CREDENTIALS"
    assert login_outcome(tight, "ali", STRONG_PASSWORD) == "ok"
    assert login_outcome(tight, "nobody", WRONG) == "INVALID_CREDENTIALS"

    assert login_outcome(tight, "ali", STRONG_PASSWORD) == "RATE_LIMITED"


# Registrations per address


def test_an_address_may_register_ten_accounts_an_hour(app: Flask, client: FlaskClient) -> None:
    for index in range(10):
        assert outcome(register(client, f"user{index}")) == "ok"

    assert_rate_limited(register(client, "eleventh"), window=3600)
    # A forged X-Forwarded-For does not make it another address.
    assert_rate_limited(register(client, "eleventh", headers={"X-Forwarded-For": "203.0.113.5"}), window=3600)
    assert count_rows(app, "users") == 10
    assert outcome(register(client, "eleventh", ip=AWAY)) == "ok"


def test_every_registration_attempt_counts_refused_or_not(client: FlaskClient) -> None:
    token_of(client, "taken")
    for index in range(29):
        body = register(client, "taken" if index % 2 else f"bad name {index}")
        assert outcome(body) == "BAD_USER_INPUT"

    assert_rate_limited(register(client, "fresh"), window=3600)
    assert outcome(register(client, "fresh", ip=AWAY)) == "ok"


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """At most 3 createUser attempts per address."""
    with configured_app(tmp_path_factory, REGISTRATION_ATTEMPTS_PER_IP=3) as app:
        yield app


@pytest.fixture
def probe(probe_app: Flask) -> FlaskClient:
    empty_tables(probe_app)
    client = probe_app.test_client()
    token_of(client, "ali", ip=AWAY)
    return client


def test_a_throttled_registration_says_nothing_about_the_input(probe: FlaskClient) -> None:
    for username in ("x1", "x2", "x3"):
        assert outcome(register(probe, username)) == "ok"
    taken = register(probe, "ali")
    fresh = register(probe, "nobody")
    invalid = register(probe, "not valid")

    for body in (taken, fresh, invalid):
        assert_rate_limited(body, window=3600)
        assert "fields" not in body["errors"][0]["extensions"]
    assert error_without_location(taken) == error_without_location(fresh) == error_without_location(invalid)


def test_the_attempts_limit_is_checked_before_the_input(probe: FlaskClient) -> None:
    for _ in range(3):
        assert outcome(register(probe, "ali")) == "BAD_USER_INPUT"

    assert_rate_limited(register(probe, "ali"), window=3600)
    assert outcome(register(probe, "ali", ip="203.0.113.50")) == "BAD_USER_INPUT"


def test_a_full_account_limit_also_hides_the_input(app: Flask, client: FlaskClient) -> None:
    for index in range(10):
        assert outcome(register(client, f"user{index}")) == "ok"

    taken = register(client, "user0")
    fresh = register(client, "fresh")

    assert_rate_limited(taken, window=3600)
    assert error_without_location(taken) == error_without_location(fresh)


# IPv6 clients are counted by their /64


NETWORK = "2001:db8:1:2"


def test_failures_from_one_ipv6_64_share_the_account_and_address_limit(client: FlaskClient) -> None:
    token_of(client, "ali")
    for index in range(5):
        assert login_outcome(client, "ali", WRONG, ip=f"{NETWORK}::{index + 1:x}") == "INVALID_CREDENTIALS"

    assert_rate_limited(log_in(client, "ali", STRONG_PASSWORD, ip=f"{NETWORK}:ffff:ffff:ffff:ffff"))
    assert login_outcome(client, "ali", STRONG_PASSWORD, ip="2001:db8:1:3::1") == "ok"


def test_failures_from_one_ipv6_64_against_many_accounts_lock_the_64(tight: FlaskClient) -> None:
    for index, username in enumerate(("bea", "cyrus", "nobody")):
        assert login_outcome(tight, username, WRONG, ip=f"{NETWORK}::{index + 10:x}") == "INVALID_CREDENTIALS"

    assert_rate_limited(log_in(tight, "ali", STRONG_PASSWORD, ip=f"{NETWORK}::beef"), window=3600)


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address(client: FlaskClient) -> None:
    token_of(client, "ali")
    fail(client, "ali", 4, ip=f"::ffff:{HOME}")
    fail(client, "ali", 1)

    assert login_outcome(client, "ali", STRONG_PASSWORD) == "RATE_LIMITED"
    assert login_outcome(client, "ali", STRONG_PASSWORD, ip=AWAY) == "ok"


def test_ipv4_addresses_are_still_counted_one_by_one(client: FlaskClient) -> None:
    token_of(client, "ali")
    fail(client, "ali", 4, ip="192.0.2.1")

    fail(client, "ali", 4, ip="192.0.2.2")

    assert login_outcome(client, "ali", STRONG_PASSWORD, ip="192.0.2.1") == "ok"


def test_registrations_from_one_ipv6_64_share_the_account_limit(client: FlaskClient) -> None:
    for index in range(10):
        assert outcome(register(client, f"user{index}", ip=f"{NETWORK}::{index + 1:x}")) == "ok"

    assert_rate_limited(register(client, "eleventh", ip=f"{NETWORK}::abcd"), window=3600)
    assert outcome(register(client, "eleventh", ip="2001:db8:1:3::1")) == "ok"


# Aliases: every aliased password check counts


def aliased_logins(count: int, username: str = "ali") -> str:
    fields = " ".join(
        f'a{index}: tokenAuth(username: "{username}", password: "{WRONG} {index}") {{ token }}'
        for index in range(count)
    )
    return f"mutation {{ {fields} }}"


def test_each_aliased_login_counts_as_one_failure(client: FlaskClient) -> None:
    token_of(client, "ali")

    body = post(client, aliased_logins(4))

    assert [error["extensions"]["code"] for error in body["errors"]] == ["INVALID_CREDENTIALS"] * 4
    assert body["data"] == {f"a{index}": None for index in range(4)}
    fail(client, "ali", 1)
    assert login_outcome(client, "ali", STRONG_PASSWORD) == "RATE_LIMITED"


def test_aliased_logins_past_the_limit_are_refused_within_one_request(client: FlaskClient) -> None:
    token_of(client, "ali")
    fail(client, "ali", 3)

    body = post(client, aliased_logins(4))

    codes = [error["extensions"]["code"] for error in sorted(body["errors"], key=lambda error: error["path"])]
    assert codes == ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED", "RATE_LIMITED"]


FIVE_LOGINS = " ".join(
    f'a{index}: tokenAuth(username: "ali", password: "{WRONG}") {{ token }}' for index in range(5)
)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"mutation {{ {FIVE_LOGINS} }}", id="aliases"),
        pytest.param(f"mutation {{ ... on Mutation {{ {FIVE_LOGINS} }} }}", id="inline fragment"),
        pytest.param(
            f"mutation {{ ...Guesses }} fragment Guesses on Mutation {{ {FIVE_LOGINS} }}", id="fragment"
        ),
        pytest.param(
            'mutation { a: tokenAuth(username: "ali", password: "x") { token } '
            'b: createUser(input: {username: "b", email: "b@example.com", password: "x"}) { ok } '
            'c: tokenAuth(username: "ali", password: "y") { token } '
            'd: deleteAccount(password: "z") { ok } '
            'e: changePassword(oldPassword: "x", newPassword: "y") { ok } }',
            id="mixed password mutations",
        ),
    ],
)
def test_five_password_mutations_in_one_request_are_refused_before_any_runs(
    app: Flask, client: FlaskClient, query: str
) -> None:
    token = token_of(client, "ali")
    events = count_rows(app, "rate_events")

    response = client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"JWT {token}"},
        environ_overrides={"REMOTE_ADDR": HOME},
    )

    body = response.get_json()
    assert response.status_code == 400
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "GRAPHQL_MAX_COST" in error["message"]
    assert count_rows(app, "rate_events") == events
    assert count_rows(app, "users") == 1
    assert login_outcome(client, "ali", STRONG_PASSWORD) == "ok"


# Attempts that arrive together


@contextmanager
def reads_in_step(app: Flask, parties: int = 2) -> Iterator[None]:
    """Hold each request thread after its first read of ``rate_events`` until every one has read.

    This is the interleaving two gunicorn workers produce when two attempts arrive at once.
    A service that serialises the check and the count never lets two threads read together;
    the wait then times out and the requests go on one after the other.
    """
    barrier = threading.Barrier(parties, timeout=2)
    state = threading.local()

    def after_cursor_execute(connection, cursor, statement, parameters, context, executemany) -> None:
        reads_the_counts = statement.lstrip().upper().startswith("SELECT") and "rate_events" in statement
        if reads_the_counts and not getattr(state, "has_read", False):
            state.has_read = True
            with suppress(threading.BrokenBarrierError):
                barrier.wait()

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "after_cursor_execute", after_cursor_execute)
    try:
        yield
    finally:
        sa.event.remove(engine, "after_cursor_execute", after_cursor_execute)


def together(app: Flask, *requests_to_send) -> list[str]:
    """Send each request from its own thread and client, at once; return their outcomes."""
    outcomes: list[Any] = [None] * len(requests_to_send)

    def send(index: int) -> None:
        try:
            outcomes[index] = requests_to_send[index](app.test_client())
        except BaseException as error:
            outcomes[index] = error

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(requests_to_send))]
    with reads_in_step(app, len(threads)):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert all(isinstance(result, str) for result in outcomes), outcomes
    return outcomes


def test_simultaneous_guesses_at_the_limit_get_only_the_one_remaining_check(
    app: Flask, client: FlaskClient
) -> None:
    token_of(client, "ali")
    fail(client, "ali", 4)

    outcomes = together(
        app,
        lambda other: login_outcome(other, "ali", "guess one"),
        lambda other: login_outcome(other, "ali", "guess two"),
    )

    assert sorted(outcomes) == ["INVALID_CREDENTIALS", "RATE_LIMITED"]


def test_simultaneous_registrations_at_the_limit_make_only_one_account(
    app: Flask, client: FlaskClient
) -> None:
    for index in range(9):
        assert outcome(register(client, f"user{index}")) == "ok"

    outcomes = together(
        app,
        lambda other: outcome(register(other, "racer1")),
        lambda other: outcome(register(other, "racer2")),
    )

    assert sorted(outcomes) == ["RATE_LIMITED", "ok"]
    assert count_rows(app, "users") == 10


# Behind a real gunicorn with two workers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("server"), workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def proxied_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server told that one proxy stands in front of it."""
    with running_gunicorn(tmp_path_factory.mktemp("proxied"), workers=2, TRUSTED_PROXY_COUNT="1") as server:
        yield server


def over_http(server: Server, query: str, variables: dict | None = None, **headers: str) -> dict:
    """One operation on a new connection (no ``requests.Session``), so any worker may take it."""
    response = requests.post(
        server.graphql_url, json={"query": query, "variables": variables}, headers=headers, timeout=TIMEOUT
    )
    body = response.json()
    assert response.status_code == 200, body
    return body


def http_login(server: Server, username: str, password: str, **headers: str) -> dict:
    return over_http(server, TOKEN_AUTH, {"username": username, "password": password}, **headers)


def http_register(server: Server, username: str, **headers: str) -> str:
    variables = {
        "input": {"username": username, "email": f"{username}@example.com", "password": STRONG_PASSWORD}
    }
    return over_http(server, CREATE_USER, variables, **headers)["data"]["createUser"]["token"]


def test_the_lockout_holds_across_gunicorn_workers(server: Server) -> None:
    http_register(server, "worker.test")
    for attempt in range(5):
        assert outcome(http_login(server, "worker.test", f"{WRONG} {attempt}")) == "INVALID_CREDENTIALS"

    assert_rate_limited(http_login(server, "worker.test", STRONG_PASSWORD))


def test_a_forged_x_forwarded_for_does_not_escape_the_limit_without_a_trusted_proxy(server: Server) -> None:
    for index in range(5):
        body = http_login(server, "spoofer", WRONG, **{"X-Forwarded-For": f"10.0.0.{index}"})
        assert outcome(body) == "INVALID_CREDENTIALS"

    assert_rate_limited(http_login(server, "spoofer", WRONG, **{"X-Forwarded-For": "10.0.0.99"}))


def test_without_a_trusted_proxy_sessions_record_the_peer_address(server: Server) -> None:
    token = http_register(server, "peer", **{"X-Forwarded-For": "203.0.113.9"})
    listed = over_http(server, SESSIONS, Authorization=f"JWT {token}")["data"]["sessions"]
    assert listed == [{"ipAddress": "127.0.0.1"}]


def test_behind_a_trusted_proxy_each_forwarded_address_is_counted_apart(proxied_server: Server) -> None:
    http_register(proxied_server, "proxied")
    for attempt in range(5):
        body = http_login(proxied_server, "proxied", WRONG, **{"X-Forwarded-For": "198.51.100.1"})
        assert outcome(body) == "INVALID_CREDENTIALS", attempt

    assert outcome(http_login(proxied_server, "proxied", WRONG, **{"X-Forwarded-For": "198.51.100.2"})) == (
        "INVALID_CREDENTIALS"
    )
    assert_rate_limited(
        http_login(proxied_server, "proxied", STRONG_PASSWORD, **{"X-Forwarded-For": "198.51.100.1"})
    )


def test_behind_a_trusted_proxy_entries_the_client_prepends_are_ignored(proxied_server: Server) -> None:
    http_register(proxied_server, "prepender")
    for index in range(5):
        forwarded = f"10.0.0.{index}, 198.51.100.7"
        assert outcome(http_login(proxied_server, "prepender", WRONG, **{"X-Forwarded-For": forwarded})) == (
            "INVALID_CREDENTIALS"
        )

    locked = http_login(
        proxied_server, "prepender", STRONG_PASSWORD, **{"X-Forwarded-For": "10.9.9.9, 198.51.100.7"}
    )
    assert_rate_limited(locked)
    allowed = http_login(proxied_server, "prepender", STRONG_PASSWORD, **{"X-Forwarded-For": "198.51.100.8"})
    assert outcome(allowed) == "ok"


def test_behind_a_trusted_proxy_sessions_record_the_last_forwarded_address(proxied_server: Server) -> None:
    token = http_register(proxied_server, "recorded", **{"X-Forwarded-For": "10.0.0.1, 198.51.100.9"})
    listed = over_http(proxied_server, SESSIONS, Authorization=f"JWT {token}")["data"]["sessions"]
    assert listed == [{"ipAddress": "198.51.100.9"}]


def test_behind_a_trusted_proxy_ipv6_clients_are_counted_by_their_64(proxied_server: Server) -> None:
    http_register(proxied_server, "six")
    for index in range(5):
        forwarded = {"X-Forwarded-For": f"2001:db8:6:6::{index + 1:x}"}
        assert outcome(http_login(proxied_server, "six", WRONG, **forwarded)) == "INVALID_CREDENTIALS"

    assert_rate_limited(
        http_login(proxied_server, "six", STRONG_PASSWORD, **{"X-Forwarded-For": "2001:db8:6:6::9"})
    )
    allowed = http_login(proxied_server, "six", STRONG_PASSWORD, **{"X-Forwarded-For": "2001:db8:6:7::1"})
    assert outcome(allowed) == "ok"
