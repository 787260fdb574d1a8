"""Registration and password login."""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import BadUserInput, InvalidCredentials
from ..extensions import db
from ..models import User, utcnow
from . import Auth
from .passwords import MAX_LENGTH, password_problems
from .sessions import TokenPair, start_session
from .validation import lookup_key, normalize_email, normalize_username


def register_user(
    auth: Auth, *, username: str, email: str, password: str, user_agent: str = "", ip: str = ""
) -> TokenPair:
    """Create an account and log it in at once. Raises ``BadUserInput`` naming each bad field."""
    username, username_problems = normalize_username(username)
    email, email_problems = normalize_email(email)
    fields = {"username": username_problems, "email": email_problems}
    fields["password"] = password_problems(password, username, email)
    if not username_problems or not email_problems:
        _add_duplicate_problems(fields, username, email)
    if any(fields.values()):
        raise BadUserInput({name: problems for name, problems in fields.items() if problems})

    now = utcnow()
    user = User(
        username=username,
        username_key=lookup_key(username),
        email=email,
        email_key=lookup_key(email),
        password_hash=auth.passwords.hash(password),
        date_joined=now,
        last_login=now,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone registered the same name or email since the check above.
        db.session.rollback()
        fields = {}
        _add_duplicate_problems(fields, username, email)
        raise BadUserInput(fields or {"username": ["This account already exists."]}) from None
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def log_in(auth: Auth, *, username: str, password: str, user_agent: str = "", ip: str = "") -> TokenPair:
    """Check a username (or email) and password and open a session.

    Raises ``InvalidCredentials`` with one message, after about the same work,
    whether the account is missing, inactive or the password is wrong.
    """
    if len(password) > MAX_LENGTH or len(username) > 1024:
        raise InvalidCredentials()
    user = find_user_by_login(username)
    if user is None:
        auth.passwords.waste_time(password)
        raise InvalidCredentials()
    if not auth.passwords.verify(user.password_hash, password) or not user.is_active:
        raise InvalidCredentials()
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = auth.passwords.hash(password)
    now = utcnow()
    user.last_login = now
    pair = start_session(auth.tokens, user, now=now, user_agent=user_agent, ip=ip)
    db.session.commit()
    return pair


def find_user_by_login(login: str) -> User | None:
    """The user whose username, or failing that whose email, matches ``login`` case-insensitively."""
    key = lookup_key(login.strip())
    candidates = db.session.scalars(
        sa.select(User).where(sa.or_(User.username_key == key, User.email_key == key))
    ).all()
    for user in candidates:
        if user.username_key == key:
            return user
    return candidates[0] if candidates else None


def _add_duplicate_problems(fields: dict[str, list[str]], username: str, email: str) -> None:
    username_key, email_key = lookup_key(username), lookup_key(email)
    taken = db.session.execute(
        sa.select(User.username_key, User.email_key).where(
            sa.or_(User.username_key == username_key, User.email_key == email_key)
        )
    ).all()
    if any(row.username_key == username_key for row in taken):
        fields.setdefault("username", []).append("A user with that username already exists.")
    if any(row.email_key == email_key for row in taken):
        fields.setdefault("email", []).append("A user with that email already exists.")
