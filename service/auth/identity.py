"""Who an access token (from the ``Authorization`` header or an argument) says the caller is."""

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ..errors import TokenExpired, TokenInvalid, TokenRevoked
from ..extensions import db
from ..models import LoginSession, User
from .legacy_tokens import decode_legacy_access_token
from .tokens import TokenSettings, decode_access_token, unix_time
from .validation import lookup_key

SCHEMES = ("jwt", "bearer")


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in user as one row read it: what reads need, without an ORM object.

    Resolvers that change the account load the ``User`` itself
    (``GraphQLContext.require_account``); everything else reads this.
    """

    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_staff: bool
    is_superuser: bool
    is_active: bool
    date_joined: datetime
    last_login: datetime | None
    gender: str | None
    position: str
    department: str
    profile_picture: str | None
    language: str
    is_verified: bool

    @property
    def is_privileged(self) -> bool:
        """Staff and superusers may read any account."""
        return self.is_staff or self.is_superuser


CALLER_COLUMNS = [User.__table__.c[name] for name in Caller.__slots__]
# The one query of every authenticated request, built once: the token's user and session
# by primary key, with just what the checks and the reads need.
CALLER_QUERY = (
    sa.select(
        *CALLER_COLUMNS,
        LoginSession.revoked_at,
        LoginSession.session_key,
        LoginSession.created_at,
    )
    .select_from(User.__table__.join(LoginSession.__table__))
    .where(User.id == sa.bindparam("user_id"), LoginSession.id == sa.bindparam("session_id"))
)
FIRST_SESSION_COLUMN = len(CALLER_COLUMNS)
# Each thread of each worker keeps, per database, one connection and the query compiled for it.
_KEPT = threading.local()


class CompiledQuery:
    """A Core ``SELECT`` compiled once for one engine's dialect, run on the driver's own cursor.

    SQLAlchemy's execution works out a cache key and builds an execution
    context and a result object on every call: for a one-row primary-key
    read that is most of the time. Here the SQL text, the order of its
    parameters and each column's result conversion (SQLite's text dates to
    aware datetimes, integers to booleans) are worked out once.
    """

    def __init__(self, statement: sa.Select, engine: sa.Engine) -> None:
        dialect = self.dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )

    def first(self, connection: sa.Connection, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row for ``parameters`` on ``connection``'s driver connection, converted.

        A driver error is raised as SQLAlchemy's ``DBAPIError``, as an
        ordinary execution would raise it, with ``connection_invalidated``
        set (and the connection invalidated) when the database dropped it.
        """
        driver = connection.connection.dbapi_connection
        values: Any = parameters
        if self.positions is not None:  # "?" placeholders (SQLite), not named ones (psycopg)
            values = tuple(parameters[name] for name in self.positions)
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, values)
            row = cursor.fetchone()
        except self.dialect.loaded_dbapi.Error as error:
            disconnected = self.dialect.is_disconnect(error, driver, cursor)
            if disconnected:
                connection.invalidate(error)
            raise sa.exc.DBAPIError.instance(
                self.sql,
                values,
                error,
                self.dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=disconnected,
                dialect=self.dialect,
            ) from error
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.processors, row, strict=True)
        )


@dataclass(frozen=True)
class Identity:
    """The caller: a user, or nobody and why (``missing``, ``expired``, ``invalid``, ``revoked``)."""

    user: Caller | None = None
    failure: str | None = "missing"
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def session_id(self) -> int | None:
        return self.claims.get("sid")


ANONYMOUS = Identity()


def check_access_token(settings: TokenSettings, token: str) -> tuple[Caller, dict[str, Any]]:
    """The user and claims of a usable access token.

    Beyond the signature and expiry, the token's session must still be live
    and its user active, found with one primary-key join. The session must
    also be the very one the token was issued for: its random key and its
    login time must match the token's ``skey`` and ``origIat``. Raises
    ``TokenExpired``, ``TokenInvalid`` or ``TokenRevoked``.
    """
    try:
        claims = decode_access_token(settings, token)
    except TokenInvalid:
        if settings.legacy_key is None:
            raise
        return check_legacy_access_token(settings, token)
    row = caller_row({"user_id": int(claims["sub"]), "session_id": claims["sid"]})
    if row is None:
        raise TokenRevoked("The token has been revoked.")
    revoked_at, session_key, session_created_at = row[FIRST_SESSION_COLUMN:]
    caller = Caller(*row[:FIRST_SESSION_COLUMN])
    # A plain comparison of ``skey`` is enough: the claim sits under the signature, so nobody
    # can try keys one after another against it.
    if (
        revoked_at is not None
        or not caller.is_active
        or session_key != claims["skey"]
        or unix_time(session_created_at) != claims["origIat"]
    ):
        raise TokenRevoked("The token has been revoked.")
    return caller, claims


def check_legacy_access_token(settings: TokenSettings, token: str) -> tuple[Caller, dict[str, Any]]:
    """The user and claims of an access token signed by the old Django service, during the cutover.

    It names no session, so it is refused once its user is inactive or gone, or had every
    session ended (new password, deactivation, logging out everywhere) after its ``origIat``.
    """
    claims = decode_legacy_access_token(settings, token)
    row = db.session.execute(
        sa.select(*CALLER_COLUMNS, User.sessions_ended_at).where(
            User.username_key == lookup_key(claims["username"])
        )
    ).first()
    if row is None:
        raise TokenRevoked("The token has been revoked.")
    caller, sessions_ended_at = Caller(*row[:-1]), row[-1]
    if not caller.is_active or (
        sessions_ended_at is not None and unix_time(sessions_ended_at) >= claims["origIat"]
    ):
        raise TokenRevoked("The token has been revoked.")
    return caller, claims


def caller_row(parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    """``CALLER_QUERY``'s row, read on a connection this thread keeps for it.

    The connection is in autocommit mode, so between requests it holds no
    transaction, snapshot or lock; keeping it spares every request the pool's
    check-out and check-in, and the ORM session's work (resolvers that need the
    session start it themselves). A connection the database dropped is
    replaced once; a forked worker opens its own.
    """
    if getattr(_KEPT, "pid", None) != os.getpid():  # first use in this thread, or a forked worker
        _KEPT.pid, _KEPT.connections = os.getpid(), {}
    kept: dict[sa.Engine, tuple[sa.Connection, CompiledQuery]] = _KEPT.connections
    engine = db.engine
    for attempt in (1, 2):
        connection, query = kept.get(engine) or (None, None)
        if connection is None or query is None or connection.closed or connection.invalidated:
            connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            query = CompiledQuery(CALLER_QUERY, engine)
            kept[engine] = (connection, query)
        try:
            return query.first(connection, parameters)
        except sa.exc.DBAPIError as error:
            del kept[engine]
            connection.close()
            if attempt == 2 or not error.connection_invalidated:
                raise
    return None  # not reached


def identify(settings: TokenSettings, authorization: str | None) -> Identity:
    """Read ``JWT <token>`` or ``Bearer <token>``; a bad header leaves the caller anonymous."""
    if not authorization or not authorization.strip():
        return ANONYMOUS
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token:
        return Identity(failure="invalid")
    try:
        user, claims = check_access_token(settings, token)
    except TokenExpired:
        return Identity(failure="expired")
    except TokenInvalid:
        return Identity(failure="invalid")
    except TokenRevoked:
        return Identity(failure="revoked")
    return Identity(user=user, failure=None, claims=claims)
