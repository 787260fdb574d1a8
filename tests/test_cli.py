"""Operators' commands: ``flask users create-superuser/list/set-password/deactivate/activate``
and ``flask tokens purge``."""

import os
import pty
import select
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from conftest import FAST_HASHING, STRONG_PASSWORD, TEST_SECRET_KEY, GraphQL, count_rows, update_user
from flask import Flask

from service.extensions import db
from service.models import KnownClient, LoginSession, RateEvent, User, utcnow

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) {
    token refreshToken payload user { username email isStaff isSuperuser isActive }
  }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) { refreshAccessToken(refreshToken: $refreshToken) { token } }
"""
REVOKE_TOKEN = (
    "mutation Logout($refreshToken: String!) { revokeToken(refreshToken: $refreshToken) { revoked } }"
)
WHOAMI = "{ whoami { username } }"

NEW_PASSWORD = "purple submarine under the bridge"
REVOKED = {"code": "UNAUTHENTICATED", "reason": "revoked"}
NO_PASSWORD_IN_ENV = {"SUPERUSER_PASSWORD": None}
PROJECT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).parent / "flask"
DAY = 24 * 3600


# Helpers


def invoke(app: Flask, *args: str, **kwargs: Any) -> Result:
    """``flask <args>`` as the flask command runs it: inside the app's context."""
    kwargs.setdefault("env", NO_PASSWORD_IN_ENV)
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), **kwargs)


def create_superuser(app: Flask, username: str, password: str, *options: str) -> Result:
    return invoke(
        app,
        "users",
        "create-superuser",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password-stdin",
        *options,
        input=f"{password}\n",
    )


def log_in(gql: GraphQL, username: str, password: str = STRONG_PASSWORD) -> dict:
    return gql(TOKEN_AUTH, {"username": username, "password": password})["tokenAuth"]


def login_error(gql: GraphQL, username: str, password: str = STRONG_PASSWORD) -> str:
    return gql.error(TOKEN_AUTH, {"username": username, "password": password})["extensions"]["code"]


def assert_session_ended(gql: GraphQL, session: dict) -> None:
    assert gql.error(WHOAMI, token=session["token"])["extensions"] == REVOKED
    refused = gql.error(REFRESH, {"refreshToken": session["refreshToken"]})
    assert refused["extensions"]["code"] == "TOKEN_REVOKED"


def user_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))


# create-superuser


def test_create_superuser_reads_the_password_from_stdin(app: Flask, gql: GraphQL) -> None:
    result = create_superuser(app, "root", STRONG_PASSWORD)

    assert result.exit_code == 0, result.output
    assert "Superuser 'root' created" in result.output
    assert STRONG_PASSWORD not in result.output
    login = log_in(gql, "root")
    assert login["user"] == {
        "username": "root",
        "email": "root@example.com",
        "isStaff": True,
        "isSuperuser": True,
        "isActive": True,
    }


def test_create_superuser_reads_the_password_from_the_environment(app: Flask, gql: GraphQL) -> None:
    result = invoke(
        app,
        "users",
        "create-superuser",
        "--username",
        "root",
        "--email",
        "root@example.com",
        env={"SUPERUSER_PASSWORD": STRONG_PASSWORD},
    )

    assert result.exit_code == 0, result.output
    assert log_in(gql, "root")["user"]["isSuperuser"] is True


@pytest.mark.parametrize("password", ["123", "password123", "qwertyuiop", "root-root-root", "root@example"])
def test_create_superuser_applies_the_password_policy(app: Flask, gql: GraphQL, password: str) -> None:
    result = create_superuser(app, "root", password)

    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert user_count(app) == 0


def test_allow_weak_password_is_the_only_way_to_the_old_services_root_123(app: Flask, gql: GraphQL) -> None:
    result = create_superuser(app, "root", "123", "--allow-weak-password")

    assert result.exit_code == 0, result.output
    assert "Warning" in result.stderr
    assert "policy" in result.stderr
    login = log_in(gql, "root", "123")
    assert login["user"]["isStaff"] is True and login["user"]["isSuperuser"] is True


def test_allow_weak_password_still_requires_a_password(app: Flask, gql: GraphQL) -> None:
    result = create_superuser(app, "root", "", "--allow-weak-password")

    assert result.exit_code != 0
    assert "password" in result.output.lower()
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "options",
    [["--email", "root@example.com"], ["--username", "root"], []],
    ids=["no username", "no email", "neither"],
)
def test_create_superuser_without_names_is_a_usage_error_when_not_interactive(
    app: Flask, gql: GraphQL, options: list[str]
) -> None:
    result = invoke(
        app, "users", "create-superuser", *options, "--password-stdin", input=f"{STRONG_PASSWORD}\n"
    )

    assert result.exit_code == 2
    assert "--username and --email are required" in result.output
    assert user_count(app) == 0


def test_create_superuser_without_a_password_source_is_a_usage_error(app: Flask, gql: GraphQL) -> None:
    result = invoke(app, "users", "create-superuser", "--username", "root", "--email", "root@example.com")

    assert result.exit_code == 2
    assert "--password-stdin" in result.output and "SUPERUSER_PASSWORD" in result.output
    assert user_count(app) == 0


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("ALI", "other@example.com", "username"),
        ("root", "ALI@example.com", "email"),
        ("root", "nope", "email"),
    ],
)
def test_create_superuser_refuses_taken_or_invalid_names(
    app: Flask, gql: GraphQL, username: str, email: str, field: str
) -> None:
    gql.register("ali")

    result = invoke(
        app,
        "users",
        "create-superuser",
        "--username",
        username,
        "--email",
        email,
        "--password-stdin",
        input=f"{STRONG_PASSWORD}\n",
    )

    assert result.exit_code == 1
    assert f"Error: {field}:" in result.output
    assert user_count(app) == 1


def read_until(fd: int, text: str, seen: bytearray, timeout: float = 30) -> None:
    """Read the terminal's output into ``seen`` until ``text`` appears in it."""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {text!r} in {seen.decode(errors='replace')!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the other end closed: the process ended
                chunk = b""
            assert chunk, f"no {text!r} before the end: {seen.decode(errors='replace')!r}"
            seen += chunk


def test_create_superuser_prompts_for_everything_in_a_terminal(
    app: Flask, gql: GraphQL, tmp_path: Path
) -> None:
    """The command is interactive only on a real terminal, so this one runs ``flask`` on a pseudo-terminal."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": TEST_SECRET_KEY,
        **{name: str(value) for name, value in FAST_HASHING.items()},
    }
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(FLASK), "--app", "wsgi", "users", "create-superuser"],
        cwd=PROJECT,
        env=environment,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        for prompt, answer in [
            ("Username:", "root2"),
            ("Email address:", "root2@example.com"),
            ("Password:", STRONG_PASSWORD),
            ("Repeat for confirmation:", STRONG_PASSWORD),
        ]:
            read_until(main, prompt, seen)
            os.write(main, f"{answer}\n".encode())
        read_until(main, "created", seen)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)

    assert STRONG_PASSWORD not in seen.decode(errors="replace"), "the password was echoed"
    login = log_in(gql, "root2")
    assert login["user"]["email"] == "root2@example.com"
    assert login["user"]["isSuperuser"] is True


# users list


def test_users_list_shows_every_account_with_its_flags(app: Flask, gql: GraphQL) -> None:
    create_superuser(app, "root", STRONG_PASSWORD)
    gql.register("ali")
    update_user(app, "ali", is_active=False)

    result = invoke(app, "users", "list")

    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["id", "username", "email", "staff", "super", "active", "joined"]
    assert [row.split()[1:6] for row in rows] == [
        ["root", "root@example.com", "yes", "yes", "yes"],
        ["ali", "ali@example.com", "no", "no", "no"],
    ]


@pytest.mark.parametrize(
    ("search", "expected"),
    [("AL", ["ali", "alina"]), ("corp.EXAMPLE", ["bob"]), ("Алё", ["алёна"]), ("nobody", [])],
)
def test_users_list_search_filters_by_username_or_email_in_any_case(
    app: Flask, gql: GraphQL, search: str, expected: list[str]
) -> None:
    for username, email in [
        ("ali", "ali@example.com"),
        ("bob", "bob@corp.example"),
        ("alina", "alina@example.com"),
        ("алёна", "lena@example.com"),
    ]:
        gql.register(username, email)

    result = invoke(app, "users", "list", "--search", search)

    assert result.exit_code == 0, result.output
    assert [row.split()[1] for row in result.output.splitlines()[1:]] == expected


def test_users_list_search_treats_like_wildcards_literally(app: Flask, gql: GraphQL) -> None:
    gql.register("ali")
    gql.register("bob_smith")

    underscore = invoke(app, "users", "list", "--search", "_")
    percent = invoke(app, "users", "list", "--search", "%")

    assert [row.split()[1] for row in underscore.output.splitlines()[1:]] == ["bob_smith"]
    assert percent.output.splitlines()[1:] == []


# set-password, deactivate, activate


def test_set_password_changes_the_password_and_ends_every_session(app: Flask, gql: GraphQL) -> None:
    first = gql.register("ali")
    second = log_in(gql, "ali")

    result = invoke(app, "users", "set-password", "ali", "--password-stdin", input=f"{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "sessions have been ended" in result.output
    for session in (first, second):
        assert_session_ended(gql, session)
    assert login_error(gql, "ali") == "INVALID_CREDENTIALS"
    assert log_in(gql, "ali", NEW_PASSWORD)["user"]["username"] == "ali"


def test_set_password_reads_the_password_from_the_environment(app: Flask, gql: GraphQL) -> None:
    gql.register("ali")

    result = invoke(app, "users", "set-password", "ali", env={"SUPERUSER_PASSWORD": NEW_PASSWORD})

    assert result.exit_code == 0, result.output
    assert log_in(gql, "ali", NEW_PASSWORD)["user"]["username"] == "ali"


@pytest.mark.parametrize("password", ["123", "password123", "ali-ali-ali", ""])
def test_set_password_applies_the_password_policy(app: Flask, gql: GraphQL, password: str) -> None:
    session = gql.register("ali")

    result = invoke(app, "users", "set-password", "ali", "--password-stdin", input=f"{password}\n")

    assert result.exit_code == 1
    assert "Error: password:" in result.output
    assert log_in(gql, "ali")["user"]["username"] == "ali"
    assert gql(WHOAMI, token=session["token"])["whoami"] == {"username": "ali"}


def test_set_password_allows_a_weak_password_only_when_told(app: Flask, gql: GraphQL) -> None:
    gql.register("ali")

    result = invoke(
        app, "users", "set-password", "ali", "--password-stdin", "--allow-weak-password", input="123\n"
    )

    assert result.exit_code == 0, result.output
    assert "Warning" in result.stderr
    assert log_in(gql, "ali", "123")["user"]["username"] == "ali"


@pytest.mark.parametrize("login", ["ali", "ALI", "id"])
def test_commands_find_a_user_by_username_in_any_case_or_by_id(app: Flask, gql: GraphQL, login: str) -> None:
    user_id = gql.register("ali")["user"]["id"]

    result = invoke(app, "users", "deactivate", user_id if login == "id" else login)

    assert result.exit_code == 0, result.output
    assert login_error(gql, "ali") == "INVALID_CREDENTIALS"


def test_deactivate_ends_every_session_at_once_and_blocks_login(app: Flask, gql: GraphQL) -> None:
    first = gql.register("ali")
    second = log_in(gql, "ali")

    result = invoke(app, "users", "deactivate", "ali")

    assert result.exit_code == 0, result.output
    assert "'ali' deactivated" in result.output
    for session in (first, second):
        assert_session_ended(gql, session)
    assert login_error(gql, "ali") == "INVALID_CREDENTIALS"


def test_activate_lets_a_deactivated_user_log_in_again(app: Flask, gql: GraphQL) -> None:
    old = gql.register("ali")
    invoke(app, "users", "deactivate", "ali")

    result = invoke(app, "users", "activate", "ali")

    assert result.exit_code == 0, result.output
    assert "'ali' activated" in result.output
    new = log_in(gql, "ali")
    assert gql(WHOAMI, token=new["token"])["whoami"] == {"username": "ali"}
    assert_session_ended(gql, old)


@pytest.mark.parametrize(
    "command",
    [["set-password", "--password-stdin"], ["deactivate"], ["activate"]],
    ids=["set-password", "deactivate", "activate"],
)
@pytest.mark.parametrize("login", ["ghost", "999"])
def test_commands_refuse_an_unknown_user(app: Flask, gql: GraphQL, command: list[str], login: str) -> None:
    session = gql.register("ali")

    result = invoke(app, "users", command[0], login, *command[1:], input=f"{NEW_PASSWORD}\n")

    assert result.exit_code == 1
    assert f"No user '{login}'" in result.output
    assert gql(WHOAMI, token=session["token"])["whoami"] == {"username": "ali"}


def test_commands_run_under_the_flask_test_runner_without_an_app_context(app: Flask, gql: GraphQL) -> None:
    gql.register("ali")

    result = app.test_cli_runner().invoke(args=["users", "list"])

    assert result.exit_code == 0, result.output
    assert "ali@example.com" in result.output


# tokens purge


def set_session_times(app: Flask, session_id: int, *, created: int, refreshed: int | None = None) -> None:
    """Move a session's login (and last refresh) that many seconds into the past."""
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(
                created_at=now - timedelta(seconds=created),
                last_refreshed_at=None if refreshed is None else now - timedelta(seconds=refreshed),
            )
        )
        db.session.commit()


def add_rate_event(app: Flask, bucket: str, age: int) -> None:
    with app.app_context():
        db.session.add(RateEvent(bucket=bucket, created_at=utcnow() - timedelta(seconds=age)))
        db.session.commit()


def test_tokens_purge_removes_ended_sessions_and_old_rate_events_but_keeps_live_ones(
    app: Flask, gql: GraphQL
) -> None:
    live = gql.register("ali")
    revoked, idle, too_old, old_but_active = (log_in(gql, "ali") for _ in range(4))
    gql(REVOKE_TOKEN, {"refreshToken": revoked["refreshToken"]})
    set_session_times(app, idle["payload"]["sid"], created=8 * DAY)
    set_session_times(app, too_old["payload"]["sid"], created=31 * DAY, refreshed=3600)
    set_session_times(app, old_but_active["payload"]["sid"], created=8 * DAY, refreshed=3600)
    add_rate_event(app, "a" * 64, age=2 * 3600)
    add_rate_event(app, "b" * 64, age=600)
    events_before = count_rows(app, "rate_events")
    assert (count_rows(app, "login_sessions"), count_rows(app, "refresh_tokens")) == (5, 5)

    result = invoke(app, "tokens", "purge")

    assert result.exit_code == 0, result.output
    assert "Removed 3 ended sessions and 1 old rate-limit events." in result.output
    with app.app_context():
        kept = set(db.session.scalars(sa.select(LoginSession.id)))
        buckets = set(db.session.scalars(sa.select(RateEvent.bucket)))
    assert kept == {live["payload"]["sid"], old_but_active["payload"]["sid"]}
    assert count_rows(app, "refresh_tokens") == 2
    assert "a" * 64 not in buckets and "b" * 64 in buckets
    assert count_rows(app, "rate_events") == events_before - 1
    for session in (live, old_but_active):
        assert gql(REFRESH, {"refreshToken": session["refreshToken"]})["refreshAccessToken"]["token"]


def test_tokens_purge_with_nothing_to_remove_changes_nothing(app: Flask, gql: GraphQL) -> None:
    live = gql.register("ali")

    result = invoke(app, "tokens", "purge")

    assert result.exit_code == 0, result.output
    assert "Removed 0 ended sessions and 0 old rate-limit events." in result.output
    assert gql(WHOAMI, token=live["token"])["whoami"] == {"username": "ali"}


def test_tokens_purge_forgets_known_client_networks_unused_for_30_days(app: Flask, gql: GraphQL) -> None:
    user_id = int(gql.register("ali")["user"]["id"])
    with app.app_context():
        for network, age in (("c" * 64, 31), ("d" * 64, 29)):
            last_login = utcnow() - timedelta(days=age)
            db.session.add(KnownClient(user_id=user_id, network=network, last_login_at=last_login))
        db.session.commit()

    result = invoke(app, "tokens", "purge")

    assert result.exit_code == 0, result.output
    assert "Removed 1 known client networks unused for 30 days." in result.output
    with app.app_context():
        networks = set(db.session.scalars(sa.select(KnownClient.network)))
    assert "c" * 64 not in networks and "d" * 64 in networks
