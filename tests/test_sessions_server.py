"""Session rules that span several requests, shown through a real gunicorn with two workers.

Every request goes on a new connection, so either worker may take it: the rules must hold in
the database, not in one process.
"""

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import STRONG_PASSWORD
from PIL import Image
from server import Server, running_gunicorn

REUSE_INTERVAL = 2
TIMEOUT = 20
RACERS = 10
# Races are won by timing; a few rounds make a rule that only holds sometimes show.
ROUNDS = 3

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
WHOAMI = "query Whoami { whoami { username profilePicture } }"
REVOKE_ALL = "mutation { revokeAllTokens { revoked } }"
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { ok token refreshToken }
}
"""
DELETE_ACCOUNT = "mutation DeleteAccount($password: String!) { deleteAccount(password: $password) { ok } }"
SET_PICTURE = """
mutation SetPicture($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePicture } } }
"""
NEW_PASSWORD = "purple submarine under the bridge"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Refreshing a rotated token again within 2 s is the two-tab case; later, it is theft."""
    with running_gunicorn(
        tmp_path_factory.mktemp("sessions"), workers=2, JWT_REFRESH_REUSE_INTERVAL=str(REUSE_INTERVAL)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def grace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The default two-tab window of 10 s: room for a burst of refreshes on a busy machine."""
    with running_gunicorn(
        tmp_path_factory.mktemp("grace"), workers=2, JWT_REFRESH_REUSE_INTERVAL="10"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No grace at all: any second use of a refresh token is theft."""
    with running_gunicorn(
        tmp_path_factory.mktemp("strict"), workers=2, JWT_REFRESH_REUSE_INTERVAL="0"
    ) as server:
        yield server


def data(body: dict) -> dict:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


def log_in(server: Server, username: str, password: str = STRONG_PASSWORD) -> dict:
    return data(server.graphql(TOKEN_AUTH, {"username": username, "password": password}))["tokenAuth"]


def refresh(server: Server, refresh_token: str) -> dict:
    return server.graphql(REFRESH, {"refreshToken": refresh_token})


def works(server: Server, tokens: dict) -> bool:
    """Whether the access token is still accepted."""
    return "errors" not in server.graphql(WHOAMI, token=tokens["token"])


def assert_ended(server: Server, tokens: dict) -> None:
    """The session of ``tokens`` is over: its access token and its refresh token are refused."""
    whoami = server.graphql(WHOAMI, token=tokens["token"])
    assert whoami["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    assert code(refresh(server, tokens["refreshToken"])) == "TOKEN_REVOKED"


def test_reusing_a_rotated_refresh_token_after_the_window_ends_the_whole_session(server: Server) -> None:
    _, first = server.register()
    second = data(refresh(server, first["refreshToken"]))["refreshAccessToken"]
    time.sleep(REUSE_INTERVAL + 0.5)

    stolen = refresh(server, first["refreshToken"])

    assert code(stolen) == "TOKEN_REVOKED"
    assert_ended(server, second)
    assert not works(server, first)


def test_two_tabs_refreshing_one_token_at_once_get_the_same_refresh_token_and_keep_the_session(
    server: Server,
) -> None:
    _, first = server.register()

    tab_one = data(refresh(server, first["refreshToken"]))["refreshAccessToken"]
    tab_two = data(refresh(server, first["refreshToken"]))["refreshAccessToken"]

    assert tab_one["refreshToken"] == tab_two["refreshToken"]
    assert works(server, tab_one) and works(server, tab_two)
    assert "errors" not in refresh(server, tab_one["refreshToken"])


def refresh_all_at_once(server: Server, refresh_token: str) -> list[dict]:
    """RACERS refreshes of one token, released together from as many threads."""
    barrier = threading.Barrier(RACERS)
    answers: list[Any] = [None] * RACERS

    def race(index: int) -> None:
        barrier.wait(timeout=TIMEOUT)
        answers[index] = refresh(server, refresh_token)

    threads = [threading.Thread(target=race, args=(index,)) for index in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    return answers


def test_of_simultaneous_refreshes_of_one_token_without_a_window_exactly_one_succeeds(
    strict_server: Server,
) -> None:
    for _ in range(ROUNDS):
        _, first = strict_server.register()

        answers = refresh_all_at_once(strict_server, first["refreshToken"])

        successors = [data(answer)["refreshAccessToken"] for answer in answers if "errors" not in answer]
        assert len(successors) == 1, answers
        assert [code(answer) for answer in answers if "errors" in answer] == ["TOKEN_REVOKED"] * (RACERS - 1)
        # The other refreshes were reuses, so the session has been ended as stolen.
        assert_ended(strict_server, successors[0])


def test_simultaneous_refreshes_within_the_window_all_get_one_successor(grace_server: Server) -> None:
    for _ in range(ROUNDS):
        _, first = grace_server.register()

        answers = refresh_all_at_once(grace_server, first["refreshToken"])

        successors = [data(answer)["refreshAccessToken"] for answer in answers]
        assert len({tokens["refreshToken"] for tokens in successors}) == 1
        assert all(works(grace_server, tokens) for tokens in successors)
        assert "errors" not in refresh(grace_server, successors[0]["refreshToken"])
        assert (
            grace_server.scalar(
                "SELECT count(*) FROM refresh_tokens WHERE session_id = :sid AND used_at IS NULL",
                sid=first["payload"]["sid"],
            )
            == 1
        )


def test_logout_everywhere_ends_every_session_and_refuses_every_earlier_access_token(server: Server) -> None:
    username, laptop = server.register()
    phone = log_in(server, username)

    revoked = data(server.graphql(REVOKE_ALL, token=phone["token"]))["revokeAllTokens"]["revoked"]

    assert abs(revoked - time.time()) < 10
    assert_ended(server, laptop)
    assert_ended(server, phone)
    assert works(server, log_in(server, username))


def test_a_password_change_ends_the_other_sessions_and_every_older_access_token(server: Server) -> None:
    username, laptop = server.register()
    phone = log_in(server, username)

    changed = data(
        server.graphql(
            CHANGE_PASSWORD,
            {"oldPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD},
            phone["token"],
        )
    )["changePassword"]

    assert changed["ok"] is True
    assert_ended(server, laptop)
    assert_ended(server, phone)
    assert works(server, changed)
    assert "errors" not in refresh(server, changed["refreshToken"])
    assert code(server.graphql(TOKEN_AUTH, {"username": username, "password": STRONG_PASSWORD})) == (
        "INVALID_CREDENTIALS"
    )
    assert works(server, log_in(server, username, NEW_PASSWORD))


def test_deleting_an_account_removes_its_picture_file_and_sessions(server: Server) -> None:
    username, tokens = server.register()
    stored = set_picture(server, tokens["token"])
    picture_file = Path(server.folder) / "uploads" / stored
    assert picture_file.is_file()

    deleted = data(server.graphql(DELETE_ACCOUNT, {"password": STRONG_PASSWORD}, tokens["token"]))

    assert deleted == {"deleteAccount": {"ok": True}}
    assert not picture_file.exists()
    assert requests.get(f"{server.url}/uploads/{stored}", timeout=TIMEOUT).status_code == 404
    whoami = server.graphql(WHOAMI, token=tokens["token"])
    assert whoami["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
    # The session went with the account, so its refresh token is now simply unknown.
    assert code(refresh(server, tokens["refreshToken"])) == "TOKEN_INVALID"
    assert code(server.graphql(TOKEN_AUTH, {"username": username, "password": STRONG_PASSWORD})) == (
        "INVALID_CREDENTIALS"
    )


def set_picture(server: Server, token: str) -> str:
    """Upload a small PNG as a multipart client does; return its stored path."""
    image = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(image, "PNG")
    operations = {"query": SET_PICTURE, "variables": {"input": {"profilePicture": None}}}
    response = requests.post(
        server.graphql_url,
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.profilePicture"]}),
        },
        files={"0": ("me.png", image.getvalue(), "image/png")},
        headers={"Authorization": f"JWT {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return data(response.json())["updateUser"]["user"]["profilePicture"]
