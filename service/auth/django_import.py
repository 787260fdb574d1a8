"""Bringing the old Django service's accounts, pictures and live sessions over.

``flask users import-django`` runs it.

The old database is only read. Ids are kept; a second run changes nothing; an old row that
clashes with an account here (its username or email taken by another id) stops the whole
import before anything is written.
"""

import hashlib
import hmac
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import BadUserInput
from ..extensions import db
from ..models import LoginSession, RefreshToken, User, utcnow
from ..uploads import PICTURE_FOLDER, UploadSettings, clean_image, store_picture_bytes
from .django_hashes import is_django_hash
from .sessions import token_digest
from .validation import lookup_key, username_skeleton

USER_TABLES = ("accounts_user", "auth_user")
REFRESH_TOKEN_TABLE = "refresh_token_refreshtoken"
# django-graphql-jwt's default JWT_REFRESH_EXPIRATION_DELTA: its table stores no expiry.
OLD_REFRESH_LIFETIME = 7 * 24 * 3600
GENDERS = {"m": "MALE", "male": "MALE", "f": "FEMALE", "female": "FEMALE", "o": "OTHER", "other": "OTHER"}
IMPORTED_SESSION_AGENT = "(signed in on the Django service)"
SEQUENCE_TABLES = ("users",)
COPIED = ("username", "email", "first_name", "last_name", "is_staff", "is_superuser", "is_active")


class ImportConflict(Exception):
    """Old rows clash with accounts here; ``problems`` says which. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportReport:
    """What an import did (or, on a dry run, would do), line by line, and the totals."""

    lines: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def note(self, kind: str, line: str | None = None) -> None:
        self.counts[kind] += 1
        if line:
            self.lines.append(line)


def old_engine(database_url: str) -> sa.Engine:
    """An engine on the old database that cannot write: SQLite opened read-only, PostgreSQL
    in read-only transactions."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "").resolve()
        if not path.is_file():
            raise FileNotFoundError(f"No SQLite database at {path}")
        return sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True),
            poolclass=sa.NullPool,
        )
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url, poolclass=sa.NullPool, execution_options={"postgresql_readonly": True})


def import_django(
    *,
    database_url: str,
    media_root: Path,
    uploads: UploadSettings,
    picture_key: bytes,
    user_table: str | None = None,
    refresh_lifetime: int = OLD_REFRESH_LIFETIME,
    dry_run: bool = False,
) -> ImportReport:
    """Import every account and live refresh token of the old service; commit unless ``dry_run``.

    Raises ``ImportConflict`` (nothing written) when old rows clash with accounts here.
    """
    engine = old_engine(database_url)
    try:
        with engine.connect() as old:
            users, tokens = _read_old(old, user_table)
    finally:
        engine.dispose()
    _check_conflicts(users)
    report = ImportReport()
    now = utcnow()
    imported_ids = set()
    for row in users:
        user = _import_user(row, report, media_root.resolve(), uploads, picture_key, dry_run)
        if user is not None and user.is_active:
            imported_ids.add(user.id)
    db.session.flush()
    _import_sessions(tokens, imported_ids, refresh_lifetime, now, report)
    if dry_run:
        db.session.rollback()
    else:
        db.session.flush()
        continue_id_sequences()
        db.session.commit()
    return report


def _read_old(old: sa.Connection, user_table: str | None) -> tuple[list[dict], list[dict]]:
    names = sa.inspect(old).get_table_names()
    table_name = user_table or next((name for name in USER_TABLES if name in names), None)
    if table_name is None or table_name not in names:
        raise LookupError(f"No user table ({user_table or ' or '.join(USER_TABLES)}) in the old database")
    metadata = sa.MetaData()
    table = sa.Table(table_name, metadata, autoload_with=old)
    users = [dict(row) for row in old.execute(sa.select(table).order_by(table.c.id)).mappings()]
    tokens: list[dict] = []
    if REFRESH_TOKEN_TABLE in names:
        token_table = sa.Table(REFRESH_TOKEN_TABLE, metadata, autoload_with=old)
        query = sa.select(token_table).order_by(token_table.c.id)
        tokens = [dict(row) for row in old.execute(query).mappings()]
    old.rollback()
    return users, tokens


def _check_conflicts(users: list[dict]) -> None:
    """Refuse old rows whose username or email another account (old or here) already has."""
    problems = []
    seen: dict[str, int] = {}
    for row in users:
        label = f"user {row['id']} {row['username']!r}"
        email = (row.get("email") or "").strip()
        if not email:
            problems.append(f"{label} has no email address; give it one in the old service first")
        for key in {lookup_key(row["username"]), lookup_key(email)} - {""}:
            if key in seen and seen[key] != row["id"]:
                problems.append(f"{label} shares {key!r} with old user {seen[key]}")
            seen.setdefault(key, row["id"])
        keys = [key for key in (lookup_key(row["username"]), lookup_key(email)) if key]
        clash = db.session.execute(
            sa.select(User.id, User.username).where(
                User.id != row["id"], sa.or_(User.username_key.in_(keys), User.email_key.in_(keys))
            )
        ).first()
        if clash is not None:
            problems.append(f"{label}: its username or email is account {clash.id} {clash.username!r} here")
        here = db.session.get(User, row["id"])
        if here is not None and here.username_key not in keys and here.email_key not in keys:
            problems.append(f"{label}: id {row['id']} here is another account, {here.username!r}")
    if problems:
        raise ImportConflict(problems)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # Django keeps UTC in SQLite, without a zone


def _import_user(
    row: dict, report: ImportReport, media_root: Path, uploads: UploadSettings, key: bytes, dry_run: bool
) -> User | None:
    label = f"user {row['id']} {row['username']!r}"
    values: dict[str, Any] = {name: row.get(name) for name in COPIED}
    values["email"] = values["email"].strip()
    values.update(
        username_key=lookup_key(row["username"]),
        username_skeleton=username_skeleton(row["username"]),
        email_key=lookup_key(values["email"]),
        first_name=row.get("first_name") or "",
        last_name=row.get("last_name") or "",
        date_joined=_aware(row["date_joined"]),
        last_login=_aware(row.get("last_login")),
        gender=_gender(row.get("gender"), label, report),
        position=row.get("position") or "",
        department=row.get("department") or "",
    )
    for flag in ("is_staff", "is_superuser", "is_active"):
        values[flag] = bool(values[flag])
    user = db.session.get(User, row["id"])
    # A hash already upgraded here (a login since the last run) is newer than the old one.
    if user is None or is_django_hash(user.password_hash):
        values["password_hash"] = row["password"]
    if user is not None and user.last_login is not None:
        values["last_login"] = max(user.last_login, values["last_login"] or user.last_login)
    picture = _picture(row.get("profile_picture"), user, label, report, media_root, uploads, key, dry_run)
    if picture is not None:
        values["profile_picture"] = picture
    if user is None:
        user = User(id=row["id"], **values)
        db.session.add(user)
        report.note("imported", f"Imported {label}.")
        return user
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        report.note("updated", f"Updated {label}: {', '.join(changed)}.")
    else:
        report.note("unchanged")
    return user


def _gender(raw: str | None, label: str, report: ImportReport) -> str | None:
    if not raw or not raw.strip():
        return None
    gender = GENDERS.get(raw.strip().lower())
    if gender is None:
        report.lines.append(f"Left the gender of {label} unset: {raw!r} is not one of ours.")
    return gender


def _picture(
    old_path: str | None,
    user: User | None,
    label: str,
    report: ImportReport,
    media_root: Path,
    uploads: UploadSettings,
    key: bytes,
    dry_run: bool,
) -> str | None:
    """Our path of the user's old picture, stored if new; None when there is none to take."""
    if not old_path:
        return None
    source = (media_root / old_path).resolve()
    try:
        if not source.is_relative_to(media_root):
            raise FileNotFoundError
        data = source.read_bytes()
    except OSError:
        report.note("pictures skipped", f"Skipped the picture of {label}: {old_path} is missing.")
        return None
    # Named after the old file's content, so a second run finds the picture it stored.
    stem = hmac.new(key, b"django-picture\0" + data, hashlib.sha256).hexdigest()[:32]
    current = user.profile_picture if user is not None else None
    if current and current.startswith(f"{PICTURE_FOLDER}/{stem}.") and (uploads.folder / current).is_file():
        return current
    try:
        if dry_run:
            clean_image(data, uploads.max_pixels, uploads.max_side)
            stored = f"{PICTURE_FOLDER}/{stem}.*"
        else:
            stored = store_picture_bytes(data, uploads, stem)
    except BadUserInput as error:
        reason = " ".join(error.fields.get("profilePicture", ["it was refused."]))
        report.note("pictures skipped", f"Skipped the picture of {label} ({old_path}): {reason}")
        return None
    report.note("pictures imported")
    return stored


def _import_sessions(
    tokens: list[dict], user_ids: set[int], lifetime: int, now: datetime, report: ImportReport
) -> None:
    """Each live old refresh token becomes a session of its own, the token kept only as its digest."""
    for row in tokens:
        created = _aware(row["created"])
        expires_at = created + timedelta(seconds=lifetime)
        why = None
        if row.get("revoked") is not None or not row["token"]:
            why = "revoked"
        elif expires_at <= now:
            why = "expired"
        elif row["user_id"] not in user_ids:
            why = "inactive or missing user"
        if why:
            report.note(f"sessions skipped ({why})")
            continue
        digest = token_digest(row["token"])
        if db.session.scalar(sa.select(RefreshToken.id).where(RefreshToken.token_hash == digest)):
            report.note("sessions already here")
            continue
        session = LoginSession(user_id=row["user_id"], created_at=created, user_agent=IMPORTED_SESSION_AGENT)
        db.session.add(session)
        db.session.add(
            RefreshToken(session=session, token_hash=digest, created_at=created, expires_at=expires_at)
        )
        report.note("sessions imported")


def continue_id_sequences() -> None:
    """Make new accounts' ids continue after the largest one, imported ids included (never going back)."""
    for table in SEQUENCE_TABLES:
        highest = db.session.scalar(sa.text(f"SELECT max(id) FROM {table}"))
        if highest is None:
            continue
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :highest)"
                    f" WHERE :highest > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
                    f" FROM {table}_id_seq)"
                ),
                {"highest": highest},
            )
        else:
            db.session.execute(
                sa.text("UPDATE sqlite_sequence SET seq = :highest WHERE name = :name AND seq < :highest"),
                {"highest": highest, "name": table},
            )
            db.session.execute(
                sa.text(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT :name, :highest"
                    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = :name)"
                ),
                {"highest": highest, "name": table},
            )
