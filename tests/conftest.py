"""Shared fixtures: one app per test module on a database of its own, a clean database per test.

The databases are SQLite files, or, when TEST_DATABASE_URL names a PostgreSQL
server (``scripts/with-postgres`` sets it), a new database on that server for
each app, dropped when the session ends.
"""

import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from graphql import OperationDefinitionNode, parse
from werkzeug.test import TestResponse

from service import create_app
from service.extensions import db

# argon2 made cheap for tests only; the defaults stay RFC 9106's.
FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}
TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
LEGACY_OPERATIONS_FILE = Path(__file__).parent / "fixtures" / "legacy-operations.graphql"
STRONG_PASSWORD = "correct horse battery staple"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or None


class PostgresDatabases:
    """Makes empty databases on the server that ``url`` names, and drops them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise pytest.UsageError(f"TEST_DATABASE_URL must name a PostgreSQL server, got {url!r}")
        self.names: list[str] = []
        self._engine: sa.Engine | None = None

    def _admin(self) -> sa.Engine:
        # CREATE/DROP DATABASE cannot run inside a transaction.
        if self._engine is None:
            self._engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        return self._engine

    def create(self) -> str:
        """The URL of a new, empty database."""
        name = f"test_{secrets.token_hex(8)}"
        with self._admin().connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop every database made, ending whatever connections an app still holds to it."""
        if self._engine is None:
            return
        with self._engine.connect() as connection:
            for name in self.names:
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        self.names.clear()
        self._engine.dispose()


POSTGRES = PostgresDatabases(TEST_DATABASE_URL) if TEST_DATABASE_URL else None


def fresh_database_url(tmp_path: Path, filename: str = "test.sqlite3") -> str:
    """An empty database for one app: a new one on the PostgreSQL server, else an SQLite file."""
    if POSTGRES is not None:
        return POSTGRES.create()
    return f"sqlite:///{tmp_path / filename}"


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    if POSTGRES is not None:
        POSTGRES.drop_all()


def app_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """The settings of a test app whose files all live under ``tmp_path``.

    Its database is a fresh one of its own unless ``SQLALCHEMY_DATABASE_URI`` names one.
    """
    database_url = overrides.pop("SQLALCHEMY_DATABASE_URI", None) or fresh_database_url(tmp_path)
    return {
        **FAST_HASHING,
        "SECRET_KEY": TEST_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "TESTING": True,
        # Reuse of a rotated refresh token is theft at once here; the two-tab grace
        # window (default 10 s) has tests of its own on an app that keeps it.
        "JWT_REFRESH_REUSE_INTERVAL": 0,
        **overrides,
    }


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    """A migrated app on its own database."""
    app = create_app(app_settings(tmp_path, **overrides))
    with app.app_context():
        flask_migrate.upgrade()
    return app


def empty_tables(app: Flask) -> None:
    """Delete every row; ids start again from 1, as they do in an emptied SQLite table."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
            db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            # AUTOINCREMENT tables remember their largest id; tests start from 1 again.
            db.session.execute(sa.text("DELETE FROM sqlite_sequence"))
        db.session.commit()


@contextmanager
def configured_app(tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> Iterator[Flask]:
    """A migrated app of its own, with ``overrides`` in its config, on an empty database."""
    app = make_app(tmp_path_factory.mktemp("app"), **overrides)
    empty_tables(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def count_rows(app: Flask, table: str, **where: Any) -> int:
    """Rows of ``table`` (whose ``column = value`` for each of ``where``), counted in the database."""
    condition = " AND ".join(f"{column} = :{column}" for column in where) or "1 = 1"
    with app.app_context():
        return db.session.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE {condition}"), where)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_app(tmp_path_factory.mktemp("app"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """A test client on an empty database."""
    empty_tables(app)
    yield app.test_client()


class GraphQL:
    """Sends operations the way a client does: a JSON POST to /graphql."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def post(
        self,
        query: str,
        variables: dict | None = None,
        *,
        token: str | None = None,
        headers: dict | None = None,
        operation_name: str | None = None,
    ) -> tuple[int, dict]:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"JWT {token}"
        body: dict[str, Any] = {"query": query, "variables": variables}
        if operation_name:
            body["operationName"] = operation_name
        response = self.client.post("/graphql", json=body, headers=headers)
        return response.status_code, response.get_json()

    def __call__(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        """The ``data`` of an operation that must succeed without errors."""
        status, body = self.post(query, variables, **kwargs)
        assert "errors" not in body, body["errors"]
        assert status == 200
        return body["data"]

    def error(self, query: str, variables: dict | None = None, **kwargs: Any) -> dict:
        """The one error of an operation that must fail at one field, whose data is then null."""
        status, body = self.post(query, variables, **kwargs)
        assert status == 200, body
        assert len(body["errors"]) == 1, body["errors"]
        error = body["errors"][0]
        field = error["path"][0]
        assert body["data"][field] is None
        return error

    def register(
        self, username: str = "ali", email: str | None = None, password: str = STRONG_PASSWORD
    ) -> dict:
        """Create an account; return ``createUser``'s result (tokens and user)."""
        email = email or f"{username}@example.com"
        return self(CREATE_USER, {"input": {"username": username, "email": email, "password": password}})[
            "createUser"
        ]


CREATE_USER = """
mutation Register($input: CreateUserInput!) {
  createUser(input: $input) {
    ok token refreshToken payload refreshExpiresIn
    user { id username email isStaff isSuperuser isActive dateJoined lastLogin }
  }
}
"""


@pytest.fixture
def gql(client: FlaskClient) -> GraphQL:
    return GraphQL(client)


def send_picture(
    client: FlaskClient,
    query: str,
    content: bytes,
    *,
    token: str | None = None,
    filename: str = "me.png",
    mimetype: str = "image/png",
    changes: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> TestResponse:
    """``query`` (an ``updateUser``) as a GraphQL multipart request carrying ``content`` as the picture.

    ``changes`` go in the input next to the picture, ``token`` as a JWT in the Authorization header,
    ``headers`` on top; the caller checks the response.
    """
    operations = {"query": query, "variables": {"input": {**(changes or {}), "profilePicture": None}}}
    sent_headers = {"Authorization": f"JWT {token}"} if token else {}
    return client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.profilePicture"]}),
            "0": (io.BytesIO(content), filename, mimetype),
        },
        headers={**sent_headers, **(headers or {})},
    )


def legacy_operations() -> dict[str, str]:
    """The old clients' operations, by name, each exactly as written in the shared file."""
    source = LEGACY_OPERATIONS_FILE.read_text()
    operations = {}
    for node in parse(source).definitions:
        assert isinstance(node, OperationDefinitionNode) and node.name and node.loc
        operations[node.name.value] = source[node.loc.start : node.loc.end]
    return operations


LEGACY = legacy_operations()


def update_user(app: Flask, username: str, **columns: Any) -> None:
    """Change a user's columns directly in the database (promote to staff, deactivate ...)."""
    from service.models import User

    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == username).values(**columns))
        db.session.commit()
