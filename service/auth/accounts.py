"""Registration and password login."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import BadUserInput, InvalidCredentials
from ..extensions import db
from ..models import User, utcnow
from ..uploads import UploadSettings, delete_picture
from . import Auth
from .passwords import MAX_LENGTH, password_problems
from .sessions import TokenPair, revoke_all_sessions, start_session
from .throttling import forget_events, login_buckets, registration_bucket, take_attempt
from .validation import lookup_key, normalize_email, normalize_username, username_skeleton


def register_user(
    auth: Auth, *, username: str, email: str, password: str, user_agent: str = "", ip: str = ""
) -> TokenPair:
    """Create an account and log it in at once. Raises ``BadUserInput`` naming each bad field.

    At most ``REGISTRATION_MAX_PER_IP`` accounts are created per client address and window;
    a registration refused for its input does not count.
    """
    username, email = checked_new_account(username, email, password)
    now = utcnow()
    registration = take_attempt([registration_bucket(auth.throttle, ip)], now)
    user = new_user(auth, username, email, password, date_joined=now, last_login=now)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone registered the same name or email since the check above.
        db.session.rollback()
        forget_events(registration)
        db.session.commit()
        taken = duplicate_problems(username=username, email=email)
        raise BadUserInput(taken or {"username": ["This account already exists."]}) from None
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def checked_new_account(
    username: str, email: str, password: str, *, apply_policy: bool = True
) -> tuple[str, str]:
    """The normal forms of a new account's username and email, or ``BadUserInput`` naming each bad field.

    ``apply_policy=False`` (operators only) still requires a password, but not a good one.
    """
    username, username_problems = normalize_username(username)
    email, email_problems = normalize_email(email)
    fields = {"username": username_problems, "email": email_problems}
    if not password:
        fields["password"] = ["Password is required."]
    elif apply_policy:
        fields["password"] = password_problems(password, username, email)
    taken = duplicate_problems(
        username=None if username_problems else username, email=None if email_problems else email
    )
    for name, problems in taken.items():
        fields[name] += problems
    if any(fields.values()):
        raise BadUserInput({name: problems for name, problems in fields.items() if problems})
    return username, email


def new_user(auth: Auth, username: str, email: str, password: str, **columns: Any) -> User:
    """A ``User`` for checked names, its password hashed (not yet added to the session)."""
    return User(
        username=username,
        username_key=lookup_key(username),
        username_skeleton=username_skeleton(username),
        email=email,
        email_key=lookup_key(email),
        password_hash=auth.passwords.hash(password),
        **columns,
    )


def log_in(auth: Auth, *, username: str, password: str, user_agent: str = "", ip: str = "") -> TokenPair:
    """Check a username (or email) and password and open a session.

    Raises ``InvalidCredentials`` with one message, after about the same work,
    whether the account is missing, inactive or the password is wrong; and
    ``RateLimited`` once the failures for the account or the client pile up.
    """
    if len(password) > MAX_LENGTH or len(username) > 1024:
        raise InvalidCredentials()
    user = find_user_by_login(username)
    account_key = user.username_key if user is not None else lookup_key(username.strip())
    verify_password_throttled(auth, user, password, account_key=account_key, ip=ip)
    now = utcnow()
    user.last_login = now
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def verify_password_throttled(
    auth: Auth, user: User | None, password: str, *, account_key: str, ip: str
) -> User:
    """Check ``password`` for ``user`` under the brute-force limits; return the user when it matches.

    The attempt is counted before the hash is checked, so parallel guesses
    count against each other; a success uncounts it and resets the
    account+client counter. Upgrades a hash made with older parameters.
    """
    buckets = login_buckets(auth.throttle, account_key, ip)
    attempt = take_attempt(buckets, utcnow())
    if user is None:
        auth.passwords.waste_time(password)
        raise InvalidCredentials()
    if not auth.passwords.verify(user.password_hash, password) or not user.is_active:
        raise InvalidCredentials()
    forget_events(attempt, reset=buckets[:1])
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = auth.passwords.hash(password)
    db.session.commit()
    return user


def confirm_password(auth: Auth, user: User, password: str, *, ip: str) -> None:
    """A signed-in user re-entering their password, under the same limits as a login."""
    if len(password) > MAX_LENGTH:
        raise InvalidCredentials("The password is incorrect.")
    try:
        verify_password_throttled(auth, user, password, account_key=user.username_key, ip=ip)
    except InvalidCredentials:
        raise InvalidCredentials("The password is incorrect.") from None


def change_password(
    auth: Auth, user: User, *, old_password: str, new_password: str, user_agent: str = "", ip: str = ""
) -> TokenPair:
    """Replace the password, end every session (the current one too) and start a fresh one."""
    confirm_password(auth, user, old_password, ip=ip)
    problems = password_problems(new_password, user.username, user.email)
    if not problems and new_password == old_password:
        problems = ["The new password must differ from the current one."]
    if problems:
        raise BadUserInput({"newPassword": problems})
    now = utcnow()
    user.password_hash = auth.passwords.hash(new_password)
    revoke_all_sessions(user, now=now)
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def delete_account(auth: Auth, user: User, *, password: str, ip: str, uploads: UploadSettings) -> None:
    """Check the password, then remove the user, their sessions and their picture file."""
    confirm_password(auth, user, password, ip=ip)
    picture = user.profile_picture
    db.session.delete(user)
    db.session.commit()
    delete_picture(uploads.folder, picture)


def find_user_by_login(login: str) -> User | None:
    """The user whose username, or failing that whose email, matches ``login`` case-insensitively."""
    key = lookup_key(login.strip())
    if "\x00" in key:
        return None  # no stored name holds NUL, and PostgreSQL refuses it even in a comparison
    candidates = db.session.scalars(
        sa.select(User).where(sa.or_(User.username_key == key, User.email_key == key))
    ).all()
    for user in candidates:
        if user.username_key == key:
            return user
    return candidates[0] if candidates else None


def duplicate_problems(*, username: str | None, email: str | None) -> dict[str, list[str]]:
    """``BadUserInput`` fields for a username or email that another account already has."""
    conditions = []
    if username is not None:
        conditions.append(User.username_key == lookup_key(username))
    if email is not None:
        conditions.append(User.email_key == lookup_key(email))
    taken = db.session.execute(sa.select(User.username_key, User.email_key).where(sa.or_(*conditions))).all()
    problems: dict[str, list[str]] = {}
    if username is not None and any(row.username_key == lookup_key(username) for row in taken):
        problems["username"] = ["A user with that username already exists."]
    if email is not None and any(row.email_key == lookup_key(email) for row in taken):
        problems["email"] = ["A user with that email already exists."]
    return problems
