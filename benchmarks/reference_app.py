"""The reference for ``benchmarks/load.py``: bare Flask doing the service's essential work, no GraphQL.

    REFERENCE_DATABASE=/tmp/ref.sqlite3 REFERENCE_SECRET_KEY=... \\
        .venv/bin/gunicorn --chdir benchmarks -w 1 -k sync --preload reference_app:app

One view, ``POST /graphql``, takes the same JSON bodies as the service and picks the work by
``operationName`` (a dict look-up; it parses no GraphQL):

- ``Typename``: ``{"data": {"__typename": "Query"}}``.
- ``Whoami`` and ``User``: read ``Authorization: JWT <token>``, check the HS256 token with PyJWT
  (signature, expiry, required claims), read the user by primary key, answer its id, username
  and email. ``User`` answers only the caller's own id, as the service does for non-staff.
- ``Verify``: check the token in ``variables.token``, then that its session row (by primary key)
  is live and is the one the token names; answer the payload.
- ``Login``: find the user by username, verify the password with argon2-cffi's
  ``PasswordHasher()`` (RFC 9106 low-memory defaults, the service's), insert a session row and a
  refresh token's SHA-256 digest, sign an access token; answer token, refreshToken, payload.

The database is the plain ``sqlite3`` module on one connection per worker thread, opened on
first use and kept (WAL, foreign keys, a busy timeout, as the service sets up its own): the
leanest honest code a Flask developer would write, with no ORM and no pool to pay for.
Its own SQLite file is made by ``init_database``; the bare schema below is all it needs.
Not imported by the service or the tests.
"""

import hashlib
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, request

ALGORITHM = "HS256"
ACCESS_LIFETIME = 3600
REFRESH_LIFETIME = 7 * 24 * 3600
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "skey", "username", "origIat"]
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS login_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL
);
"""

Answer = dict[str, Any]


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=15)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA journal_mode = WAL")
    return connection


def init_database(
    path: str, users: Iterable[tuple[int, str, str, str]], sessions: Iterable[tuple[int, int, str, int]]
) -> None:
    """Create the schema and insert users ``(id, username, email, password_hash)`` and sessions
    ``(id, user_id, session_key, created_at_unix)``."""
    connection = _connect(path)
    try:
        connection.executescript(SCHEMA)
        with connection:
            connection.execute("BEGIN")
            connection.executemany(
                "INSERT INTO users (id, username, email, password_hash) VALUES (?, ?, ?, ?)", users
            )
            connection.executemany(
                "INSERT INTO login_sessions (id, user_id, session_key, created_at) VALUES (?, ?, ?, ?)",
                sessions,
            )
    finally:
        connection.close()


def _error(field: str, code: str, message: str) -> Answer:
    return {
        "data": {field: None},
        "errors": [{"message": message, "path": [field], "extensions": {"code": code}}],
    }


def create_app(database: str, secret_key: str) -> Flask:
    """The reference app on the SQLite file ``database``, signing with ``secret_key``."""
    app = Flask(__name__)
    key = secret_key.encode()
    hasher = PasswordHasher()
    local = threading.local()

    def db() -> sqlite3.Connection:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = _connect(database)
        return connection

    def decode(token: str) -> dict[str, Any] | None:
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS})
        except jwt.InvalidTokenError:
            return None

    def caller_claims() -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() not in ("jwt", "bearer") or not token:
            return None
        return decode(token.strip())

    def user_fields(user_id: int) -> dict[str, str] | None:
        row = (
            db()
            .execute("SELECT id, username, email FROM users WHERE id = ? AND is_active", (user_id,))
            .fetchone()
        )
        return None if row is None else {"id": str(row[0]), "username": row[1], "email": row[2]}

    def typename(body: Answer) -> Answer:
        return {"data": {"__typename": "Query"}}

    def whoami(body: Answer) -> Answer:
        claims = caller_claims()
        user = user_fields(int(claims["sub"])) if claims else None
        if user is None:
            return _error("whoami", "UNAUTHENTICATED", "You must be signed in to do this.")
        return {"data": {"whoami": user}}

    def user(body: Answer) -> Answer:
        claims = caller_claims()
        if claims is None:
            return _error("user", "UNAUTHENTICATED", "You must be signed in to do this.")
        if str((body.get("variables") or {}).get("id")) != claims["sub"]:
            return _error("user", "FORBIDDEN", "You may not read this account.")
        return {"data": {"user": user_fields(int(claims["sub"]))}}

    def verify(body: Answer) -> Answer:
        claims = decode(str((body.get("variables") or {}).get("token", "")))
        if claims is None:
            return _error("verifyToken", "TOKEN_INVALID", "The token is not valid.")
        row = (
            db()
            .execute(
                "SELECT user_id, session_key, created_at, revoked_at FROM login_sessions WHERE id = ?",
                (claims["sid"],),
            )
            .fetchone()
        )
        if (
            row is None
            or row[3] is not None
            or (str(row[0]), row[1], row[2])
            != (
                claims["sub"],
                claims["skey"],
                claims["origIat"],
            )
        ):
            return _error("verifyToken", "TOKEN_REVOKED", "The token has been revoked.")
        return {"data": {"verifyToken": {"payload": claims}}}

    def login(body: Answer) -> Answer:
        variables = body.get("variables") or {}
        username, password = str(variables.get("username", "")), str(variables.get("password", ""))
        connection = db()
        row = connection.execute(
            "SELECT id, username, password_hash FROM users WHERE username = ? AND is_active", (username,)
        ).fetchone()
        try:
            matches = row is not None and hasher.verify(row[2], password)
        except (VerificationError, InvalidHashError):
            matches = False
        if not matches:
            return _error("tokenAuth", "INVALID_CREDENTIALS", "The username or password is incorrect.")
        now = int(time.time())
        session_key, refresh_token = secrets.token_hex(16), secrets.token_urlsafe(32)
        with connection:
            connection.execute("BEGIN")
            session_id = connection.execute(
                "INSERT INTO login_sessions (user_id, session_key, created_at) VALUES (?, ?, ?)",
                (row[0], session_key, now),
            ).lastrowid
            connection.execute(
                "INSERT INTO refresh_tokens (session_id, token_hash, expires_at) VALUES (?, ?, ?)",
                (session_id, hashlib.sha256(refresh_token.encode()).hexdigest(), now + REFRESH_LIFETIME),
            )
        payload = {
            "username": row[1],
            "exp": now + ACCESS_LIFETIME,
            "origIat": now,
            "iat": now,
            "sub": str(row[0]),
            "sid": session_id,
            "skey": session_key,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(payload, key, algorithm=ALGORITHM)
        return {"data": {"tokenAuth": {"token": token, "refreshToken": refresh_token, "payload": payload}}}

    operations: dict[str, Callable[[Answer], Answer]] = {
        "Typename": typename,
        "Whoami": whoami,
        "User": user,
        "Verify": verify,
        "Login": login,
    }

    @app.post("/graphql")
    def graphql() -> tuple[Answer, int]:
        body = request.get_json(silent=True)
        operation = operations.get(body.get("operationName", "")) if isinstance(body, dict) else None
        if operation is None:
            return {"errors": [{"message": "Unknown operation."}]}, 400
        return operation(body), 200

    return app


if os.environ.get("REFERENCE_DATABASE"):  # under gunicorn (reference_app:app)
    app = create_app(os.environ["REFERENCE_DATABASE"], os.environ["REFERENCE_SECRET_KEY"])
