"""What staff and operators do to other accounts: create superusers, reset passwords, (de)activate, purge."""

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..errors import BadUserInput
from ..extensions import db
from ..models import EmailToken, KnownClient, LoginSession, RateEvent, User, utcnow
from . import Auth
from .accounts import checked_new_account, new_user
from .console import end_console_sessions
from .events import record_event
from .passwords import password_problems
from .sessions import revoke_all_sessions, wipe_sealed_successors
from .throttling import KNOWN_CLIENT_DAYS
from .validation import lookup_key, parse_id


def create_superuser(
    auth: Auth, *, username: str, email: str, password: str, allow_weak: bool = False
) -> User:
    """A staff superuser; the password policy applies unless ``allow_weak``. Commits."""
    username, email = checked_new_account(username, email, password, apply_policy=not allow_weak)
    user = new_user(auth, username, email, password, is_staff=True, is_superuser=True)
    db.session.add(user)
    db.session.commit()
    return user


def set_password(
    auth: Auth,
    user: User,
    password: str,
    *,
    allow_weak: bool = False,
    actor_id: int | None = None,
    ip: str = "",
    user_agent: str = "",
) -> None:
    """Set a new password and end every session of the user. Commits.

    ``actor_id``, ``ip`` and ``user_agent`` (for the log): the staff member at the console and
    their client; none for an operator's command.
    """
    problems = ["Password is required."] if not password else []
    if password and not allow_weak:
        problems = password_problems(password, user.username, user.email)
    if problems:
        raise BadUserInput({"password": problems})
    now = utcnow()
    user.password_hash = auth.passwords.hash(password)
    revoke_all_sessions(user, now=now)
    record_event(
        "PASSWORD_CHANGED", user_id=user.id, actor_id=actor_id, ip=ip, user_agent=user_agent, now=now
    )
    db.session.commit()


def set_active(
    user: User, active: bool, *, actor_id: int | None = None, ip: str = "", user_agent: str = ""
) -> User:
    """Activate or deactivate; deactivation ends the user's sessions at once. Commits.

    A change is logged (``ACTIVE_CHANGED``, by ``actor_id`` from ``ip``; none for an operator's
    command); setting the flag it already has logs nothing.
    """
    now = utcnow()
    if user.is_active != active:
        record_event(
            "ACTIVE_CHANGED", user_id=user.id, actor_id=actor_id, ip=ip, user_agent=user_agent, now=now
        )
    user.is_active = active
    if not active:
        revoke_all_sessions(user, now=now)
    db.session.commit()
    return user


def set_staff(
    user: User, staff: bool, *, actor_id: int | None = None, ip: str = "", user_agent: str = ""
) -> User:
    """Grant or withdraw staff rights; withdrawing them ends the user's staff console sign-ins. Commits.

    A change is logged (``STAFF_CHANGED``) as ``set_active`` logs its own.
    """
    now = utcnow()
    if user.is_staff != staff:
        record_event(
            "STAFF_CHANGED", user_id=user.id, actor_id=actor_id, ip=ip, user_agent=user_agent, now=now
        )
    user.is_staff = staff
    if not user.is_privileged:
        end_console_sessions(user, now=now)
    db.session.commit()
    return user


def mark_email_verified(user: User) -> bool:
    """An operator vouches for the account's address (``flask users verify-email``); False if it
    was verified already. Logged as ``EMAIL_VERIFIED`` with no address or agent. Commits."""
    if user.is_verified:
        return False
    user.is_verified = True
    record_event("EMAIL_VERIFIED", user_id=user.id, now=utcnow())
    db.session.commit()
    return True


def find_user(login: str) -> User | None:
    """A user by username (any case) or numeric id, for operators' commands."""
    key = lookup_key(login.strip())
    user = db.session.scalar(sa.select(User).where(User.username_key == key))
    if user is None and (user_id := parse_id(login)) is not None:
        user = db.session.get(User, user_id)
    return user


def purge_sessions(
    *, refresh_lifetime: int, session_max_lifetime: int, longest_window: int, reuse_interval: int
) -> dict[str, int]:
    """Delete ended sessions (revoked, past their absolute lifetime, or idle past the refresh
    lifetime) with their refresh tokens, rate-limit events older than every window, known
    client networks unused for 30 days, and mailed tokens used or expired; forget sealed
    successors past the reuse window. Commits.
    """
    now = utcnow()
    last_active = sa.func.coalesce(LoginSession.last_refreshed_at, LoginSession.created_at)
    ended = sa.or_(
        LoginSession.revoked_at.is_not(None),
        LoginSession.created_at <= _ago(now, session_max_lifetime),
        last_active <= _ago(now, refresh_lifetime),
    )
    sessions = db.session.execute(sa.delete(LoginSession).where(ended)).rowcount
    events = db.session.execute(
        sa.delete(RateEvent).where(RateEvent.created_at <= _ago(now, longest_window))
    ).rowcount
    known_clients = db.session.execute(
        sa.delete(KnownClient).where(KnownClient.last_login_at <= _ago(now, KNOWN_CLIENT_DAYS * 24 * 3600))
    ).rowcount
    email_tokens = db.session.execute(
        sa.delete(EmailToken).where(sa.or_(EmailToken.used_at.is_not(None), EmailToken.expires_at <= now))
    ).rowcount
    wipe_sealed_successors(reuse_interval, now=now)
    db.session.commit()
    return {
        "sessions": sessions,
        "rate_events": events,
        "known_clients": known_clients,
        "email_tokens": email_tokens,
    }


def _ago(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)


PAGE_MAX = 100
SEARCH_MAX_LENGTH = 254


def user_filter(search: str | None) -> sa.ColumnElement[bool]:
    """Users whose username, email, first or last name contains ``search``, in any case."""
    if not search:
        return sa.true()
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    # The keys are stored case-folded by Python; the names are folded by the database's lower(),
    # on both sides, since PostgreSQL's lower() keeps what casefold() changes (ß stays ß).
    key_pattern = f"%{escaped.casefold()}%"
    name_pattern = sa.func.lower(f"%{escaped}%")
    return sa.or_(
        User.username_key.like(key_pattern, escape="\\"),
        User.email_key.like(key_pattern, escape="\\"),
        sa.func.lower(User.first_name).like(name_pattern, escape="\\"),
        sa.func.lower(User.last_name).like(name_pattern, escape="\\"),
    )


def users_page(
    *,
    first: int,
    after_id: int | None,
    search: str | None,
    active: bool | None = None,
    staff: bool | None = None,
) -> tuple[list[User], bool]:
    """One page of users in id order, after ``after_id``; and whether more follow.

    Keyset pagination on the primary key: a page costs the same however deep it is.
    ``active`` and ``staff``, when given, keep only the users whose flag has that value.
    """
    query = sa.select(User).where(user_filter(search)).order_by(User.id).limit(first + 1)
    if active is not None:
        query = query.where(User.is_active == active)
    if staff is not None:
        query = query.where(User.is_staff == staff)
    if after_id is not None:
        query = query.where(User.id > after_id)
    users = list(db.session.scalars(query))
    return users[:first], len(users) > first


def count_users(search: str | None) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(user_filter(search))) or 0
