"""The README's examples, run in order against a fresh server: documentation that cannot go stale.

Every ```graphql block is sent (with the ```json block right after it as its variables when that
block is not an answer), every ```sh block that runs ``curl`` or ``.venv/bin/flask --app wsgi``
is run, and the ```json answer that follows each is compared with what came back:

- the same keys in the same order, and the same values, except where a value differs from run
  to run (tokens, times, ids of sessions, file names): there only its type must match;
- a token or refresh token shown in an answer stands for the real one in later examples, and
  ``$TOKEN`` (and the Authorization header of a ```graphql block) is the last access token seen.

A block right after ``<!-- not run -->`` is an illustration with placeholders and is skipped.
"""

import itertools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import configured_app
from flask import Flask
from PIL import Image

README = Path(__file__).resolve().parent.parent / "README.md"
NOT_RUN = "<!-- not run -->"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
# Values that differ from run to run: only their type is compared.
VOLATILE = {
    "token",
    "refreshToken",
    "exp",
    "iat",
    "origIat",
    "jti",
    "sid",
    "skey",
    "refreshExpiresIn",
    "revoked",
    "createdAt",
    "lastRefreshedAt",
    "expiresAt",
    "dateJoined",
    "lastLogin",
    "userAgent",
    "profilePicture",
    "profilePictureUrl",
    "cursor",
    "endCursor",
}


@dataclass
class Block:
    language: str
    text: str
    line: int
    skipped: bool


@dataclass
class Example:
    request: Block
    variables: dict[str, Any] | None
    answer: dict[str, Any] | None


def blocks(markdown: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(markdown):
        before = markdown[: match.start()].rstrip()
        found.append(
            Block(
                match.group(1),
                match.group(2),
                markdown.count("\n", 0, match.start()) + 1,
                before.endswith(NOT_RUN),
            )
        )
    return found


def is_answer(block: Block) -> bool:
    if block.language != "json":
        return False
    value = json.loads(block.text)
    return isinstance(value, dict) and ("data" in value or "errors" in value)


def runnable(block: Block) -> bool:
    if block.skipped:
        return False
    if block.language == "graphql":
        return True
    return block.language == "sh" and (
        block.text.startswith("curl ") or ".venv/bin/flask --app wsgi" in block.text
    )


def examples(markdown: str) -> list[Example]:
    found, queue = [], blocks(markdown)
    for index, block in enumerate(queue):
        if not runnable(block):
            continue
        following = queue[index + 1 : index + 3]
        variables = answer = None
        if following and following[0].language == "json" and not is_answer(following[0]):
            variables = json.loads(following[0].text)
            following = following[1:]
        if following and is_answer(following[0]):
            answer = json.loads(following[0].text)
        found.append(Example(block, variables, answer))
    return found


class Reader:
    """Runs the examples in order on one app, remembering the tokens they hand out."""

    def __init__(self, app: Flask, folder: Path) -> None:
        self.app, self.client, self.folder = app, app.test_client(), folder
        self.stands_for: dict[str, str] = {}  # a value shown in the README -> the real one
        self.token: str | None = None

    def substitute(self, text: str) -> str:
        for shown, real in sorted(self.stands_for.items(), key=lambda item: -len(item[0])):
            text = text.replace(shown, real)
        return text.replace("$TOKEN", self.token or "")

    def run(self, example: Example) -> dict[str, Any] | None:
        block = example.request
        if block.language == "graphql":
            headers = {"Authorization": f"JWT {self.token}"} if self.token else {}
            body = {"query": self.substitute(block.text), "variables": example.variables}
            return self.client.post("/graphql", json=body, headers=headers).get_json()
        if block.text.startswith("curl "):
            return self.curl(self.substitute(block.text))
        self.flask_commands(block.text)
        return None

    def curl(self, command: str) -> dict[str, Any]:
        words = shlex.split(command.replace("\\\n", " "))
        headers: dict[str, str] = {}
        data: str | None = None
        form: dict[str, Any] = {}
        for flag, value in itertools.pairwise(words):
            if flag == "-H":
                name, _, header = value.partition(":")
                headers[name.strip()] = header.strip()
            elif flag == "-d":
                data = value
            elif flag == "-F":
                name, _, field = value.partition("=")
                form[name] = (self.folder / field[1:]).open("rb") if field.startswith("@") else field
        headers.pop("Content-Type", None)
        if form:
            return self.client.post("/graphql", data=form, headers=headers).get_json()
        return self.client.post(
            "/graphql", data=data, content_type="application/json", headers=headers
        ).get_json()

    def flask_commands(self, script: str) -> None:
        for line in script.splitlines():
            line = line.split("  #", 1)[0].strip()
            if not line:
                continue
            words = shlex.split(line)
            env = {}
            while "=" in words[0]:
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            assert words[:3] == [".venv/bin/flask", "--app", "wsgi"], line
            with self.app.app_context():
                result = self.app.test_cli_runner().invoke(args=words[3:], env=env)
            assert result.exit_code == 0, f"{line}\n{result.output}"

    def compare(self, shown: Any, real: Any, path: str, key: str | None = None) -> None:
        if key in VOLATILE and shown is not None:
            assert real is not None and type(real) is type(shown), f"{path}: {real!r} is not like {shown!r}"
            if isinstance(shown, str) and key in {"token", "refreshToken"}:
                self.stands_for[shown] = real
                if key == "token":
                    self.token = real
            return
        if isinstance(shown, dict):
            assert isinstance(real, dict), f"{path}: {real!r} is not an object"
            assert list(real) == list(shown), f"{path}: keys {list(real)}, the README shows {list(shown)}"
            for name, value in shown.items():
                self.compare(value, real[name], f"{path}.{name}", name)
        elif isinstance(shown, list):
            assert isinstance(real, list) and len(real) == len(shown), f"{path}: {real!r}, shown {shown!r}"
            for number, (item, actual) in enumerate(zip(shown, real, strict=True)):
                self.compare(item, actual, f"{path}[{number}]", key)
        else:
            assert real == shown, f"{path}: {real!r}, the README shows {shown!r}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory) as app:
        yield app


def test_the_readme_has_examples_to_run() -> None:
    found = examples(README.read_text())

    assert len(found) >= 15
    assert sum(example.answer is not None for example in found) >= 12


def test_every_readme_example_runs_in_order_and_answers_what_the_readme_shows(
    app: Flask, tmp_path: Path
) -> None:
    Image.new("RGB", (64, 48), "teal").save(tmp_path / "photo.jpg", "JPEG")
    reader = Reader(app, tmp_path)
    for example in examples(README.read_text()):
        where = f"README.md line {example.request.line}"
        real = reader.run(example)
        if example.answer is not None:
            assert real is not None, where
            try:
                reader.compare(example.answer, real, "answer")
            except AssertionError as error:
                raise AssertionError(f"{where}: {error}\nthe answer: {json.dumps(real)}") from None
        elif real is not None:
            assert "errors" not in real, f"{where}: {real}"


def test_the_runner_notices_an_answer_that_changed_shape(app: Flask, tmp_path: Path) -> None:
    """The comparison can fail: a different code, a missing key or another order is caught."""
    reader = Reader(app, tmp_path)
    shown = {"data": None, "errors": [{"message": "m", "extensions": {"code": "FORBIDDEN"}}]}
    for real in (
        {"data": None, "errors": [{"message": "m", "extensions": {"code": "UNAUTHENTICATED"}}]},
        {"errors": [{"message": "m", "extensions": {"code": "FORBIDDEN"}}], "data": None},
        {"data": None, "errors": [{"message": "m"}]},
    ):
        with pytest.raises(AssertionError):
            reader.compare(shown, real, "answer")
    reader.compare({"token": "eyJ..."}, {"token": "eyJreal"}, "answer")
    assert reader.substitute('verifyToken(token: "eyJ...")') == 'verifyToken(token: "eyJreal")'
