"""Production operation: the health endpoints, and the request log (one JSON line per request,
request ids, tracebacks of unexpected errors, and what must never be logged)."""

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import STRONG_PASSWORD, GraphQL, app_settings, send_picture
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from service import create_app
from service.extensions import db
from service.logs import JSONFormatter, RequestIdFilter

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
CHANGE_PASSWORD = """
mutation ChangePassword($oldPassword: String!, $newPassword: String!) {
  changePassword(oldPassword: $oldPassword, newPassword: $newPassword) { token refreshToken }
}
"""
UPDATE_USER = """
mutation UpdateUser($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePicture } } }
"""
WHOAMI = "query Me { whoami { id username } }"

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
LOG_FIELDS = {
    "request_id",
    "method",
    "path",
    "operation_name",
    "operation_type",
    "status",
    "duration_ms",
    "user_id",
    "client_ip",
}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
NEW_PASSWORD = "purple submarine under the bridge"
UPLOAD_MARKER = "upload-content-marker-5b1d7e"


def head_revisions() -> set[str]:
    """The head of the migrations folder, as Alembic itself reads it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(config).get_heads())


@contextmanager
def unmigrated_app(tmp_path: Path, database_url: str | None = None) -> Iterator[Flask]:
    """An app on a database nobody migrated: ``database_url``, or a fresh empty one."""
    app = create_app(app_settings(tmp_path, SQLALCHEMY_DATABASE_URI=database_url))
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


# /healthz


def test_healthz_says_ok_while_the_process_is_up(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_says_ok_even_when_the_database_is_down(tmp_path: Path) -> None:
    with unmigrated_app(tmp_path, f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}") as app:
        response = app.test_client().get("/healthz")

        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}


# /readyz


def test_readyz_is_ready_when_the_database_answers_at_the_migration_head(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def broken_database(tmp_path: Path, kind: str) -> str:
    """An SQLite URL that cannot be used: no such folder, a folder, garbage, or an unreadable file."""
    path = tmp_path / "db.sqlite3"
    if kind == "missing folder":
        path = tmp_path / "no-such-folder" / "db.sqlite3"
    elif kind == "a folder":
        path.mkdir()
    elif kind == "not a database":
        path.write_bytes(b"this is not an SQLite database\n" * 200)
    elif kind == "unreadable":
        path.write_bytes(b"")
        sqlite_file = sa.create_engine(f"sqlite:///{path}")
        with sqlite_file.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        sqlite_file.dispose()
        path.chmod(0)
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    "kind",
    [
        "missing folder",
        "a folder",
        "not a database",
        pytest.param(
            "unreadable",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode"),
        ),
    ],
)
def test_readyz_is_unavailable_when_the_database_does_not_answer(tmp_path: Path, kind: str) -> None:
    url = broken_database(tmp_path, kind)
    with unmigrated_app(tmp_path, url) as app:
        response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert "database does not answer" in body["reason"]
    assert str(tmp_path) not in body["reason"], "the reason gives the database's location away"


def test_readyz_is_unavailable_on_a_database_that_was_never_migrated(tmp_path: Path) -> None:
    (head,) = head_revisions()
    with unmigrated_app(tmp_path) as app:
        response = app.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert head in body["reason"]
    assert "flask --app wsgi db upgrade" in body["reason"]


def test_readyz_is_unavailable_on_a_database_behind_the_head_and_ready_after_the_upgrade(
    tmp_path: Path,
) -> None:
    (head,) = head_revisions()
    with unmigrated_app(tmp_path) as app:
        with app.app_context():
            flask_migrate.upgrade(revision="0001")
        behind = app.test_client().get("/readyz")
        with app.app_context():
            flask_migrate.upgrade()
        ready = app.test_client().get("/readyz")

    assert behind.status_code == 503
    assert "0001" in behind.get_json()["reason"] and head in behind.get_json()["reason"]
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready"}


def test_readyz_is_unavailable_on_a_database_at_a_revision_this_code_does_not_know(
    app: Flask, client: FlaskClient
) -> None:
    (head,) = head_revisions()
    with app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
        db.session.commit()
    try:
        response = client.get("/readyz")
    finally:
        with app.app_context():
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head})
            db.session.commit()

    assert response.status_code == 503
    assert "ffff_from_the_future" in response.get_json()["reason"]
    assert head in response.get_json()["reason"]


# The request log


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "service.requests"]


def logged_request(caplog: pytest.LogCaptureFixture) -> dict:
    """The ``fields`` of the one request line logged."""
    (record,) = request_records(caplog)
    return record.fields


@pytest.fixture
def requests_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="service.requests")
    return caplog


def test_each_request_logs_one_line_with_every_field(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture
) -> None:
    response = client.post(
        "/graphql",
        json={"query": TOKEN_AUTH, "variables": {"username": "nobody", "password": "wrong password"}},
        environ_overrides={"REMOTE_ADDR": "192.0.2.7"},
    )

    fields = logged_request(requests_log)
    assert set(fields) == LOG_FIELDS
    assert fields["request_id"] == response.headers["X-Request-ID"]
    assert fields["method"] == "POST"
    assert fields["path"] == "/graphql"
    assert (fields["operation_name"], fields["operation_type"]) == ("Login", "mutation")
    assert fields["status"] == 200
    assert isinstance(fields["duration_ms"], float) and 0 <= fields["duration_ms"] < 60_000
    assert fields["user_id"] is None
    assert fields["client_ip"] == "192.0.2.7"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "operation_type"),
    [
        ("GET", "/healthz", None, 200, None),
        ("GET", "/readyz", None, 200, None),
        ("GET", "/no/such/page", None, 404, None),
        ("POST", "/graphql", {"query": "{ whoami {"}, 400, None),
        ("POST", "/graphql", {"query": "query Odd { nope }"}, 400, "query"),
    ],
    ids=["healthz", "readyz", "not found", "parse error", "validation error"],
)
def test_requests_outside_graphql_or_refused_before_running_are_logged_too(
    client: FlaskClient,
    requests_log: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict | None,
    status: int,
    operation_type: str | None,
) -> None:
    response = client.open(path, method=method, json=body)

    assert response.status_code == status
    fields = logged_request(requests_log)
    assert (fields["method"], fields["path"], fields["status"]) == (method, path, status)
    assert fields["operation_type"] == operation_type
    assert fields["request_id"] == response.headers["X-Request-ID"]
    assert set(fields) == LOG_FIELDS


def test_a_query_is_logged_with_its_name_type_and_the_signed_in_user(
    client: FlaskClient, requests_log
) -> None:
    gql = GraphQL(client)
    login = gql.register("ali")
    requests_log.clear()

    gql(WHOAMI, token=login["token"])

    fields = logged_request(requests_log)
    assert (fields["operation_name"], fields["operation_type"]) == ("Me", "query")
    assert fields["user_id"] == int(login["user"]["id"])


@pytest.mark.parametrize("authorization", ["JWT not-a-token", "Basic YWxpOnNlY3JldA==", ""])
def test_a_caller_without_a_valid_token_is_logged_without_a_user(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture, authorization: str
) -> None:
    GraphQL(client).register("ali")
    requests_log.clear()

    client.post("/graphql", json={"query": WHOAMI}, headers={"Authorization": authorization})

    assert logged_request(requests_log)["user_id"] is None


def test_the_json_formatter_writes_the_line_as_one_json_object(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture
) -> None:
    client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    (record,) = request_records(requests_log)

    text = JSONFormatter().format(record)

    assert "\n" not in text
    line = json.loads(text)
    assert LOG_FIELDS | {"time", "level", "logger", "message"} <= set(line)
    assert line["request_id"] == "abc-123"
    assert (line["level"], line["logger"]) == ("info", "service.requests")
    assert line["message"] == "GET /healthz 200"
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "created", [0.0, 1.9995, 1.9999995, 59.9999999, 1796189551.123, 1796189551.0009, 4102444799.999]
)
def test_the_log_time_is_the_records_time_in_utc_with_milliseconds(created: float) -> None:
    """The formatter reuses each second's text; the milliseconds still round as datetime rounds them."""
    formatter = JSONFormatter()
    formatter.format(logging.LogRecord("x", logging.INFO, __file__, 1, "now", None, None))  # caches now
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created = created

    line = json.loads(formatter.format(record))

    assert line["time"] == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


@pytest.fixture
def json_log_lines() -> Iterator[io.StringIO]:
    """What the service's JSON handler writes, in a buffer instead of stdout."""
    (handler,) = [h for h in logging.getLogger("service").handlers if getattr(h, "_service_json", False)]
    stream = handler.setStream(io.StringIO())
    try:
        yield handler.stream
    finally:
        handler.setStream(stream)


def test_the_request_line_written_directly_equals_the_line_logging_writes(
    client: FlaskClient, json_log_lines: io.StringIO
) -> None:
    """Alone on the chain (as in production), the JSON handler gets the line without a log record;
    with another handler anywhere (pytest's on the root logger), the record goes through logging.
    Both lines are the same, key for key and in the same order."""
    client.get("/healthz", headers={"X-Request-ID": "through-logging"})
    root, make_record, made = logging.getLogger(), logging.getLogRecordFactory(), []

    def counted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        made.append(record.name)
        return record

    others, root.handlers = root.handlers, []
    logging.setLogRecordFactory(counted)
    try:
        client.get("/healthz", headers={"X-Request-ID": "written-directly"})
    finally:
        logging.setLogRecordFactory(make_record)
        root.handlers = others

    assert "service.requests" not in made

    through_logging, written_directly = (json.loads(text) for text in json_log_lines.getvalue().splitlines())
    assert list(written_directly) == list(through_logging)
    for line in (through_logging, written_directly):
        del line["time"], line["duration_ms"], line["request_id"]
    assert written_directly == through_logging
    assert written_directly["message"] == "GET /healthz 200"
    assert written_directly["logger"] == "service.requests"


# Request ids


def test_an_incoming_request_id_is_kept_and_returned(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"
    assert logged_request(requests_log)["request_id"] == "abc-123"


def test_a_request_id_of_128_characters_is_kept(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture
) -> None:
    incoming = "a1._:-" + "x" * 122
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] == incoming
    assert logged_request(requests_log)["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has spaces", "x" * 129, "ünïcødé", "id;rm -rf", '"quoted"', "a/b", "{json}", "tab\tinside"],
    ids=["spaces", "129 long", "unicode", "semicolon", "quotes", "slash", "braces", "tab"],
)
def test_a_malformed_request_id_is_replaced_by_a_generated_one(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture, incoming: str
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    returned = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(returned)
    (record,) = request_records(requests_log)
    assert record.fields["request_id"] == returned
    assert incoming not in JSONFormatter().format(record)


def test_without_a_request_id_each_request_gets_a_new_one(
    client: FlaskClient, requests_log: pytest.LogCaptureFixture
) -> None:
    returned = [client.get("/healthz").headers["X-Request-ID"] for _ in range(2)]

    assert all(GENERATED_ID.fullmatch(request_id) for request_id in returned)
    assert returned[0] != returned[1]
    assert [record.fields["request_id"] for record in request_records(requests_log)] == returned


# Unexpected errors


def test_an_unexpected_error_is_logged_with_its_traceback_and_the_request_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the login helper broke")

    monkeypatch.setattr("service.graphql.accounts.log_in", broken)
    with caplog.at_level(logging.INFO):
        response = client.post(
            "/graphql",
            json={"query": TOKEN_AUTH, "variables": {"username": "ali", "password": STRONG_PASSWORD}},
            headers={"X-Request-ID": "trace-me-42"},
        )

    assert response.get_json()["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    (record,) = [record for record in caplog.records if record.name == "service.graphql"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    RequestIdFilter().filter(record)
    line = json.loads(JSONFormatter().format(record))
    assert line["request_id"] == "trace-me-42"
    assert "Traceback (most recent call last)" in line["traceback"]
    assert "RuntimeError: the login helper broke" in line["traceback"]
    assert logged_request(caplog)["request_id"] == "trace-me-42"


def test_the_request_id_filter_stamps_records_logged_during_a_request(app: Flask) -> None:
    record = logging.LogRecord("service.test", logging.WARNING, __file__, 1, "inside", None, None)
    with app.test_request_context(headers={"X-Request-ID": "stamp-7"}):
        app.preprocess_request()
        RequestIdFilter().filter(record)
    outside = logging.LogRecord("service.test", logging.WARNING, __file__, 1, "outside", None, None)
    RequestIdFilter().filter(outside)

    assert json.loads(JSONFormatter().format(record))["request_id"] == "stamp-7"
    assert "request_id" not in json.loads(JSONFormatter().format(outside))


# Never logged


def png_with_text(text: str) -> bytes:
    metadata = PngInfo()
    metadata.add_text("Comment", text)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buffer, "PNG", pnginfo=metadata)
    return buffer.getvalue()


def upload(client: FlaskClient, token: str, content: bytes, filename: str) -> dict:
    return send_picture(client, UPDATE_USER, content, token=token, filename=filename).get_json()


def test_passwords_tokens_and_uploads_never_reach_the_log(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    gql = GraphQL(client)
    # Every statement sent to the database, with its parameters, is captured too.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="sqlalchemy.engine"):
        registered = gql.register("ali")
        login = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]
        refreshed = gql(REFRESH, {"refreshToken": login["refreshToken"]})["refreshAccessToken"]
        changed = gql(
            CHANGE_PASSWORD,
            {"oldPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD},
            token=refreshed["token"],
        )["changePassword"]
        failed = gql.error(TOKEN_AUTH, {"username": "ali", "password": "my secret guess"})
        stored = upload(client, changed["token"], png_with_text(UPLOAD_MARKER), "photo.png")
        refused = upload(client, changed["token"], f"{UPLOAD_MARKER}\n".encode() * 50, "notes.png")
    secrets = [STRONG_PASSWORD, NEW_PASSWORD, "my secret guess", UPLOAD_MARKER]
    for tokens in (registered, login, refreshed, changed):
        secrets += [tokens["token"], tokens["refreshToken"]]

    assert failed["extensions"]["code"] == "INVALID_CREDENTIALS"
    assert stored["data"]["updateUser"]["user"]["profilePicture"]
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert len(request_records(caplog)) == 7
    assert "INSERT INTO refresh_tokens" in caplog.text, "the capture missed the database's log"
    formatter = JSONFormatter()
    everything = caplog.text + "\n".join(formatter.format(record) for record in caplog.records)
    for secret in secrets:
        assert secret not in everything
