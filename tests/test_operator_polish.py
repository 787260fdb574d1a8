"""What operators meet first: private database files, one-line setting errors, ``users unlock``,
and clearing a gender."""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
from click.testing import Result
from conftest import FAST_HASHING, STRONG_PASSWORD, TEST_SECRET_KEY, GraphQL, configured_app
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.extensions import db

PROJECT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
LOGIN = "mutation ($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"
UPDATE = "mutation ($input: UpdateUserInput!) { updateUser(input: $input) { user { gender position } } }"
STRANGERS = ("203.0.113.5", "198.51.100.7")
LIMITED = "RATE_LIMITED"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Files only the owner can read


def default_database_app(instance: Path) -> Flask:
    """An app on the default SQLite database in ``instance``, migrated."""
    app = create_app(
        {
            **FAST_HASHING,
            "SECRET_KEY": "",  # made and kept in the instance folder, as on a first `make run`
            "SQLALCHEMY_DATABASE_URI": "",
            "INSTANCE_PATH": str(instance),
            "UPLOAD_FOLDER": str(instance.parent / "uploads"),
            "TESTING": True,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
    return app


def test_the_default_database_its_journal_and_the_instance_folder_are_private(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    app = default_database_app(instance)
    try:
        GraphQL(app.test_client()).register("private")  # a write: SQLite's -wal and -shm exist now
        database = instance / "accounts.sqlite3"
        files = [database, instance / "accounts.sqlite3-wal", instance / "accounts.sqlite3-shm"]

        assert mode(instance) == 0o700
        assert all(path.exists() for path in files)
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert mode(instance / "secret_key") == 0o600
    finally:
        with app.app_context():
            db.engine.dispose()


def test_files_an_older_version_left_readable_are_made_private_at_start(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    default_database_app(instance)
    instance.chmod(0o755)
    (instance / "accounts.sqlite3").chmod(0o644)

    app = default_database_app(instance)
    with app.app_context():
        db.engine.dispose()

    assert mode(instance) == 0o700
    assert mode(instance / "accounts.sqlite3") == 0o600


# One line for a bad setting


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SECRET_KEY", "short", "SECRET_KEY must be at least 32 bytes"),
        ("JWT_ALGORITHM", "RS999", "JWT_ALGORITHM must be one of"),
        ("LOGIN_MAX_FAILURES", "many", "LOGIN_MAX_FAILURES must be a whole number"),
    ],
)
def test_a_bad_setting_stops_a_flask_command_with_one_line_and_no_traceback(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    env = {
        **os.environ,
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        setting: value,
    }
    result = subprocess.run(
        [str(FLASK), "--app", "wsgi", "users", "list"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], result.stderr


# flask users unlock


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, LOGIN_MAX_FAILURES=2, LOGIN_ACCOUNT_MAX_FAILURES=3) as app:
        yield app


def log_in(client: FlaskClient, username: str, password: str, ip: str) -> dict:
    response = client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"u": username, "p": password}},
        environ_base={"REMOTE_ADDR": ip},
    )
    return response.get_json()


def code(body: dict) -> str | None:
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


def unlock(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=["users", "unlock", *args])


def test_unlock_lets_a_locked_out_account_log_in_again_from_every_address(strict_app: Flask) -> None:
    client = strict_app.test_client()
    GraphQL(client).register("locked")
    for ip in STRANGERS:  # 2 wrong guesses from each: both addresses, and the account (3), are full
        for _ in range(2):
            assert code(log_in(client, "locked", "wrong guess", ip)) in {"INVALID_CREDENTIALS", LIMITED}
    assert {code(log_in(client, "locked", STRONG_PASSWORD, ip)) for ip in STRANGERS} == {"RATE_LIMITED"}

    result = unlock(strict_app, "LOCKED")

    assert result.exit_code == 0, result.output
    assert "'locked' unlocked" in result.output
    assert [code(log_in(client, "locked", STRONG_PASSWORD, ip)) for ip in STRANGERS] == [None, None]


def test_unlock_leaves_other_accounts_limits_alone(strict_app: Flask) -> None:
    client = strict_app.test_client()
    graphql = GraphQL(client)
    graphql.register("held")
    graphql.register("freed")
    for username in ("held", "freed"):
        for _ in range(3):
            log_in(client, username, "wrong guess", STRANGERS[0] if username == "held" else STRANGERS[1])

    assert unlock(strict_app, "freed").exit_code == 0

    assert code(log_in(client, "freed", STRONG_PASSWORD, STRANGERS[1])) is None
    assert code(log_in(client, "held", STRONG_PASSWORD, STRANGERS[0])) == "RATE_LIMITED"


def test_unlock_refuses_an_unknown_user(strict_app: Flask) -> None:
    result = unlock(strict_app, "nobody-here")

    assert result.exit_code == 1 and "No user 'nobody-here'" in result.output


# Clearing a gender


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory) as app:
        yield app


def test_an_empty_gender_clears_it_and_null_leaves_it(app: Flask) -> None:
    graphql = GraphQL(app.test_client())
    token = graphql.register("gendered")["token"]

    assert (
        graphql(UPDATE, {"input": {"gender": "female"}}, token=token)["updateUser"]["user"]["gender"]
        == "FEMALE"
    )
    unchanged = graphql(UPDATE, {"input": {"gender": None, "position": "Editor"}}, token=token)
    cleared = graphql(UPDATE, {"input": {"gender": "  "}}, token=token)

    assert unchanged["updateUser"]["user"] == {"gender": "FEMALE", "position": "Editor"}
    assert cleared["updateUser"]["user"] == {"gender": None, "position": "Editor"}
    error = graphql.error(UPDATE, {"input": {"gender": "robot"}}, token=token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "gender" in error["extensions"]["fields"]
