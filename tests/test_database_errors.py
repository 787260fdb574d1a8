"""Database errors never carry their statements' parameters (password hashes, token digests) outside debug."""

import json
import logging
import sys

import pytest
import sqlalchemy as sa
from conftest import make_app
from sqlalchemy.exc import IntegrityError

from service.extensions import db
from service.logs import JSONFormatter

SECRET_VALUE = "argon2id-hash-that-must-not-leak"


def failed_insert(app) -> IntegrityError:
    """The error an INSERT breaking a NOT NULL rule raises, with a secret among its values."""
    with app.app_context():
        try:
            db.session.execute(
                sa.text("INSERT INTO users (username, password_hash) VALUES (:name, :hash)"),
                {"name": "leaky", "hash": SECRET_VALUE},
            )
            db.session.commit()
        except IntegrityError as error:
            db.session.rollback()
            return error
        finally:
            db.engine.dispose()
    pytest.fail("the INSERT was expected to fail")


def test_a_database_error_hides_its_parameters(tmp_path):
    message = str(failed_insert(make_app(tmp_path)))

    assert "INSERT INTO users" in message
    assert "[SQL parameters hidden due to hide_parameters=True]" in message
    assert "[parameters:" not in message


def test_debug_mode_shows_the_parameters_for_the_developer(tmp_path):
    message = str(failed_insert(make_app(tmp_path, DEBUG=True)))

    assert "[parameters:" in message and SECRET_VALUE in message


def test_a_logged_database_error_carries_neither_parameters_nor_the_rows_values(tmp_path):
    """PostgreSQL adds "Failing row contains (...)" to its message; the log line leaves it out."""
    error = failed_insert(make_app(tmp_path))
    record = logging.LogRecord(
        "service.graphql", logging.ERROR, __file__, 1, "Unexpected error", None, (type(error), error, None)
    )
    try:
        raise error
    except IntegrityError:
        record.exc_info = sys.exc_info()

    line = json.loads(JSONFormatter().format(record))

    assert SECRET_VALUE not in line["traceback"]
    assert "INSERT INTO users" in line["traceback"]
    assert "IntegrityError" in line["traceback"]
