"""Helpers for the email flows' tests: an app that mails a real SMTP server on loopback, and its mail.

The outbox is delivered on demand (``Mailbox.deliver``), with the sender's own function, so each
test reads exactly the messages its requests queued.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from conftest import configured_app
from flask import Flask
from smtp import SMTPServer

from service.mail.sender import send_due

LINKS = {
    "VERIFY_EMAIL_URL": "https://app.example.com/verify?token={token}",
    "PASSWORD_RESET_URL": "https://app.example.com/reset?token={token}",
    "EMAIL_CHANGE_URL": "https://app.example.com/confirm-email?token={token}",
}
TOKEN_IN_LINK = re.compile(r"https://app\.example\.com/(verify|reset|confirm-email)\?token=([A-Za-z0-9_-]+)")


class Mailbox:
    """What the SMTP server received from one app."""

    def __init__(self, app: Flask, server: SMTPServer) -> None:
        self.app, self.server = app, server

    def clear(self) -> None:
        self.server.messages.clear()
        self.server.recipients.clear()

    def deliver(self, count: int) -> list[EmailMessage]:
        """Send the outbox and return every message received so far, which must be ``count``."""
        with self.app.app_context():
            send_due()
        self.server.wait_for(count, timeout=5)
        messages = list(self.server.messages)
        assert len(messages) == count, [(m["To"], m["Subject"]) for m in messages]
        return messages


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message."""
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def token_in(message: EmailMessage, page: str) -> str:
    """The token of the link to ``page`` (verify, reset, confirm-email) in the message."""
    found = [token for kind, token in TOKEN_IN_LINK.findall(text_of(message)) if kind == page]
    assert found, text_of(message)
    return found[0]


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@contextmanager
def mailing_app(
    tmp_path_factory: pytest.TempPathFactory, server: SMTPServer, **overrides: Any
) -> Iterator[Flask]:
    """A migrated app on an empty database whose mail goes to ``server``."""
    with configured_app(tmp_path_factory, SMTP_URL=server.url, **LINKS, **overrides) as app:
        yield app
