"""Login sessions and their rotating refresh tokens."""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..errors import BadUserInput, TokenExpired, TokenInvalid, TokenRevoked
from ..extensions import db
from ..models import LoginSession, RefreshToken, User
from .tokens import TokenSettings, issue_access_token, new_refresh_token, unix_time

# What ``new_refresh_token`` makes (43 characters); anything else is refused unread.
REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass
class TokenPair:
    """What a login or a refresh hands back to the client."""

    token: str
    refresh_token: str
    payload: dict[str, Any]
    refresh_expires_in: int
    user: User


def token_digest(raw: str) -> str:
    """The SHA-256 digest a refresh token is stored under.

    A fast hash is enough: the token holds 256 random bits, so there is
    nothing to guess even with the digest in hand.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


def start_session(
    settings: TokenSettings, user: User, *, now: datetime, user_agent: str = "", ip: str = ""
) -> TokenPair:
    """Open a session for ``user`` and issue its first token pair (the caller commits)."""
    # PostgreSQL cannot store NUL in text; a header can still carry one.
    user_agent, ip = user_agent.replace("\x00", ""), ip.replace("\x00", "")
    session = LoginSession(user=user, created_at=now, user_agent=user_agent[:512], ip_address=ip[:45])
    db.session.add(session)
    db.session.flush()
    return _issue_pair(settings, session, now)


def rotate_refresh_token(settings: TokenSettings, raw: str, *, now: datetime) -> TokenPair:
    """Swap a refresh token for a new pair; the token sent is used up.

    Presenting a token that was already rotated away means two parties hold
    it, so the whole session is revoked, unless the earlier refresh happened
    within ``reuse_interval`` seconds (two tabs refreshing at once). Commits.
    """
    record = _find_refresh_token(raw)
    session = record.session
    if session.revoked_at is not None or not session.user.is_active:
        raise TokenRevoked("The refresh token has been revoked; sign in again.")
    if record.expires_at <= now:
        raise TokenExpired("The refresh token has expired; sign in again.")
    if session_ends_at(settings, session) <= now:
        raise TokenExpired("The session has reached its maximum lifetime; sign in again.")
    # Marking the token used only if nobody else just did guards against
    # concurrent refreshes both rotating it outside the reuse window.
    claimed = db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.refresh(record)
        used_at = record.used_at
        if used_at is None or (now - used_at).total_seconds() > settings.reuse_interval:
            session.revoked_at = now
            db.session.commit()
            raise TokenRevoked(
                "This refresh token was already used, so the session has been ended; sign in again."
            )
    session.last_refreshed_at = now
    pair = _issue_pair(settings, session, now)
    db.session.commit()
    return pair


def revoke_refresh_token(raw: str, *, now: datetime) -> datetime:
    """End the session a refresh token belongs to (logout); return when. Commits."""
    session = _find_refresh_token(raw).session
    if session.revoked_at is not None:
        raise TokenRevoked("The refresh token has already been revoked.")
    session.revoked_at = now
    db.session.commit()
    return now


def revoke_all_sessions(user: User, *, now: datetime) -> None:
    """End every live session of ``user``; their access tokens stop working. No commit."""
    db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def log_out_everywhere(user: User, *, now: datetime) -> datetime:
    """End every session of ``user``: every access token issued so far is refused. Commits."""
    revoke_all_sessions(user, now=now)
    db.session.commit()
    return now


def live_sessions(settings: TokenSettings, user: User, *, now: datetime) -> list[LoginSession]:
    """The user's sessions that can still be refreshed, newest first."""
    last_active = sa.func.coalesce(LoginSession.last_refreshed_at, LoginSession.created_at)
    return list(
        db.session.scalars(
            sa.select(LoginSession)
            .where(
                LoginSession.user_id == user.id,
                LoginSession.revoked_at.is_(None),
                LoginSession.created_at > now - timedelta(seconds=settings.session_max_lifetime),
                last_active > now - timedelta(seconds=settings.refresh_lifetime),
            )
            .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
        )
    )


def revoke_session(user: User, session_id: int | None, *, now: datetime) -> datetime:
    """End one of the user's own sessions. Someone else's id is refused like a missing one. Commits."""
    session = db.session.get(LoginSession, session_id) if session_id is not None else None
    if session is None or session.user_id != user.id or session.revoked_at is not None:
        raise BadUserInput({"id": ["You have no live session with this id."]})
    session.revoked_at = now
    db.session.commit()
    return now


def session_ends_at(settings: TokenSettings, session: LoginSession) -> datetime:
    """When the session's absolute lifetime runs out."""
    return session.created_at + timedelta(seconds=settings.session_max_lifetime)


def _find_refresh_token(raw: str) -> RefreshToken:
    if not REFRESH_TOKEN_SHAPE.fullmatch(raw):
        raise TokenInvalid("The refresh token is not valid.")
    record = db.session.scalar(sa.select(RefreshToken).where(RefreshToken.token_hash == token_digest(raw)))
    if record is None:
        raise TokenInvalid("The refresh token is not valid.")
    return record


def _issue_pair(settings: TokenSettings, session: LoginSession, now: datetime) -> TokenPair:
    raw = new_refresh_token()
    expires_at = min(now + timedelta(seconds=settings.refresh_lifetime), session_ends_at(settings, session))
    db.session.add(
        RefreshToken(session=session, token_hash=token_digest(raw), created_at=now, expires_at=expires_at)
    )
    user = session.user
    token, payload = issue_access_token(
        settings,
        user_id=user.id,
        username=user.username,
        session_id=session.id,
        session_started=session.created_at,
        now=now,
    )
    return TokenPair(token, raw, payload, unix_time(expires_at), user)
