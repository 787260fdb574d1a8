"""Upgrading a database that already holds accounts and sessions to the hardening migration (0004)."""

from collections.abc import Iterator
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from conftest import GraphQL, app_settings
from flask import Flask

from service import create_app
from service.auth.validation import username_skeleton
from service.extensions import db

OLD_USERS = [
    (1, "ali", "ali@example.com"),
    (2, "Дмитрий", "dima@example.com"),
    (3, "zahra", "zahra@example.com"),
]


@pytest.fixture
def app_at_0003(tmp_path: Path) -> Iterator[Flask]:
    """An app whose database was migrated to 0003 and holds three users, each with a session."""
    app = create_app(app_settings(tmp_path))
    with app.app_context():
        flask_migrate.upgrade(revision="0003")
        for user_id, username, email in OLD_USERS:
            db.session.execute(
                sa.text(
                    "INSERT INTO users (id, username, username_key, email, email_key, password_hash,"
                    " first_name, last_name, is_staff, is_superuser, is_active, date_joined)"
                    " VALUES (:id, :username, :key, :email, :email, 'x', '', '', false, false, true,"
                    " '2026-11-01 00:00:00')"
                ),
                {"id": user_id, "username": username, "key": username.casefold(), "email": email},
            )
            db.session.execute(
                sa.text(
                    "INSERT INTO login_sessions (id, user_id, created_at, user_agent, ip_address)"
                    " VALUES (:id, :id, '2026-11-01 00:00:00', '', '')"
                ),
                {"id": user_id},
            )
        if db.engine.dialect.name == "postgresql":
            # Rows inserted with explicit ids leave the sequences behind; a real database's are not.
            for table in ("users", "login_sessions"):
                db.session.execute(sa.text(f"SELECT setval('{table}_id_seq', 3)"))
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_upgrade_keeps_every_row_and_fills_the_new_columns(app_at_0003: Flask) -> None:
    with app_at_0003.app_context():
        flask_migrate.upgrade()
        users = db.session.execute(
            sa.text("SELECT id, username, username_skeleton FROM users ORDER BY id")
        ).all()
        keys = db.session.scalars(sa.text("SELECT session_key FROM login_sessions ORDER BY id")).all()

    assert [(row.id, row.username) for row in users] == [(user_id, name) for user_id, name, _ in OLD_USERS]
    assert [row.username_skeleton for row in users] == [username_skeleton(name) for _, name, _ in OLD_USERS]
    assert len(keys) == 3 and len(set(keys)) == 3
    assert all(len(key) == 32 for key in keys)


def test_after_the_upgrade_a_deleted_users_id_is_never_handed_out_again(app_at_0003: Flask) -> None:
    with app_at_0003.app_context():
        flask_migrate.upgrade()
        db.session.execute(sa.text("DELETE FROM users WHERE id = 3"))
        db.session.commit()

    created = GraphQL(app_at_0003.test_client()).register("newcomer")

    assert int(created["user"]["id"]) > 3
    assert created["payload"]["sid"] > 3
