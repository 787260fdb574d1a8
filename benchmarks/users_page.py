"""How the staff ``users`` query scales: pages, searches and counts over a large table.

    .venv/bin/python benchmarks/users_page.py [--users 100000] [--repeat 20]

Builds a temporary migrated database (an SQLite file in a temporary folder; or, when
DATABASE_URL names a PostgreSQL server, a temporary database on it, dropped at the end),
inserts the users in bulk with one precomputed password hash, then times the query through
the Flask test client as a staff member: the first page, a page deep in the table, two
searches, and totalCount. It ends with the database's plan for each page query, to show
that pages are read through the primary key.
"""

import argparse
import base64
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import flask_migrate
import sqlalchemy as sa
from flask import Flask

from service import create_app
from service.extensions import db
from service.models import User, utcnow

PASSWORD = "benchmark staff password 4711"
FIRST_NAMES = ["Anna", "Boris", "Дмитрий", "Elena", "Farid", "Greta", "Hiro", "Ines"]
PAGE = """
query Page($first: Int, $after: String, $search: String) {
  users(first: $first, after: $after, search: $search) {
    edges { cursor node { id username email firstName } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
COUNT = "query Count($search: String) { users(first: 1, search: $search) { totalCount } }"
TOKEN_AUTH = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"
INSERT_BATCH = 10_000


@contextmanager
def temporary_database(folder: Path) -> Iterator[str]:
    """A new empty database: on the PostgreSQL server DATABASE_URL names, else an SQLite file."""
    server = os.environ.get("DATABASE_URL")
    if not server or sa.make_url(server).get_backend_name() != "postgresql":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"bench_users_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def build_app(folder: Path, database_url: str) -> Flask:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "INSTANCE_PATH": str(folder / "instance"),
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1,
            "GRAPHQL_EXPLORER": "off",
        }
    )
    logging.disable(logging.INFO)  # the migrations' progress lines
    try:
        with app.app_context():
            flask_migrate.upgrade()
    finally:
        logging.disable(logging.NOTSET)
    # One JSON line per request would bury the results.
    logging.getLogger("service.requests").setLevel(logging.WARNING)
    return app


def user_rows(count: int, password_hash: str) -> Iterator[dict[str, Any]]:
    """The staff member first, then ``count - 1`` users."""
    now = utcnow()
    yield {
        "username": "bench_staff",
        "username_key": "bench_staff",
        "username_skeleton": "bench_staff",
        "email": "staff@example.com",
        "email_key": "staff@example.com",
        "password_hash": password_hash,
        "first_name": "",
        "last_name": "",
        "is_staff": True,
        "is_superuser": False,
        "is_active": True,
        "date_joined": now,
    }
    for number in range(1, count):
        username = f"user{number:07d}"
        yield {
            "username": username,
            "username_key": username,
            "username_skeleton": username,
            "email": f"{username}@example.com",
            "email_key": f"{username}@example.com",
            "password_hash": password_hash,
            "first_name": FIRST_NAMES[number % len(FIRST_NAMES)],
            "last_name": f"Family{number % 997}",
            "is_staff": False,
            "is_superuser": False,
            "is_active": True,
            "date_joined": now,
        }


def insert_users(app: Flask, count: int) -> float:
    """Insert ``count`` users with Core executemany in batches; the seconds it took."""
    started = time.perf_counter()
    with app.app_context():
        password_hash = app.extensions["auth"].passwords.hash(PASSWORD)
        rows = user_rows(count, password_hash)
        with db.engine.begin() as connection:
            while batch := list(islice(rows, INSERT_BATCH)):
                connection.execute(sa.insert(User.__table__), batch)
            connection.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


class Client:
    """Posts operations as the staff member and records the SQL they run when asked."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.statements: list[tuple[str, Any]] | None = None
        with app.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", self._record)
        self.token = ""
        self.token = self.data(TOKEN_AUTH, {"u": "bench_staff", "p": PASSWORD})["tokenAuth"]["token"]

    def _record(self, _connection, _cursor, statement, parameters, _context, _executemany) -> None:
        if self.statements is not None:
            self.statements.append((statement, parameters))

    def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"JWT {self.token}"} if self.token else {}
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.get_json()
        if response.status_code != 200 or "errors" in body:
            raise SystemExit(f"The query failed: {response.status_code} {body}")
        return body["data"]

    def users_statement(self, query: str, variables: dict[str, Any]) -> tuple[str, Any]:
        """The one statement on the users table an operation runs (the token check aside)."""
        self.statements = []
        try:
            self.data(query, variables)
        finally:
            recorded, self.statements = self.statements, None
        (found,) = [
            (statement, parameters)
            for statement, parameters in recorded
            if "FROM users" in statement and "login_sessions" not in statement
        ]
        return found


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    run()  # warm the caches and the statement cache first
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def cursor_for(user_id: int) -> str:
    """A cursor as the service gives them out (checked against the page it returns)."""
    return base64.urlsafe_b64encode(f"user:{user_id}".encode()).decode()


def query_plan(app: Flask, statement: str, parameters: Any) -> list[str]:
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [row[3] for row in rows]
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return [row[0] for row in rows]


def plan_summary(plan: list[str]) -> str:
    """Whether the plan reads users in primary-key order without sorting, and seeks by it."""
    text = "\n".join(plan)
    sorts = "TEMP B-TREE" in text or any(line.lstrip("-> ").startswith("Sort") for line in plan)
    seeks = "USING INTEGER PRIMARY KEY" in text or "Index Cond: (id >" in text
    walks = "pk_users" in text or text.startswith("SCAN users") or seeks
    order = "primary-key order, no sort" if walks and not sorts else "SORTS or does not use the primary key"
    return f"{order}; {'seeks to the cursor by primary key' if seeks else 'starts at the first user'}"


def dispose_engine(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000, help="how many users (default 100000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (default 20)")
    options = parser.parse_args()
    if options.users < 60:
        parser.error("--users must be at least 60")

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="users-page-")))
        app = build_app(folder, stack.enter_context(temporary_database(folder)))
        stack.callback(dispose_engine, app)
        seconds = insert_users(app, options.users)
        client = Client(app)
        with app.app_context():
            dialect = db.engine.dialect.name
            version = db.session.scalar(
                sa.text("SELECT sqlite_version()" if dialect == "sqlite" else "SHOW server_version")
            )
            last_id = db.session.scalar(sa.select(sa.func.max(User.id)))
        deep_after = last_id - 50
        rare = f"user{options.users - 7:07d}"
        named_dmitry = sum(1 for number in range(1, options.users) if number % len(FIRST_NAMES) == 2)

        print(f"users page benchmark: {options.users:,} users on {dialect} {version}")
        print(f"inserted in {seconds:.1f} s; {options.repeat} timed runs per query, 20 users per page")
        scenarios: list[tuple[str, str, dict[str, Any], Callable[[dict], None]]] = [
            ("first page", PAGE, {}, lambda d: expect(d["users"]["edges"][0]["node"]["id"] == "1")),
            (
                f"deep page (after id {deep_after:,})",
                PAGE,
                {"after": cursor_for(deep_after)},
                lambda d: expect(d["users"]["edges"][0]["node"]["id"] == str(deep_after + 1)),
            ),
            (
                'search page ("дмит", 1 user in 8)',
                PAGE,
                {"search": "дмит"},
                lambda d: expect(len(d["users"]["edges"]) == min(20, named_dmitry)),
            ),
            (
                f'search page ("{rare}", 1 match near the end)',
                PAGE,
                {"search": rare},
                lambda d: expect(len(d["users"]["edges"]) == 1),
            ),
            ("totalCount", COUNT, {}, lambda d: expect(d["users"]["totalCount"] == options.users)),
            (
                'totalCount of the "дмит" search',
                COUNT,
                {"search": "дмит"},
                lambda d: expect(d["users"]["totalCount"] == named_dmitry),
            ),
        ]
        print(f"\n{'query':<52} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
        for label, query, variables, check in scenarios:
            check(client.data(query, variables))
            times = timed(
                lambda query=query, variables=variables: client.data(query, variables), options.repeat
            )
            print(f"{label:<52} {statistics.median(times):>10.2f} {min(times):>8.2f} {max(times):>8.2f}")

        explain = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN"
        for label, query, variables, _ in scenarios[:3]:
            statement, parameters = client.users_statement(query, variables)
            plan = query_plan(app, statement, parameters)
            print(f"\n{explain} of the {label} query ({plan_summary(plan)}):")
            print("  " + " ".join(statement.split()))
            for line in plan:
                print(f"    {line}")


def expect(condition: bool) -> None:
    if not condition:
        raise SystemExit("A query returned something other than expected.")


if __name__ == "__main__":
    main()
