"""The single-use tokens the email flows send: issued, looked up and used up.

A token is 256 random bits (``secrets.token_urlsafe(32)``), stored only as its SHA-256 digest,
good for one purpose, one use and a lifetime. A new token of a purpose retires the account's
older ones of that purpose, so only the latest mail's link works.
"""

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..errors import TokenExpired, TokenInvalid
from ..extensions import db
from ..models import EmailToken, User
from .sessions import token_digest
from .throttling import Limit
from .validation import lookup_key

VERIFY_EMAIL = "verify_email"
PASSWORD_RESET = "password_reset"
EMAIL_CHANGE = "email_change"
# What ``new_email_token`` makes; any other string is refused without a database read.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
NOT_VALID = "This link is not valid; ask for a new one."
USED = "This link has already been used, or a newer one replaced it; ask for a new one."
EXPIRED = "This link has expired; ask for a new one."


@dataclass(frozen=True)
class EmailSettings:
    """What the email flows need from the config, read once."""

    verify_url: str
    reset_url: str
    change_url: str
    lifetimes: Mapping[str, int]
    require_verified: bool
    reset_per_ip: Limit
    reset_per_email: Limit
    per_account: Limit

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "EmailSettings":
        window = config["EMAIL_REQUESTS_WINDOW"]
        return cls(
            verify_url=config["VERIFY_EMAIL_URL"],
            reset_url=config["PASSWORD_RESET_URL"],
            change_url=config["EMAIL_CHANGE_URL"],
            lifetimes={
                VERIFY_EMAIL: config["EMAIL_VERIFICATION_LIFETIME"],
                PASSWORD_RESET: config["PASSWORD_RESET_LIFETIME"],
                EMAIL_CHANGE: config["EMAIL_CHANGE_LIFETIME"],
            },
            require_verified=config["ACCOUNT_REQUIRE_VERIFIED_EMAIL"],
            reset_per_ip=Limit(config["PASSWORD_RESET_MAX_PER_IP"], window),
            reset_per_email=Limit(config["PASSWORD_RESET_MAX_PER_EMAIL"], window),
            per_account=Limit(config["EMAIL_MAX_PER_ACCOUNT"], window),
        )


def new_email_token() -> str:
    """A fresh token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def link(template: str, raw: str) -> str:
    """The front end's URL for a token (the token is URL-safe as it is)."""
    return template.replace("{token}", raw)


def password_stamp(password_hash: str) -> str:
    """A digest of the password hash: it changes whenever the password does, by any route."""
    return hashlib.sha256(f"password-stamp\x1f{password_hash}".encode()).hexdigest()


def issue_email_token(
    settings: EmailSettings,
    user: User,
    purpose: str,
    *,
    now: datetime,
    raw: str | None = None,
    new_email: str | None = None,
) -> str:
    """Store a new token of ``purpose`` for ``user``, retiring the older ones; return it. No commit."""
    raw = raw or new_email_token()
    retire_email_tokens(user.id, purpose, now=now)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_digest(raw),
            new_email=new_email,
            email_at_issue=user.email,
            password_stamp=password_stamp(user.password_hash),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.lifetimes[purpose]),
        )
    )
    return raw


def retire_email_tokens(user_id: int, purpose: str, *, now: datetime) -> None:
    """Mark the account's unused tokens of ``purpose`` used. No commit."""
    db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.user_id == user_id, EmailToken.purpose == purpose, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def find_email_token(raw: str, purpose: str, *, now: datetime) -> EmailToken:
    """The live token ``raw`` of ``purpose``; ``TokenInvalid`` or ``TokenExpired`` otherwise.

    A token of another purpose, a used or replaced one, one whose account is inactive or
    has moved to another address since, and a reset token whose account's password has
    changed since, are all invalid.
    """
    if not TOKEN_SHAPE.fullmatch(raw):
        raise TokenInvalid(NOT_VALID)
    record = db.session.scalar(sa.select(EmailToken).where(EmailToken.token_hash == token_digest(raw)))
    if record is None or record.purpose != purpose:
        raise TokenInvalid(NOT_VALID)
    if record.used_at is not None:
        raise TokenInvalid(USED)
    user = record.user
    if not user.is_active or lookup_key(record.email_at_issue) != user.email_key:
        raise TokenInvalid(NOT_VALID)
    if purpose == PASSWORD_RESET and record.password_stamp != password_stamp(user.password_hash):
        raise TokenInvalid(USED)
    if record.expires_at <= now:
        raise TokenExpired(EXPIRED)
    return record


def use_email_token(record: EmailToken, *, now: datetime) -> None:
    """Mark the token used, unless another request just did (then ``TokenInvalid``). No commit.

    The conditional update lets exactly one of two racing uses through: on PostgreSQL the
    second waits for the first's row lock and then matches nothing.
    """
    claimed = db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == record.id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise TokenInvalid(USED)
