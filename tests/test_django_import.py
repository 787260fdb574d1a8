"""Moving from the old Django service: ``flask users import-django`` on a database Django made.

The old database and media folder are tests/fixtures/django/ (regenerated with Django itself by
make_fixture.py there). Its refresh tokens' times are moved forward to now on a copy, so that the
live ones are live. Everything is checked through HTTP, as the old clients will see it.
"""

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from conftest import LEGACY, POSTGRES, STRONG_PASSWORD, GraphQL, configured_app, count_rows, make_app
from flask import Flask
from flask.testing import FlaskClient

from service.config import ConfigError, settings_from_env
from service.extensions import db
from service.models import User

FIXTURE = Path(__file__).parent / "fixtures" / "django"
OLD = json.loads((FIXTURE / "accounts.json").read_text())
PASSWORDS = OLD["passwords"]
OLD_TOKENS = OLD["refresh_tokens"]
WHOAMI = "query { whoami { id username } }"
USER = """
query User($id: ID!) {
  user(id: $id) {
    id username email firstName lastName isStaff isSuperuser isActive dateJoined lastLogin
    gender position department profilePicture profilePictureUrl
  }
}
"""


def old_database(folder: Path) -> str:
    """A copy of the old database whose refresh tokens were issued as long before now as before
    the fixture was made."""
    copy = folder / "old-service.sqlite3"
    shutil.copyfile(FIXTURE / "old-service.sqlite3", copy)
    shift = timedelta(seconds=time.time() - OLD["generated_at"])
    with sqlite3.connect(copy) as connection:
        rows = connection.execute("SELECT id, created FROM refresh_token_refreshtoken").fetchall()
        for token_id, created in rows:
            moved = datetime.fromisoformat(created) + shift
            connection.execute(
                "UPDATE refresh_token_refreshtoken SET created = ? WHERE id = ?",
                (moved.isoformat(sep=" "), token_id),
            )
    return f"sqlite:///{copy}"


def run_import(app: Flask, database_url: str, *extra: str) -> tuple[int, str]:
    args = ["users", "import-django", "--database-url", database_url, "--media-root", str(FIXTURE / "media")]
    result = app.test_cli_runner().invoke(args=[*args, *extra])
    return result.exit_code, result.output


def legacy_token(username: str, *, key: str = OLD["secret_key"], exp: int | None = None, iat=None) -> str:
    """An access token as django-graphql-jwt signed them: HS256 ``{username, exp, origIat}``."""
    now = int(time.time())
    payload = {"username": username, "exp": exp or now + 300, "origIat": iat or now - 60}
    return jwt.encode(payload, key, algorithm="HS256")


def legacy_settings(until: int) -> dict:
    return {"LEGACY_JWT_SECRET_KEY": OLD["secret_key"], "LEGACY_JWT_ACCEPT_UNTIL": until}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, str]]:
    """An empty service with the old data imported once: the app, the old database, the output."""
    with configured_app(tmp_path_factory, **legacy_settings(int(time.time()) + 3600)) as app:
        database_url = old_database(tmp_path_factory.mktemp("old"))
        exit_code, output = run_import(app, database_url)
        assert exit_code == 0, output
        yield app, database_url, output


@pytest.fixture
def app(imported: tuple[Flask, str, str]) -> Flask:
    return imported[0]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def log_in(gql: GraphQL, username: str, password: str | None = None) -> dict:
    variables = {"username": username, "password": password or PASSWORDS[username]}
    return gql(LEGACY["TokenAuth"], variables)["tokenAuth"]


def stored_hash(app: Flask, username: str) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(User.password_hash).where(User.username == username))


def test_import_reports_what_it_did_and_why(imported: tuple[Flask, str, str]) -> None:
    output = imported[2]
    assert "Users: 9 imported, 0 updated, 0 unchanged. Pictures: 2 imported, 2 skipped." in output
    assert "user 9 'lostpicture': profile_pics/gone.jpg is missing" in output
    assert "user 10 'brokenpicture' (profile_pics/broken.jpg): The image is truncated or corrupt." in output
    assert "Sessions: 3 imported, 0 already here, 1 skipped (expired)" in output
    assert "1 skipped (revoked)" in output


def test_ids_profiles_and_pictures_are_kept(gql: GraphQL, client: FlaskClient) -> None:
    token = log_in(gql, "boss")["token"]
    assert gql(WHOAMI, token=token)["whoami"] == {"id": "1", "username": "boss"}
    boss = gql(USER, {"id": "1"}, token=token)["user"]
    assert boss["email"] == "boss@example.com"
    assert (boss["firstName"], boss["lastName"]) == ("Maryam", "Karimi")
    assert (boss["isStaff"], boss["isSuperuser"], boss["isActive"]) == (True, True, True)
    assert (boss["gender"], boss["position"], boss["department"]) == ("FEMALE", "CTO", "Tech")
    assert boss["profilePicture"].startswith("profile_pics/") and boss["profilePicture"].endswith(".jpg")
    picture = client.get(boss["profilePictureUrl"])
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    sleeper = gql(USER, {"id": "7"}, token=token)["user"]
    assert (sleeper["username"], sleeper["isActive"], sleeper["isStaff"]) == ("sleeper", False, False)
    assert gql(USER, {"id": "5"}, token=token)["user"]["department"] == "Sales"
    assert gql(USER, {"id": "9"}, token=token)["user"]["profilePicture"] is None
    assert gql(USER, {"id": "4"}, token=token)["user"] is None  # deleted in the old service


@pytest.mark.parametrize("username", ["sha1user", "argonuser", "bcryptuser", "scryptuser", "lostpicture"])
def test_old_passwords_log_in_and_are_upgraded_to_argon2id(app: Flask, gql: GraphQL, username: str) -> None:
    assert not stored_hash(app, username).startswith("$argon2id$")
    log_in(gql, username)
    assert stored_hash(app, username).startswith("$argon2id$")
    log_in(gql, username)  # and the new hash works


def test_wrong_unusable_and_inactive_passwords_are_refused(app: Flask, gql: GraphQL) -> None:
    unusable = stored_hash(app, "nopassword")
    assert unusable.startswith("!")
    for username, password in [
        ("brokenpicture", "not the password"),
        ("nopassword", unusable),
        ("nopassword", ""),
        ("sleeper", PASSWORDS["sleeper"]),
    ]:
        error = gql.error(LEGACY["TokenAuth"], {"username": username, "password": password})
        assert error["extensions"]["code"] in ("INVALID_CREDENTIALS", "BAD_USER_INPUT")
    assert stored_hash(app, "brokenpicture").startswith("pbkdf2_sha256$")
    assert count_rows(app, "rate_events") > 0  # the failures counted against the login limits


def test_an_old_refresh_token_rotates_into_a_session_of_its_own(gql: GraphQL) -> None:
    old_token = OLD_TOKENS["boss-laptop"]
    pair = gql(LEGACY["RefreshAccessToken"], {"refreshToken": old_token})["refreshAccessToken"]
    assert pair["payload"]["username"] == "boss" and pair["refreshToken"] != OLD_TOKENS["boss-laptop"]
    assert gql(WHOAMI, token=pair["token"])["whoami"]["id"] == "1"
    again = gql(LEGACY["RefreshToken"], {"refreshToken": pair["refreshToken"]})["refreshToken"]
    assert again["payload"]["sid"] == pair["payload"]["sid"]
    reused = gql.error(LEGACY["RefreshToken"], {"refreshToken": OLD_TOKENS["boss-laptop"]})
    assert reused["extensions"]["code"] == "TOKEN_REVOKED"  # reuse is theft, as for any token


@pytest.mark.parametrize("label", ["boss-revoked", "expired", "sleeper"])
def test_revoked_expired_and_inactive_old_refresh_tokens_were_not_imported(gql: GraphQL, label: str) -> None:
    error = gql.error(LEGACY["RefreshToken"], {"refreshToken": OLD_TOKENS[label]})
    assert error["extensions"]["code"] == "TOKEN_INVALID"


def test_an_old_access_token_works_in_the_window(gql: GraphQL) -> None:
    assert gql(WHOAMI, token=OLD["access_token"])["whoami"] == {"id": "1", "username": "boss"}
    payload = gql(LEGACY["VerifyToken"], {"token": OLD["access_token"]})["verifyToken"]["payload"]
    assert payload["username"] == "boss"


@pytest.mark.parametrize(
    "token",
    [
        legacy_token("boss", key="some-other-key-of-at-least-thirty-two-bytes"),
        legacy_token("boss", exp=int(time.time()) - 10),
        legacy_token("nobody"),
        legacy_token("sleeper"),
    ],
    ids=["other key", "expired", "unknown user", "inactive user"],
)
def test_old_access_tokens_are_refused_when_not_good(gql: GraphQL, token: str) -> None:
    error = gql.error(LEGACY["VerifyToken"], {"token": token})
    assert error["extensions"]["code"] in ("TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REVOKED")
    _, body = gql.post(WHOAMI, token=token)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_an_old_access_token_is_refused_after_logging_out_everywhere(gql: GraphQL) -> None:
    token = legacy_token("scryptuser", iat=int(time.time()) - 120)
    assert gql(WHOAMI, token=token)["whoami"]["username"] == "scryptuser"
    gql("mutation { revokeAllTokens { revoked } }", token=log_in(gql, "scryptuser")["token"])
    _, body = gql.post(WHOAMI, token=token)
    assert body["errors"][0]["extensions"]["reason"] == "revoked"


def test_old_access_tokens_are_refused_outside_the_window(
    imported: tuple[Flask, str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    database = imported[0].config["SQLALCHEMY_DATABASE_URI"]
    for settings in (legacy_settings(int(time.time()) - 1), {}):
        late = make_app(tmp_path_factory.mktemp("late"), SQLALCHEMY_DATABASE_URI=database, **settings)
        _, body = GraphQL(late.test_client()).post(WHOAMI, token=OLD["access_token"])
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        with late.app_context():
            db.engine.dispose()


def test_a_second_import_changes_nothing(imported: tuple[Flask, str, str]) -> None:
    app, database_url, _ = imported

    def snapshot() -> list:
        with app.app_context():
            return [
                db.session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
                for table in ("users", "login_sessions", "refresh_tokens")
            ]

    before = snapshot()
    exit_code, output = run_import(app, database_url)
    assert exit_code == 0, output
    assert "Users: 0 imported, 0 updated, 9 unchanged." in output
    assert "Sessions: 0 imported, 3 already here" in output
    assert snapshot() == before


def test_new_accounts_get_ids_after_the_imported_ones(gql: GraphQL) -> None:
    assert gql.register("newcomer")["user"]["id"] == "11"


def test_a_dry_run_writes_nothing_and_conflicts_stop_the_import(
    imported: tuple[Flask, str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    database_url = imported[1]
    with configured_app(tmp_path_factory) as app:
        exit_code, output = run_import(app, database_url, "--dry-run")
        assert exit_code == 0, output
        assert "Dry run, nothing written. Users: 9 imported" in output
        assert count_rows(app, "users") == 0
        GraphQL(app.test_client()).register("sha1user", "someone@example.com", STRONG_PASSWORD)
        exit_code, output = run_import(app, database_url)
        assert exit_code == 1
        assert "user 2 'sha1user': its username or email is account 1 'sha1user' here" in output
        assert count_rows(app, "users") == 1


@pytest.mark.skipif(POSTGRES is None, reason="reading a PostgreSQL old database needs TEST_DATABASE_URL")
def test_the_old_database_can_be_postgresql(
    imported: tuple[Flask, str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert POSTGRES is not None
    old_url = POSTGRES.create()
    source, target = sa.create_engine(imported[1]), sa.create_engine(old_url)
    metadata = sa.MetaData()
    metadata.reflect(source, only=["accounts_user", "refresh_token_refreshtoken"])
    for table in metadata.tables.values():
        table.indexes.clear()  # SQLite's index names need not be unique across tables
        for column in table.columns:
            column.type = column.type.as_generic()
            if isinstance(column.type, sa.DateTime):
                column.type = sa.DateTime(timezone=True)  # as Django makes them on PostgreSQL
    metadata.create_all(target)
    with source.connect() as reading, target.begin() as writing:
        for table in metadata.sorted_tables:
            rows = [dict(row) for row in reading.execute(sa.select(table)).mappings()]
            writing.execute(table.insert(), rows)
    source.dispose()
    target.dispose()
    with configured_app(tmp_path_factory) as app:
        exit_code, output = run_import(app, old_url)
        assert exit_code == 0, output
        assert "Users: 9 imported" in output and "Sessions: 3 imported" in output
        log_in(GraphQL(app.test_client()), "bcryptuser")


@pytest.mark.parametrize(
    "env",
    [
        {"LEGACY_JWT_SECRET_KEY": "old-key"},
        {"LEGACY_JWT_ACCEPT_UNTIL": "1800000000"},
        {"LEGACY_JWT_SECRET_KEY": "old-key", "LEGACY_JWT_ACCEPT_UNTIL": "in an hour"},
        {"LEGACY_JWT_SECRET_KEY": "old-key", "LEGACY_JWT_ACCEPT_UNTIL": "-5"},
    ],
)
def test_the_legacy_settings_come_together_and_name_a_unix_time(env: dict) -> None:
    with pytest.raises(ConfigError, match="LEGACY_JWT"):
        settings_from_env(env)
