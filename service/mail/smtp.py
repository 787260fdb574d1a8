"""Talking to the mail server: ``SMTP_URL`` parsed, one message built and handed over."""

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from ..models import MailMessage

MAX_ERROR_LENGTH = 500


class StartTLSMissing(smtplib.SMTPException):
    """The server does not offer STARTTLS, and it is not on this machine: the password stays unsent."""


def build_email(message: MailMessage, mail_from: str) -> EmailMessage:
    """The MIME message of an outbox row: a plain-text part and an HTML alternative."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = mail_from
    email["To"] = message.to_address
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message.message_id
    # RFC 3834: automatic mail; auto-responders should not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text_body)
    email.add_alternative(message.html_body, subtype="html")
    email["Content-Language"] = message.language  # after set_content, which drops Content-* headers
    return email


def deliver(email: EmailMessage, smtp_url: str, timeout: float) -> None:
    """Hand ``email`` to the server of ``smtp_url``; raises OSError or SMTPException on any failure.

    ``smtp://`` upgrades with STARTTLS (required unless the server is on a loopback
    address, such as a local relay); ``smtps://`` is TLS from the first byte.
    """
    url = urlsplit(smtp_url)
    host = url.hostname or ""
    implicit_tls = url.scheme == "smtps"
    port = url.port or (465 if implicit_tls else 587)
    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        if implicit_tls
        else smtplib.SMTP(host, port, timeout=timeout)
    )
    with client:
        client.ehlo()
        if not implicit_tls:
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif not _is_loopback(host):
                raise StartTLSMissing(f"{host} does not offer STARTTLS")
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(email)


def is_permanent(error: Exception) -> bool:
    """Whether retrying cannot help: the server refused every recipient for good (5xx)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in error.recipients.values())
    return False


def describe(error: Exception) -> str:
    """A short, password-free account of a failed delivery, for ``last_error``."""
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        text = f"{type(error).__name__}: {error.smtp_code} {reply}"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:MAX_ERROR_LENGTH]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
