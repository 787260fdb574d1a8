"""Database models: users, their login sessions, the sessions' refresh tokens, staff console sign-ins.

Ids of users, sessions and refresh tokens are never handed out twice: SQLite
tables say ``AUTOINCREMENT`` (without it SQLite reuses the ids of deleted
rows) and PostgreSQL's sequences never go back.
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from .extensions import db

GENDERS = ("MALE", "FEMALE", "OTHER")


def new_session_key() -> str:
    """A session's random key: 128 bits, hex."""
    return secrets.token_hex(16)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A UTC timestamp that reads back timezone-aware on every database.

    SQLite keeps no zone, so values are stored as naive UTC and given their
    zone back on the way out.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(db.Model):
    """An account. ``*_key`` columns hold the case-folded forms that uniqueness is checked on."""

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(150))
    # Case folding can lengthen a string (ß -> ss), hence the roomier key columns.
    username_key: so.Mapped[str] = so.mapped_column(sa.String(600), unique=True)
    # The UTS #39 confusable skeleton of the username: two names that look alike share it.
    username_skeleton: so.Mapped[str] = so.mapped_column(sa.String(600), index=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    email_key: so.Mapped[str] = so.mapped_column(sa.String(1016), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    first_name: so.Mapped[str] = so.mapped_column(sa.String(150), default="")
    last_name: so.Mapped[str] = so.mapped_column(sa.String(150), default="")
    is_staff: so.Mapped[bool] = so.mapped_column(default=False)
    is_superuser: so.Mapped[bool] = so.mapped_column(default=False)
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    date_joined: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_login: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Profile. ``gender`` holds a name of ``GENDERS``; ``profile_picture`` a path
    # relative to the upload folder, such as ``profile_pics/<name>.png``.
    gender: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    position: so.Mapped[str] = so.mapped_column(sa.String(150), default="", server_default="")
    department: so.Mapped[str] = so.mapped_column(sa.String(150), default="", server_default="")
    profile_picture: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    # When every session of the user was last ended (new password, deactivation, logging out
    # everywhere): the old service's access tokens, which name no session, from before it are refused.
    sessions_ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The language of the account's mail: one of service.mail.SUPPORTED_LANGUAGES.
    language: so.Mapped[str] = so.mapped_column(sa.String(8), default="en", server_default="en")
    # Whether the owner proved they read mail at ``email`` (a verification or email change link,
    # or a password reset). Accounts from before the email flows start unverified.
    is_verified: so.Mapped[bool] = so.mapped_column(default=False, server_default="0")

    sessions: so.WriteOnlyMapped["LoginSession"] = so.relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_privileged(self) -> bool:
        """Staff and superusers may read any account."""
        return self.is_staff or self.is_superuser

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class LoginSession(db.Model):
    """One login: the family of refresh tokens that successive refreshes rotate through."""

    __tablename__ = "login_sessions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Random and unguessable; access tokens carry it, so a token matches this session only,
    # even if another session ever had the same id.
    session_key: so.Mapped[str] = so.mapped_column(sa.String(32), default=new_session_key)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_refreshed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    user_agent: so.Mapped[str] = so.mapped_column(sa.String(512), default="")
    ip_address: so.Mapped[str] = so.mapped_column(sa.String(45), default="")

    user: so.Mapped[User] = so.relationship(back_populates="sessions")


class RefreshToken(db.Model):
    """A refresh token, known to the server only by its SHA-256 digest."""

    __tablename__ = "refresh_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    session_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    # Set when a refresh rotated this token away; it can never be used again.
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The refresh token that replaced this one, encrypted, kept only during the reuse
    # window so that a second tab refreshing with this token gets the same successor.
    successor_sealed: so.Mapped[str | None] = so.mapped_column(sa.Text)

    session: so.Mapped[LoginSession] = so.relationship()


class ConsoleSession(db.Model):
    """A staff console sign-in (``/admin``): its cookie's token, known to the server only by its digest.

    It rides on a ``LoginSession`` of its own, so whatever ends the user's
    sessions (deactivation, a new password, logging out everywhere, revoking
    that session) ends it too; and it ends at ``expires_at`` in any case.
    """

    __tablename__ = "console_sessions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    login_session_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("login_sessions.id", ondelete="CASCADE"), unique=True
    )
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)

    login_session: so.Mapped[LoginSession] = so.relationship()


class RateEvent(db.Model):
    """One counted event (a failed login, a registration) in a rate-limit bucket.

    Kept in the database so that every gunicorn worker and every app server
    counts the same events. ``bucket`` is a SHA-256 digest of the bucket's
    name, so typed usernames and client addresses are not stored readable.
    ``account`` is a digest of the account a login event counts against
    (whatever the client's address), so ``flask users unlock`` finds every
    bucket that holds the account back.
    """

    __tablename__ = "rate_events"
    __table_args__ = (sa.Index("ix_rate_events_bucket_created_at", "bucket", "created_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    bucket: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    account: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)


class KnownClient(db.Model):
    """A network (an IPv4 address or an IPv6 /64) from which a user logged in successfully.

    A client on such a network within the last 30 days is not held back by the
    account-wide failure limit, so strangers' failures cannot lock the owner out.
    ``network`` is a SHA-256 digest, like rate-limit buckets.
    """

    __tablename__ = "known_clients"
    __table_args__ = (sa.UniqueConstraint("user_id", "network"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    network: so.Mapped[str] = so.mapped_column(sa.String(64))
    last_login_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class SecurityEvent(db.Model):
    """One thing that happened to an account's security (a login, a new password, a lockout...).

    Never a password or a token: the kind, when, the account, and the client's
    address and user agent. ``user_id`` is a plain column, not a foreign key, so an
    account's events outlive it (ids are never reused; staff can still audit a
    deleted account). ``actor_id`` is the staff member who made a staff change.
    """

    __tablename__ = "security_events"
    __table_args__ = (
        sa.Index("ix_security_events_user_id_id", "user_id", "id"),
        sa.Index("ix_security_events_kind_id", "kind", "id"),
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: so.Mapped[int | None] = so.mapped_column()
    actor_id: so.Mapped[int | None] = so.mapped_column()
    ip_address: so.Mapped[str] = so.mapped_column(sa.String(45), default="")
    user_agent: so.Mapped[str] = so.mapped_column(sa.String(512), default="")


class SigningKey(db.Model):
    """A key pair that signs access tokens under an asymmetric ``JWT_ALGORITHM``.

    The private half is sealed with a key derived from ``SECRET_KEY``, or absent
    for a key read from ``JWT_PRIVATE_KEY_FILE`` (kept here so that every server
    goes on verifying its tokens once the file changes). A key verifies until
    ``retired_at`` and, when it has a private half, signs from ``signs_from``.
    """

    __tablename__ = "signing_keys"

    # The RFC 7638 thumbprint of the public key: the ``kid`` of its tokens.
    kid: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    # Order of creation, unique: of several workers creating the next key at once, one insert
    # wins and the others read its key; the newest key that may sign does.
    number: so.Mapped[int] = so.mapped_column(unique=True)
    algorithm: so.Mapped[str] = so.mapped_column(sa.String(10))
    public_key: so.Mapped[str] = so.mapped_column(sa.Text)
    private_key_sealed: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    signs_from: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    retired_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


MAIL_STATUSES = ("pending", "sent", "failed")


class MailMessage(db.Model):
    """One outgoing message in the outbox, rendered in full when it was queued.

    It is added in the same transaction as the change that caused it and
    delivered after the commit by a sender (``service.mail.sender``).
    ``claimed_until`` is a sender's lease: a message whose lease ran out (its
    sender was killed mid-send) is taken again. ``message_id`` is made at
    queue time and kept, so a message sent twice is recognisably one message.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (
        sa.Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        {"sqlite_autoincrement": True},
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    to_address: so.Mapped[str] = so.mapped_column(sa.String(254))
    subject: so.Mapped[str] = so.mapped_column(sa.String(255))
    text_body: so.Mapped[str] = so.mapped_column(sa.Text)
    html_body: so.Mapped[str] = so.mapped_column(sa.Text)
    language: so.Mapped[str] = so.mapped_column(sa.String(8))
    # The template's name (verify_email, password_reset ...): for the operator's list.
    template: so.Mapped[str] = so.mapped_column(sa.String(64))
    message_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    # One of MAIL_STATUSES; failed: given up after MAIL_MAX_ATTEMPTS.
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="pending")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The last delivery error, short: the exception's class and the server's reply, never a password.
    last_error: so.Mapped[str] = so.mapped_column(sa.String(500), default="")

    def __repr__(self) -> str:
        return f"<MailMessage {self.id} {self.template} {self.status}>"


EMAIL_TOKEN_PURPOSES = ("verify_email", "password_reset", "email_change")


class EmailToken(db.Model):
    """A single-use token sent by mail (verification, password reset, email change), known by its digest.

    ``email_at_issue`` is the account's address when the token was sent: a link for an address the
    account has left since is refused. ``password_stamp`` is a digest of the password hash then: a
    reset link dies when the password changes by any route.
    """

    __tablename__ = "email_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: so.Mapped[str] = so.mapped_column(sa.String(20))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    # The address an email change moves to; None for the other purposes.
    new_email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    email_at_issue: so.Mapped[str] = so.mapped_column(sa.String(254))
    password_stamp: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    # Set when the token was used, or when a newer one of the same purpose replaced it.
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()
