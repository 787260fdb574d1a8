"""Parallel picture changes for one account through a real gunicorn with four workers.

The picture column changes by compare-and-set: of the requests that read the same
picture, one wins and the others fail and delete their own new file, so the folder
never holds a file that nobody references.
"""

import io
import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from PIL import Image
from server import Server, running_gunicorn

PARALLEL = 20
TIMEOUT = 60
PICTURE_PATH = "variables.input.profilePicture"
RACE_MESSAGE = "Another request changed the picture at the same time; send it again."
UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) {
  updateUser(input: $input) { ok user { firstName profilePicture } }
}
"""
WHOAMI = "{ whoami { firstName profilePicture } }"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(
        tmp_path_factory.mktemp("picture-races"),
        workers=4,
        request_timeout=TIMEOUT,
        REGISTRATION_ATTEMPTS_PER_IP="100000",
    ) as server:
        yield server


def noisy_png(seed: int) -> bytes:
    """A 400x300 PNG of noise: a few milliseconds of work for the server, different every time."""
    noise = random.Random(seed).randbytes(400 * 300 * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (400, 300), noise).save(buffer, "PNG")
    return buffer.getvalue()


def upload(server: Server, token: str, data: bytes, **changes: Any) -> dict:
    """``updateUser`` with a picture, as a multipart request; the whole answer."""
    operations = {"query": UPDATE_USER, "variables": {"input": {**changes, "profilePicture": None}}}
    response = requests.post(
        server.graphql_url,
        data={"operations": json.dumps(operations), "map": json.dumps({"0": [PICTURE_PATH]})},
        files={"0": ("photo.png", data, "image/png")},
        headers={"Authorization": f"JWT {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def remove(server: Server, token: str, **changes: Any) -> dict:
    return server.graphql(UPDATE_USER, {"input": {**changes, "removeProfilePicture": True}}, token)


def picture_files(server: Server) -> set[str]:
    """Every entry of the picture folder, as ``profile_pics/<name>``, dot files included."""
    folder = server.folder / "uploads" / "profile_pics"
    return {f"profile_pics/{entry.name}" for entry in folder.iterdir()} if folder.exists() else set()


def in_parallel(calls: list) -> list[dict]:
    """Run every call at once (they wait for each other at a barrier); their answers, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_ok_or_lost_the_race(answer: dict) -> bool:
    """True for a change that was made; False for one refused because another won the race."""
    if "errors" not in answer:
        assert answer["data"]["updateUser"]["ok"] is True
        return True
    assert answer["data"] == {"updateUser": None}
    (error,) = answer["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "fields": {"profilePicture": [RACE_MESSAGE]}}
    return False


@pytest.mark.parametrize("had_a_picture", [False, True], ids=["first-picture", "replacing-one"])
def test_parallel_uploads_leave_exactly_the_one_file_that_is_referenced(server, had_a_picture):
    token = server.new_account("racer")
    if had_a_picture:
        assert "errors" not in upload(server, token, noisy_png(-1))
    others = picture_files(server) - {server.graphql(WHOAMI, {}, token)["data"]["whoami"]["profilePicture"]}

    answers = in_parallel(
        [lambda i=i: upload(server, token, noisy_png(i), firstName=f"name{i}") for i in range(PARALLEL)]
    )

    won = [i for i, answer in enumerate(answers) if assert_ok_or_lost_the_race(answer)]
    assert won
    profile = server.graphql(WHOAMI, {}, token)["data"]["whoami"]
    assert picture_files(server) - others == {profile["profilePicture"]}
    # A refused request changed nothing, its text fields included.
    assert profile["firstName"] in {f"name{i}" for i in won}
    assert profile["profilePicture"] in {
        answers[i]["data"]["updateUser"]["user"]["profilePicture"] for i in won
    }


def test_parallel_uploads_and_removals_leave_no_file_that_is_not_referenced(server):
    token = server.new_account("racer")
    assert "errors" not in upload(server, token, noisy_png(-2))
    others = picture_files(server) - {server.graphql(WHOAMI, {}, token)["data"]["whoami"]["profilePicture"]}
    calls = [
        (lambda i=i: upload(server, token, noisy_png(100 + i))) if i % 2 else (lambda: remove(server, token))
        for i in range(PARALLEL)
    ]

    answers = in_parallel(calls)

    assert any([assert_ok_or_lost_the_race(answer) for answer in answers])
    referenced = server.graphql(WHOAMI, {}, token)["data"]["whoami"]["profilePicture"]
    assert picture_files(server) - others == ({referenced} if referenced else set())


def test_a_request_that_lost_the_race_can_simply_be_sent_again(server):
    token = server.new_account("racer")
    answers = in_parallel([lambda i=i: upload(server, token, noisy_png(200 + i)) for i in range(8)])
    lost = [i for i, answer in enumerate(answers) if not assert_ok_or_lost_the_race(answer)]

    for i in lost:
        assert "errors" not in upload(server, token, noisy_png(200 + i))

    assert server.graphql(WHOAMI, {}, token)["data"]["whoami"]["profilePicture"] in picture_files(server)
