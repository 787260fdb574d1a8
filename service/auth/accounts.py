"""Registration and password login.

Usernames and emails are one namespace of login identifiers: no two accounts share one, in
any case, and a username holding ``@`` must be its own account's email; so a login reaches
at most one account.
"""

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import BadUserInput, EmailNotVerified, InvalidCredentials
from ..extensions import db
from ..models import User, utcnow
from ..uploads import UploadSettings, delete_picture
from . import Auth
from .account_mail import send_verification_mail, send_verification_mail_if_allowed
from .events import record_event
from .passwords import MAX_LENGTH, password_problems
from .sessions import TokenPair, revoke_all_sessions, start_session
from .throttling import (
    Bucket,
    forget_events,
    is_known_client,
    just_filled,
    login_buckets,
    registration_attempts_bucket,
    registration_bucket,
    remember_client,
    take_attempt,
)
from .validation import lookup_key, normalize_email, normalize_username, username_skeleton

USERNAME_TAKEN = "A user with that username already exists."
USERNAME_LOOKS_TAKEN = "A user with a name that looks the same already exists."
EMAIL_TAKEN = "A user with that email already exists."
USERNAME_NOT_OWN_EMAIL = "A username containing @ must be the account's own email address."


def register_user(
    auth: Auth,
    *,
    username: str,
    email: str,
    password: str,
    user_agent: str = "",
    ip: str = "",
    language: str = "en",
) -> TokenPair:
    """Create an account, log it in at once and mail it a verification link (in ``language``).
    Raises ``BadUserInput`` naming each bad field.

    Every attempt counts against ``REGISTRATION_ATTEMPTS_PER_IP`` per client and window, and
    at most ``REGISTRATION_MAX_PER_IP`` accounts are created; both are checked before the
    input is, so a throttled client learns nothing about it. A registration refused for its
    input counts as an attempt, not as an account.
    """
    now = utcnow()
    events = take_attempt(
        [registration_attempts_bucket(auth.throttle, ip), registration_bucket(auth.throttle, ip)], now
    )
    try:
        user = _add_new_account(auth, username, email, password, now=now, language=language)
    except BadUserInput:
        db.session.rollback()
        forget_events(events[1:])
        db.session.commit()
        raise
    remember_client(user.id, ip, now)
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    record_event("LOGIN_SUCCEEDED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    send_verification_mail(auth.email, user, now=now)
    db.session.commit()
    return pair


def _add_new_account(
    auth: Auth, username: str, email: str, password: str, *, now: datetime, language: str
) -> User:
    """Check a new account's input and write its row (not committed)."""
    username, email = checked_new_account(username, email, password)
    user = new_user(auth, username, email, password, date_joined=now, last_login=now, language=language)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone registered the same name or email since the check above.
        db.session.rollback()
        taken = duplicate_problems(username=username, email=email)
        raise BadUserInput(taken or {"username": ["This account already exists."]}) from None
    # No unique index covers a username equal to another account's email, or one that looks
    # like another's. With the row written, SQLite lets no other registration commit, so this
    # second look sees every one that came in since the first (PostgreSQL: see lock_identifiers).
    taken = duplicate_problems(username=username, email=email, exclude_id=user.id)
    if taken:
        raise BadUserInput(taken)
    return user


def checked_new_account(
    username: str, email: str, password: str, *, apply_policy: bool = True
) -> tuple[str, str]:
    """The normal forms of a new account's username and email, or ``BadUserInput`` naming each bad field.

    ``apply_policy=False`` (operators only) still requires a password, but not a good one.
    """
    username, username_problems = normalize_username(username)
    email, email_problems = normalize_email(email)
    if not username_problems and "@" in username and lookup_key(username) != lookup_key(email):
        username_problems = [USERNAME_NOT_OWN_EMAIL]
    fields = {"username": username_problems, "email": email_problems}
    if not password:
        fields["password"] = ["Password is required."]
    elif apply_policy:
        fields["password"] = password_problems(password, username, email)
    checked_username = None if username_problems else username
    checked_email = None if email_problems else email
    lock_identifiers(username=checked_username, email=checked_email)
    taken = duplicate_problems(username=checked_username, email=checked_email)
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
    With ``ACCOUNT_REQUIRE_VERIFIED_EMAIL``, a right password for an unverified account
    gets ``EmailNotVerified`` and a new verification mail (under the account's mail limit).
    """
    # The success is committed with the new session: one transaction (one fsync) fewer per login.
    user = authenticate(auth, username=username, password=password, ip=ip, user_agent=user_agent)
    now = utcnow()
    if auth.email.require_verified and not user.is_verified:
        db.session.commit()  # the right password still clears the failures it counted
        send_verification_mail_if_allowed(auth.email, user, now=now)
        raise EmailNotVerified()
    user.last_login = now
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    record_event("LOGIN_SUCCEEDED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()
    return pair


def authenticate(auth: Auth, *, username: str, password: str, ip: str, user_agent: str = "") -> User:
    """The active user that ``username`` (or email) and ``password`` name, checked under the login
    limits: ``InvalidCredentials`` or ``RateLimited`` otherwise. The success is left for the caller
    to commit (``tokenAuth`` and the staff console count attempts in the same buckets through this)."""
    if len(password) > MAX_LENGTH or len(username) > 1024:
        raise InvalidCredentials()
    user = find_user_by_login(username)
    account_key = user.username_key if user is not None else lookup_key(username.strip())
    return verify_password_throttled(
        auth, user, password, account_key=account_key, ip=ip, user_agent=user_agent, commit=False
    )


def verify_password_throttled(
    auth: Auth,
    user: User | None,
    password: str,
    *,
    account_key: str,
    ip: str,
    user_agent: str = "",
    commit: bool = True,
) -> User:
    """Check ``password`` for ``user`` under the brute-force limits; return the user when it matches.

    The attempt is counted before the hash is checked, so parallel guesses
    count against each other; a success uncounts it, resets the
    account+client counter and remembers the client's network. A client
    whose network logged in to the account within ``KNOWN_CLIENT_DAYS`` is
    not refused by a full account-wide bucket (its failures still count
    there), so strangers' guesses cannot lock the owner out. Upgrades a
    hash made with older parameters. A failure is logged (``LOGIN_FAILED``,
    and ``LOCKED_OUT`` when it fills one of the account's buckets) and committed.
    """
    now = utcnow()
    account_ip, account, client = login_buckets(auth.throttle, account_key, ip)
    # The same query for a missing account, so that the answer takes as long.
    if is_known_client(user.id if user is not None else 0, ip, now):
        attempt = take_attempt([account_ip, client], now, uncapped=[account])
    else:
        attempt = take_attempt([account_ip, account, client], now)
    if user is None:
        auth.passwords.waste_time(password)
        _record_failure(None, [account_ip, account], ip=ip, user_agent=user_agent, now=now)
        raise InvalidCredentials()
    if not auth.passwords.verify(user.password_hash, password) or not user.is_active:
        _record_failure(user.id, [account_ip, account], ip=ip, user_agent=user_agent, now=now)
        raise InvalidCredentials()
    forget_events(attempt, reset=[account_ip])
    remember_client(user.id, ip, now)
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = auth.passwords.hash(password)
    if commit:  # otherwise the caller commits this success with its own changes
        db.session.commit()
    return user


def _record_failure(
    user_id: int | None, account_buckets: list[Bucket], *, ip: str, user_agent: str, now: datetime
) -> None:
    """Log a failed password check, and the lockout it starts if it filled one of the account's
    buckets. Commits: the request answers an error, the failure stays on record. The buckets are
    counted for a missing account too, so that its answer takes as long."""
    record_event("LOGIN_FAILED", user_id=user_id, ip=ip, user_agent=user_agent, now=now)
    locked = [bucket for bucket in account_buckets if just_filled(bucket, now)]
    if locked and user_id is not None:
        record_event("LOCKED_OUT", user_id=user_id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()


def confirm_password(auth: Auth, user: User, password: str, *, ip: str, user_agent: str = "") -> None:
    """A signed-in user re-entering their password, under the same limits as a login."""
    if len(password) > MAX_LENGTH:
        raise InvalidCredentials("The password is incorrect.")
    try:
        verify_password_throttled(
            auth, user, password, account_key=user.username_key, ip=ip, user_agent=user_agent
        )
    except InvalidCredentials:
        raise InvalidCredentials("The password is incorrect.") from None


def change_password(
    auth: Auth, user: User, *, old_password: str, new_password: str, user_agent: str = "", ip: str = ""
) -> TokenPair:
    """Replace the password, end every session (the current one too) and start a fresh one."""
    confirm_password(auth, user, old_password, ip=ip, user_agent=user_agent)
    problems = password_problems(new_password, user.username, user.email)
    if not problems and new_password == old_password:
        problems = ["The new password must differ from the current one."]
    if problems:
        raise BadUserInput({"newPassword": problems})
    now = utcnow()
    user.password_hash = auth.passwords.hash(new_password)
    revoke_all_sessions(user, now=now)
    record_event("PASSWORD_CHANGED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def delete_account(
    auth: Auth, user: User, *, password: str, ip: str, uploads: UploadSettings, user_agent: str = ""
) -> None:
    """Check the password, then remove the user, their sessions and their picture file
    (their security events stay, until they age out)."""
    confirm_password(auth, user, password, ip=ip, user_agent=user_agent)
    picture = user.profile_picture
    record_event("ACCOUNT_DELETED", user_id=user.id, ip=ip, user_agent=user_agent)
    db.session.delete(user)
    db.session.commit()
    delete_picture(uploads.folder, picture)


def find_user_by_login(login: str) -> User | None:
    """The one user whose username or email matches ``login`` case-insensitively.

    New accounts cannot share an identifier; should rows from before that rule
    still do, the account with that email wins over one that took it as its name.
    """
    key = lookup_key(login.strip())
    if "\x00" in key:
        return None  # no stored name holds NUL, and PostgreSQL refuses it even in a comparison
    candidates = db.session.scalars(
        sa.select(User).where(sa.or_(User.username_key == key, User.email_key == key))
    ).all()
    for user in candidates:
        if user.email_key == key:
            return user
    return candidates[0] if candidates else None


def duplicate_problems(
    *, username: str | None, email: str | None, exclude_id: int | None = None
) -> dict[str, list[str]]:
    """``BadUserInput`` fields for a username or email that another account already has.

    Either one taken as another account's username or email counts, and so does a
    username that looks like another's (the same confusable skeleton).
    """
    keys = {lookup_key(value) for value in (username, email) if value is not None}
    if not keys:
        return {}
    condition = sa.or_(User.username_key.in_(keys), User.email_key.in_(keys))
    if username is not None:
        condition = sa.or_(condition, User.username_skeleton == username_skeleton(username))
    query = sa.select(User.username_key, User.email_key, User.username_skeleton).where(condition)
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    taken = db.session.execute(query).all()
    problems: dict[str, list[str]] = {}
    if username is not None:
        key = lookup_key(username)
        if any(key in (row.username_key, row.email_key) for row in taken):
            problems["username"] = [USERNAME_TAKEN]
        elif any(row.username_skeleton == username_skeleton(username) for row in taken):
            problems["username"] = [USERNAME_LOOKS_TAKEN]
    if email is not None:
        key = lookup_key(email)
        if any(key in (row.username_key, row.email_key) for row in taken):
            problems["email"] = [EMAIL_TAKEN]
    return problems


def lock_identifiers(*, username: str | None = None, email: str | None = None) -> None:
    """Make registrations and email changes claiming the same identifiers take turns until they commit.

    PostgreSQL runs writers side by side, and no unique index spans the username and
    email columns or the skeletons: a transaction-scoped advisory lock per identifier
    makes the check that follows see the other's row. SQLite has one writer at a time,
    and registration looks again once its row is written.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    names = [f"identifier\x1f{lookup_key(value)}" for value in (username, email) if value is not None]
    if username is not None:
        names.append(f"skeleton\x1f{username_skeleton(username)}")
    digests = sorted(hashlib.sha256(name.encode()).hexdigest() for name in names)
    for digest in digests:
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(int(digest[:15], 16))))
