"""A real gunicorn serving ``wsgi:app`` on a free loopback port, for tests that go over HTTP."""

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from conftest import FAST_HASHING, STRONG_PASSWORD, TEST_SECRET_KEY, fresh_database_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 20.0
CREATE_USER = """
mutation Register($input: CreateUserInput!) { createUser(input: $input) { token refreshToken payload } }
"""
# Usernames stay unique across every server of a test session.
NEXT_ACCOUNT = itertools.count(1)


@dataclass(frozen=True)
class Server:
    """A running server: where to send requests, its database, its folder and its log.

    ``request_timeout`` is how long its clients wait for an answer.
    """

    url: str
    database_url: str
    folder: Path
    log: Path
    request_timeout: float = REQUEST_TIMEOUT

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def graphql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict:
        """One operation as a JSON POST on a new connection, ``token`` as a JWT if given.

        It must have executed (200); the whole answer.
        """
        headers = {"Authorization": f"JWT {token}"} if token else {}
        response = requests.post(
            self.graphql_url,
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=self.request_timeout,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def register(self, prefix: str = "user") -> tuple[str, dict]:
        """A new account named ``prefix`` and a number: its username and its first session's
        ``token``, ``refreshToken`` and ``payload``."""
        username = f"{prefix}{next(NEXT_ACCOUNT)}"
        variables = {
            "input": {"username": username, "email": f"{username}@example.com", "password": STRONG_PASSWORD}
        }
        body = self.graphql(CREATE_USER, variables)
        assert "errors" not in body, body["errors"]
        return username, body["data"]["createUser"]

    def new_account(self, prefix: str = "user") -> str:
        """A new account's access token."""
        return self.register(prefix)[1]["token"]

    def scalar(self, sql: str, **parameters: object) -> object:
        """The first value of a query run straight on the server's database (SQLite or PostgreSQL)."""
        engine = sa.create_engine(self.database_url, poolclass=sa.NullPool)
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text(sql), parameters).scalar()
        finally:
            engine.dispose()


def free_port() -> int:
    """A port nobody listens on right now (gunicorn cannot be trusted to bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a server on a new database, whose files all live under ``tmp_path``.

    ``settings`` go on top.
    """
    return {
        **os.environ,
        **{name: str(value) for name, value in FAST_HASHING.items()},
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": fresh_database_url(tmp_path, "server.sqlite3"),
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "GRAPHQL_EXPLORER": "playground",
        # One server serves a whole module of tests from one address; the limit has tests of its own.
        "REGISTRATION_MAX_PER_IP": "10000",
        "REGISTRATION_ATTEMPTS_PER_IP": "10000",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


def migrate(env: Mapping[str, str]) -> None:
    """``flask --app wsgi db upgrade``, as a release does before gunicorn starts."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"db upgrade failed:\n{result.stdout}\n{result.stderr}"


@contextmanager
def running_gunicorn(
    tmp_path: Path, *, workers: int = 2, request_timeout: float = REQUEST_TIMEOUT, **settings: str
) -> Iterator[Server]:
    """Migrate a fresh database, start gunicorn, wait until it answers; always stop it afterwards.

    ``settings`` are the app's, as environment variables; ``request_timeout`` is the clients'.
    """
    env = server_environment(tmp_path, **settings)
    migrate(env)
    port = free_port()
    log = tmp_path / "gunicorn.log"
    server = Server(f"http://{HOST}:{port}", env["DATABASE_URL"], tmp_path, log, request_timeout)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_ready(server, process)
            yield server
        finally:
            _stop(process)


def _wait_until_ready(server: Server, process: subprocess.Popen) -> None:
    """Poll for the explorer page; fail with the server's log if it dies or never answers."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_text()}")
        try:
            response = requests.get(server.graphql_url, headers={"Accept": "text/html"}, timeout=2)
            if response.status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or the worker is still loading the app
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn did not answer within {READY_TIMEOUT} s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
