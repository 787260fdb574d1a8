"""Outgoing mail: messages rendered in the user's language, kept in an outbox, delivered after the commit.

``queue_mail`` adds a message to the outbox in the caller's transaction; a
sender (a thread in each web worker, or ``flask mail send``) delivers it once
that transaction has committed, retrying with backoff while the mail server
is down. Nothing here ever talks to the mail server inside a request.
"""

from email.utils import make_msgid

from flask import current_app
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from ..extensions import db
from ..models import MailMessage
from .rendering import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, render_mail
from .sender import MAIL_QUEUED, send_due, start_sender, start_sender_here, stop_sender

__all__ = [
    "SUPPORTED_LANGUAGES",
    "negotiate_language",
    "queue_mail",
    "send_due",
    "start_sender",
    "start_sender_here",
    "stop_sender",
]


def negotiate_language(accept_language: str | None) -> str:
    """The best of SUPPORTED_LANGUAGES for an Accept-Language header value ("en" when none fits).

    Never raises: a malformed header means English."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    try:
        accepted = parse_accept_header(accept_language, LanguageAccept)
    except Exception:  # a header is the client's to garble; English then
        return DEFAULT_LANGUAGE
    # Most wanted first; a regional tag (fa-IR) counts for its language, so "fa-IR, en;q=0.5" is fa.
    for tag, quality in accepted:
        language = tag.replace("_", "-").split("-")[0].lower()
        if quality > 0 and language in SUPPORTED_LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def queue_mail(template: str, *, to: str, language: str, context: dict[str, str]) -> MailMessage:
    """Render templates/mail/<template>.txt and .html (and the subject) in `language` and add a row
    to the outbox in the current db.session; the caller commits (same transaction as the change).
    After that commit the in-worker sender is woken to deliver it."""
    rendered = render_mail(template, language, context)
    sender_domain = current_app.config["MAIL_FROM_ADDRESS"].rpartition("@")[2]
    message = MailMessage(
        to_address=to,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        language=language if language in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE,
        template=template,
        message_id=make_msgid(domain=sender_domain),
        status="pending",
        attempts=0,
        last_error="",
    )
    db.session.add(message)
    db.session.info[MAIL_QUEUED] = True
    return message
