"""Staff console sign-ins and who may do what there. Plain Python: the pages live in ``service.console``.

A console sign-in opens an ordinary ``LoginSession`` (listed with the user's
other sessions) and a ``ConsoleSession`` on it that holds the SHA-256 digest
of the cookie's random token. A console request is let in only while the
console session has not expired, its login session is not revoked and its
user is active and staff or superuser, all read by one query every time; so
deactivation, a new password, logging out everywhere, revoking that session
and losing staff rights each end it at once, with no code of their own. The
login session carries no refresh token and no access token names it: nothing
at ``/graphql`` can use it.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..errors import Forbidden, InvalidCredentials
from ..extensions import db
from ..models import ConsoleSession, LoginSession, User, utcnow
from . import Auth
from .accounts import authenticate
from .events import record_event
from .sessions import open_login_session, token_digest

# What ``secrets.token_urlsafe(32)`` makes; any other cookie value is refused unread.
CONSOLE_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
NOT_STAFF_OR_WRONG = "Enter the username and password of an active staff account."
# What a console user may do to an account; the first four change the account itself.
ACTIONS = ("deactivate", "activate", "staff", "password", "revoke-session", "revoke-all")
NOT_ON_ONESELF = frozenset({"deactivate", "activate", "staff", "password"})


@dataclass(frozen=True)
class ConsoleVisit:
    """A request's live console sign-in: the staff member, and the session to end on sign-out."""

    user: User
    session: ConsoleSession
    token: str


def sign_in_to_console(
    auth: Auth, *, username: str, password: str, lifetime: int, user_agent: str = "", ip: str = ""
) -> ConsoleVisit:
    """Check the credentials as ``tokenAuth`` does (same limits, same buckets), let in only active
    staff or superusers, and open a console session ending ``lifetime`` seconds from now. Commits.

    A non-staff account with the right password is refused with the same message as a wrong one.
    """
    try:
        user = authenticate(auth, username=username, password=password, ip=ip, user_agent=user_agent)
    except InvalidCredentials:
        raise InvalidCredentials(NOT_STAFF_OR_WRONG) from None
    if not user.is_privileged:
        db.session.commit()  # the password was right: its attempt is uncounted, as for tokenAuth
        raise InvalidCredentials(NOT_STAFF_OR_WRONG)
    now = utcnow()
    end_console_sessions(user, now=now, only_expired=True)  # so they leave the live list
    user.last_login = now
    login_session = open_login_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    record_event("LOGIN_SUCCEEDED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    token = secrets.token_urlsafe(32)
    session = ConsoleSession(
        login_session=login_session,
        token_hash=token_digest(token),
        expires_at=now + timedelta(seconds=lifetime),
    )
    db.session.add(session)
    db.session.commit()
    return ConsoleVisit(user, session, token)


def console_visit(token: str) -> ConsoleVisit | None:
    """The live console sign-in of a cookie's ``token``; ``None`` when there is none any more.

    A sign-in found past its expiry has its login session ended, so that it
    stops being listed among the user's live sessions.
    """
    if not CONSOLE_TOKEN_SHAPE.fullmatch(token):
        return None
    row = db.session.execute(
        sa.select(ConsoleSession, LoginSession, User)
        .join(ConsoleSession.login_session)
        .join(LoginSession.user)
        .where(ConsoleSession.token_hash == token_digest(token))
    ).one_or_none()
    if row is None:
        return None
    session, login_session, user = row
    if login_session.revoked_at is not None:
        return None
    now = utcnow()
    if session.expires_at <= now:
        login_session.revoked_at = now
        db.session.commit()
        return None
    if not (user.is_active and user.is_privileged):
        # Ended for good: rights given back later do not bring this sign-in back.
        login_session.revoked_at = now
        db.session.commit()
        return None
    return ConsoleVisit(user, session, token)


def sign_out_of_console(visit: ConsoleVisit, *, ip: str = "", user_agent: str = "") -> None:
    """End the console sign-in (its login session). Commits."""
    now = utcnow()
    visit.session.login_session.revoked_at = now
    record_event("LOGGED_OUT", user_id=visit.user.id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()


def console_session_ids(user: User) -> set[int]:
    """The ids of the user's login sessions that are console sign-ins."""
    query = (
        sa.select(ConsoleSession.login_session_id)
        .join(ConsoleSession.login_session)
        .where(LoginSession.user_id == user.id)
    )
    return set(db.session.scalars(query))


def check_console_action(actor: User, target: User, action: str) -> None:
    """Raise ``Forbidden`` unless ``actor`` may do ``action`` (one of ``ACTIONS``) to ``target``.

    Staff rights are granted and withdrawn by superusers only; staff cannot
    act on a superuser; nobody changes their own flags or sets their own
    password here (``changePassword`` asks for the current one).
    """
    if action == "staff" and not actor.is_superuser:
        raise Forbidden("Only superusers may grant or withdraw staff rights.")
    if target.is_superuser and not actor.is_superuser:
        raise Forbidden("Staff cannot act on a superuser's account.")
    if target.id == actor.id and action in NOT_ON_ONESELF:
        raise Forbidden("You cannot change your own account from the console.")


def allowed_actions(actor: User, target: User) -> set[str]:
    """The ``ACTIONS`` that ``actor`` may do to ``target`` (the page shows only their buttons)."""
    allowed = set()
    for action in ACTIONS:
        try:
            check_console_action(actor, target, action)
        except Forbidden:
            continue
        allowed.add(action)
    return allowed


def end_console_sessions(user: User, *, now: datetime, only_expired: bool = False) -> None:
    """End the user's console sign-ins (their login sessions), or only those past their expiry. No commit."""
    ended = (
        sa.select(ConsoleSession.login_session_id)
        .join(ConsoleSession.login_session)
        .where(LoginSession.user_id == user.id)
    )
    if only_expired:
        ended = ended.where(ConsoleSession.expires_at <= now)
    db.session.execute(
        sa.update(LoginSession)
        .where(LoginSession.id.in_(ended), LoginSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
