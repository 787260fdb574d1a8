"""The identity check's one query, compiled once and run on the driver's cursor, reads what the ORM reads.

It runs on a connection each thread keeps; a connection the database dropped
(PostgreSQL restarted, an idle connection killed) is replaced without the
client noticing.
"""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import GraphQL, configured_app
from flask import Flask

from service.auth.identity import CALLER_QUERY, CompiledQuery, caller_row
from service.extensions import db

WHOAMI = "{ whoami { id username email isStaff isActive dateJoined lastLogin } }"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory) as app:
        yield app


@pytest.fixture(scope="module")
def gql(app: Flask) -> GraphQL:
    return GraphQL(app.test_client())


@pytest.fixture(scope="module")
def account(gql: GraphQL) -> dict:
    return gql.register("reader")


def test_the_compiled_query_reads_the_same_row_as_sqlalchemy(app: Flask, account: dict) -> None:
    parameters = {"user_id": int(account["payload"]["sub"]), "session_id": account["payload"]["sid"]}
    with app.app_context():
        expected = tuple(db.session.execute(CALLER_QUERY, parameters).one())
        with db.engine.connect() as connection:
            query = CompiledQuery(CALLER_QUERY, db.engine)
            row = query.first(connection, parameters)
            missing = query.first(connection, {**parameters, "session_id": 0})

    assert row == expected
    # Dates come back aware and booleans as booleans, on SQLite as on PostgreSQL.
    assert row[CALLER_QUERY.selected_columns.keys().index("date_joined")].tzinfo is not None
    assert row[CALLER_QUERY.selected_columns.keys().index("is_active")] is True
    assert missing is None


def test_whoami_answers_the_accounts_fields_through_the_compiled_query(gql: GraphQL, account: dict) -> None:
    me = gql(WHOAMI, token=account["token"])["whoami"]

    assert me["username"] == "reader" and me["isActive"] is True and me["isStaff"] is False
    assert me["dateJoined"] == account["user"]["dateJoined"]


def test_a_driver_error_is_raised_as_sqlalchemys_error(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        broken = sa.select(sa.text("nonexistent_column")).select_from(sa.table("users"))
        query = CompiledQuery(broken, db.engine)
        with pytest.raises(sa.exc.DBAPIError) as raised:
            query.first(connection, {})

    assert raised.value.connection_invalidated is False
    assert "nonexistent_column" in str(raised.value)


def test_a_connection_the_database_dropped_is_replaced_and_the_request_succeeds(
    app: Flask, gql: GraphQL, account: dict
) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no server to drop a connection")
        parameters = {"user_id": int(account["payload"]["sub"]), "session_id": account["payload"]["sid"]}
        assert caller_row(parameters) is not None  # this thread now keeps a connection
        with db.engine.connect() as admin:
            killed = admin.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        assert killed >= 1

        assert caller_row(parameters) is not None

    assert gql(WHOAMI, token=account["token"])["whoami"]["username"] == "reader"
