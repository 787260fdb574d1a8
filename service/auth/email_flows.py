"""The email flows: verifying the address, resetting a forgotten password, changing the address.

Every flow records its security event and queues its mail in the transaction of the change.
"""

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import BadUserInput
from ..extensions import db
from ..models import User, utcnow
from . import Auth
from .account_mail import (
    account_mail_bucket,
    render_password_reset_mail_only,
    send_email_change_mail,
    send_email_changed_notice,
    send_password_reset_mail,
    send_verification_mail,
)
from .accounts import confirm_password, duplicate_problems, lock_identifiers
from .email_tokens import (
    EMAIL_CHANGE,
    PASSWORD_RESET,
    VERIFY_EMAIL,
    find_email_token,
    new_email_token,
    retire_email_tokens,
    use_email_token,
)
from .events import record_event
from .passwords import password_problems
from .sessions import revoke_all_sessions
from .throttling import Bucket, client_network, take_attempt
from .validation import lookup_key, normalize_email

ALREADY_YOURS = "This is already the account's email address."
TAKEN_SINCE = "Another account has taken this address since the link was sent."


def request_verification_mail(auth: Auth, user: User) -> None:
    """Mail a new verification link, under the account's mail limit; none to a verified account. Commits."""
    if user.is_verified:
        return
    now = utcnow()
    take_attempt([account_mail_bucket(auth.email, user)], now)
    send_verification_mail(auth.email, user, now=now)
    db.session.commit()


def verify_account(raw: str, *, ip: str = "", user_agent: str = "") -> User:
    """Mark the address the link was sent to verified; the link is used up. Commits."""
    now = utcnow()
    record = find_email_token(raw, VERIFY_EMAIL, now=now)
    use_email_token(record, now=now)
    user = record.user
    user.is_verified = True
    record_event("EMAIL_VERIFIED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()
    return user


def request_password_reset(auth: Auth, email: str, *, ip: str = "", user_agent: str = "") -> None:
    """Mail a reset link if an active account has this address; the same answer, limits and
    about the same work otherwise (a token is made and hashed, the same statements run). Commits.

    Counted per client and per address typed, whether or not it has an account.
    """
    email, problems = normalize_email(email)
    if problems:
        raise BadUserInput({"email": problems})
    now, settings, key = utcnow(), auth.email, lookup_key(email)
    take_attempt(
        [
            Bucket.named(settings.reset_per_ip, "password-reset-ip", client_network(ip)),
            Bucket.named(settings.reset_per_email, "password-reset-email", key),
        ],
        now,
    )
    user = db.session.scalar(sa.select(User).where(User.email_key == key))
    raw = new_email_token()  # made either way, like the statements below
    if user is not None and user.is_active:
        send_password_reset_mail(settings, user, raw, now=now)
    else:
        render_password_reset_mail_only(settings, raw)
        retire_email_tokens(user.id if user is not None else 0, PASSWORD_RESET, now=now)
    # An address without an account is logged too (user_id None): someone is probing it.
    record_event(
        "PASSWORD_RESET_REQUESTED",
        user_id=user.id if user is not None else None,
        ip=ip,
        user_agent=user_agent,
        now=now,
    )
    db.session.commit()


def reset_password(auth: Auth, raw: str, new_password: str, *, ip: str = "", user_agent: str = "") -> None:
    """Set a new password with a reset link: every session ends, the link is used up, and the
    address counts as verified (its owner read the mail). A refused password uses up nothing. Commits."""
    now = utcnow()
    record = find_email_token(raw, PASSWORD_RESET, now=now)
    user = record.user
    problems = password_problems(new_password, user.username, user.email)
    if problems:
        raise BadUserInput({"newPassword": problems})
    use_email_token(record, now=now)
    user.password_hash = auth.passwords.hash(new_password)
    user.is_verified = True
    revoke_all_sessions(user, now=now)
    record_event("PASSWORD_RESET", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()


def request_email_change(
    auth: Auth, user: User, *, new_email: str, password: str, ip: str = "", user_agent: str = ""
) -> None:
    """Check the password and mail a confirmation link to the new address, and a notice to the
    current one; the address changes only when the link is used. Commits."""
    confirm_password(auth, user, password, ip=ip)
    email, problems = normalize_email(new_email)
    if not problems and lookup_key(email) == user.email_key:
        problems = [ALREADY_YOURS]
    elif not problems:
        problems = duplicate_problems(username=None, email=email, exclude_id=user.id).get("email", [])
    if problems:
        raise BadUserInput({"newEmail": problems})
    now = utcnow()
    take_attempt([account_mail_bucket(auth.email, user)], now)
    send_email_change_mail(auth.email, user, email, now=now)
    send_email_changed_notice(user, old_email=user.email, new_email=email, requested=True)
    record_event("EMAIL_CHANGE_REQUESTED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()


def confirm_email_change(raw: str, *, ip: str = "", user_agent: str = "") -> User:
    """Move the account to the address the link was sent to, now verified, and tell the old
    address. ``BAD_USER_INPUT`` (on ``token``) if another account took the address meanwhile. Commits."""
    now = utcnow()
    record = find_email_token(raw, EMAIL_CHANGE, now=now)
    user, new_email = record.user, record.new_email or ""
    lock_identifiers(email=new_email)
    if duplicate_problems(username=None, email=new_email, exclude_id=user.id):
        raise BadUserInput({"token": [TAKEN_SINCE]})
    use_email_token(record, now=now)
    old_email = user.email
    user.email, user.email_key, user.is_verified = new_email, lookup_key(new_email), True
    send_email_changed_notice(user, old_email=old_email, new_email=new_email)
    record_event("EMAIL_CHANGED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)
    try:
        db.session.commit()
    except IntegrityError:  # taken between the check and the commit
        db.session.rollback()
        raise BadUserInput({"token": [TAKEN_SINCE]}) from None
    return user
