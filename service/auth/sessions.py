"""Login sessions and their rotating refresh tokens."""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import InvalidToken

from ..errors import BadUserInput, TokenExpired, TokenInvalid, TokenRevoked
from ..extensions import db
from ..models import LoginSession, RefreshToken, User
from .events import record_event
from .tokens import TokenSettings, issue_access_token, new_refresh_token, unix_time

# What ``new_refresh_token`` makes (43 characters); anything else is refused unread.
REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")
REUSED = "This refresh token was already used, so the session has been ended; sign in again."


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
    session = open_login_session(settings, user, now=now, user_agent=user_agent, ip=ip)
    return _issue_pair(settings, session, now, new_refresh_token())


def open_login_session(
    settings: TokenSettings, user: User, *, now: datetime, user_agent: str = "", ip: str = ""
) -> LoginSession:
    """A new session row for ``user``, with no tokens yet (the caller commits).

    Past ``max_sessions_per_user`` live sessions, the user's oldest ones end.
    """
    # PostgreSQL cannot store NUL in text; a header can still carry one.
    user_agent, ip = user_agent.replace("\x00", ""), ip.replace("\x00", "")
    session = LoginSession(user=user, created_at=now, user_agent=user_agent[:512], ip_address=ip[:45])
    db.session.add(session)
    db.session.flush()
    _end_sessions_beyond_limit(settings, session, now)
    return session


def _end_sessions_beyond_limit(settings: TokenSettings, newest: LoginSession, now: datetime) -> None:
    """Revoke the oldest live sessions of ``newest``'s user that do not fit in the limit beside it."""
    beyond = db.session.scalars(
        _live_sessions_query(settings, newest.user_id, now)
        .with_only_columns(LoginSession.id)
        .where(LoginSession.id != newest.id)
        .offset(settings.max_sessions_per_user - 1)
    ).all()
    if beyond:
        db.session.execute(
            sa.update(LoginSession)
            .where(LoginSession.id.in_(beyond))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )


def rotate_refresh_token(
    settings: TokenSettings, raw: str, *, now: datetime, ip: str = "", user_agent: str = ""
) -> TokenPair:
    """Swap a refresh token for a new pair; the token sent is used up.

    Presenting a token that was already rotated away means two parties hold
    it, so the whole session is revoked; unless the earlier refresh happened
    less than ``reuse_interval`` seconds ago (two tabs refreshing at once):
    then the reuse gets the very refresh token the first refresh got, so a
    session never has two live chains. A reuse that ends the session is logged
    (``SESSION_THEFT_DETECTED``, with the address and agent of whoever sent it). Commits.
    """
    record = _find_refresh_token(raw)
    session = record.session
    if session.revoked_at is not None or not session.user.is_active:
        raise TokenRevoked("The refresh token has been revoked; sign in again.")
    if record.expires_at <= now:
        raise TokenExpired("The refresh token has expired; sign in again.")
    if session_ends_at(settings, session) <= now:
        raise TokenExpired("The session has reached its maximum lifetime; sign in again.")
    successor = new_refresh_token()
    # Marking the token used only if nobody else just did lets exactly one refresh rotate it,
    # however many race; its successor is kept, sealed, for a reuse within the window.
    claimed = db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == record.id, RefreshToken.used_at.is_(None))
        .values(used_at=now, successor_sealed=_seal(settings, successor))
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return _reissue_successor(settings, record, now, ip=ip, user_agent=user_agent)
    session.last_refreshed_at = now
    wipe_sealed_successors(settings.reuse_interval, now=now, session_id=session.id)
    pair = _issue_pair(settings, session, now, successor)
    db.session.commit()
    return pair


def _reissue_successor(
    settings: TokenSettings, record: RefreshToken, now: datetime, *, ip: str, user_agent: str
) -> TokenPair:
    """A reuse of a rotated token: within the window, a new access token and the same successor;
    otherwise theft, and the session ends. Commits."""
    session = record.session
    db.session.refresh(record)
    db.session.refresh(session)
    successor = _unseal(settings, record, now)
    if successor is None or session.revoked_at is not None:
        if session.revoked_at is None:
            session.revoked_at = now
            record_event(
                "SESSION_THEFT_DETECTED", user_id=session.user_id, ip=ip, user_agent=user_agent, now=now
            )
        db.session.commit()
        raise TokenRevoked(REUSED)
    # The successor was stored when this token was used, with the expiry computed here.
    expires_at = min(
        record.used_at + timedelta(seconds=settings.refresh_lifetime), session_ends_at(settings, session)
    )
    pair = _token_pair(settings, session, successor, expires_at, now)
    db.session.commit()  # writes nothing; ends the transaction the claim attempt opened
    return pair


def _seal(settings: TokenSettings, successor: str) -> str | None:
    """The successor encrypted for the reuse window; nothing when there is no window."""
    if settings.reuse_interval <= 0:
        return None
    return settings.successor_sealer.encrypt(successor.encode()).decode()


def _unseal(settings: TokenSettings, record: RefreshToken, now: datetime) -> str | None:
    """The successor of a rotated token if the reuse window is still open, else None."""
    if record.used_at is None or record.successor_sealed is None or settings.reuse_interval <= 0:
        return None
    if (now - record.used_at).total_seconds() >= settings.reuse_interval:
        return None
    try:
        return settings.successor_sealer.decrypt(record.successor_sealed.encode()).decode()
    except InvalidToken:  # sealed under another SECRET_KEY
        return None


def wipe_sealed_successors(reuse_interval: int, *, now: datetime, session_id: int | None = None) -> int:
    """Forget the sealed successors whose reuse window has passed (of one session, or all). No commit."""
    query = sa.update(RefreshToken).where(
        RefreshToken.successor_sealed.is_not(None),
        RefreshToken.used_at <= now - timedelta(seconds=reuse_interval),
    )
    if session_id is not None:
        query = query.where(RefreshToken.session_id == session_id)
    return db.session.execute(
        query.values(successor_sealed=None).execution_options(synchronize_session=False)
    ).rowcount


def revoke_refresh_token(raw: str, *, now: datetime, ip: str = "", user_agent: str = "") -> datetime:
    """End the session a refresh token belongs to (logout); return when. Commits."""
    session = _find_refresh_token(raw).session
    if session.revoked_at is not None:
        raise TokenRevoked("The refresh token has already been revoked.")
    session.revoked_at = now
    record_event("LOGGED_OUT", user_id=session.user_id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()
    return now


def revoke_all_sessions(user: User, *, now: datetime) -> None:
    """End every live session of ``user``; their access tokens stop working. No commit."""
    # Access tokens of the old service name no session: this is what refuses them (see identity).
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(sessions_ended_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def log_out_everywhere(
    user: User, *, now: datetime, ip: str = "", user_agent: str = "", actor_id: int | None = None
) -> datetime:
    """End every session of ``user``: every access token issued so far is refused. Commits.

    ``actor_id``: the staff member who did it for the user (the console), if not the user.
    """
    revoke_all_sessions(user, now=now)
    record_event(
        "LOGGED_OUT_EVERYWHERE", user_id=user.id, ip=ip, user_agent=user_agent, actor_id=actor_id, now=now
    )
    db.session.commit()
    return now


def live_sessions(settings: TokenSettings, user: User, *, now: datetime) -> list[LoginSession]:
    """The user's sessions that can still be refreshed, newest first."""
    return list(db.session.scalars(_live_sessions_query(settings, user.id, now)))


def _live_sessions_query(settings: TokenSettings, user_id: int, now: datetime) -> sa.Select:
    last_active = sa.func.coalesce(LoginSession.last_refreshed_at, LoginSession.created_at)
    return (
        sa.select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.created_at > now - timedelta(seconds=settings.session_max_lifetime),
            last_active > now - timedelta(seconds=settings.refresh_lifetime),
        )
        .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    )


def revoke_session(
    user: User,
    session_id: int | None,
    *,
    now: datetime,
    ip: str = "",
    user_agent: str = "",
    actor_id: int | None = None,
) -> datetime:
    """End one of the user's own sessions. Someone else's id is refused like a missing one. Commits.

    ``actor_id``: the staff member who did it for the user (the console), if not the user.
    """
    session = db.session.get(LoginSession, session_id) if session_id is not None else None
    if session is None or session.user_id != user.id or session.revoked_at is not None:
        raise BadUserInput({"id": ["You have no live session with this id."]})
    session.revoked_at = now
    record_event("LOGGED_OUT", user_id=user.id, ip=ip, user_agent=user_agent, actor_id=actor_id, now=now)
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


def _issue_pair(settings: TokenSettings, session: LoginSession, now: datetime, raw: str) -> TokenPair:
    """Store the refresh token ``raw`` for ``session`` and pair it with a new access token."""
    expires_at = min(now + timedelta(seconds=settings.refresh_lifetime), session_ends_at(settings, session))
    db.session.add(
        RefreshToken(session=session, token_hash=token_digest(raw), created_at=now, expires_at=expires_at)
    )
    return _token_pair(settings, session, raw, expires_at, now)


def _token_pair(
    settings: TokenSettings, session: LoginSession, raw: str, expires_at: datetime, now: datetime
) -> TokenPair:
    user = session.user
    token, payload = issue_access_token(
        settings,
        user_id=user.id,
        username=user.username,
        session_id=session.id,
        session_key=session.session_key,
        session_started=session.created_at,
        now=now,
    )
    return TokenPair(token, raw, payload, unix_time(expires_at), user)
