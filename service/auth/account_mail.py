"""The account's messages: each issues its token (if it has one) and queues the mail in the caller's
transaction, so that the mail goes out exactly when the change that caused it is committed."""

from datetime import datetime

from ..errors import RateLimited
from ..extensions import db
from ..mail import queue_mail
from ..mail.rendering import render_mail
from ..models import User
from .email_tokens import EMAIL_CHANGE, PASSWORD_RESET, VERIFY_EMAIL, EmailSettings, issue_email_token, link
from .throttling import Bucket, take_attempt


def account_mail_bucket(settings: EmailSettings, user: User) -> Bucket:
    """The mails an account may have sent to it in a window (verification, email change)."""
    return Bucket.named(settings.per_account, "account-mail", str(user.id))


def send_verification_mail(settings: EmailSettings, user: User, *, now: datetime) -> None:
    """A verification link for the account's current address (the caller commits)."""
    raw = issue_email_token(settings, user, VERIFY_EMAIL, now=now)
    queue_mail(
        "verify_email",
        to=user.email,
        language=user.language,
        context={"username": user.username, "link": link(settings.verify_url, raw)},
    )


def send_verification_mail_if_allowed(settings: EmailSettings, user: User, *, now: datetime) -> bool:
    """A verification mail under the account's mail limit, committed; False (and no mail) when full."""
    try:
        take_attempt([account_mail_bucket(settings, user)], now)
    except RateLimited:
        return False
    send_verification_mail(settings, user, now=now)
    db.session.commit()
    return True


def send_password_reset_mail(settings: EmailSettings, user: User, raw: str, *, now: datetime) -> None:
    """Store the reset token ``raw`` and queue its link (the caller commits)."""
    issue_email_token(settings, user, PASSWORD_RESET, now=now, raw=raw)
    queue_mail(
        "password_reset",
        to=user.email,
        language=user.language,
        context=_password_reset_context(settings, user.username, raw),
    )


def render_password_reset_mail_only(settings: EmailSettings, raw: str) -> None:
    """Render the reset mail and send nothing: for an address without an account, so that its
    answer costs about what a real one does (rendering is most of the difference)."""
    render_mail("password_reset", "en", _password_reset_context(settings, "", raw))


def _password_reset_context(settings: EmailSettings, username: str, raw: str) -> dict[str, str]:
    return {
        "username": username,
        "link": link(settings.reset_url, raw),
        "minutes": str(settings.lifetimes[PASSWORD_RESET] // 60),
    }


def send_email_change_mail(settings: EmailSettings, user: User, new_email: str, *, now: datetime) -> None:
    """The confirmation link, to the new address (the caller commits)."""
    raw = issue_email_token(settings, user, EMAIL_CHANGE, now=now, new_email=new_email)
    queue_mail(
        "email_change_confirm",
        to=new_email,
        language=user.language,
        context={"username": user.username, "link": link(settings.change_url, raw), "new_email": new_email},
    )


def send_email_changed_notice(user: User, *, old_email: str, new_email: str, requested: bool = False) -> None:
    """Tell the old address that the account's address changed, or that a change was asked for."""
    context = {"username": user.username, "new_email": new_email}
    if requested:
        context["requested"] = "1"
    queue_mail("email_changed_notice", to=old_email, language=user.language, context=context)
