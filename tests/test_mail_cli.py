"""``flask mail send`` and ``flask mail list``: the outbox for operators and for cron."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import Result
from conftest import empty_tables
from flask import Flask
from smtp import SMTPServer, free_port

from service.extensions import db
from service.mail import queue_mail
from service.models import MailMessage

CONTEXT = {"username": "ali", "link": "https://accounts.example.com/verify?token=t"}


@pytest.fixture
def outbox(app: Flask) -> Iterator[Flask]:
    empty_tables(app)
    saved = dict(app.config)
    yield app
    app.config.update(saved)


def invoke(app: Flask, *args: str) -> Result:
    with app.app_context():
        return app.test_cli_runner().invoke(args=["mail", *args])


def queue(app: Flask, to: str) -> int:
    with app.app_context():
        message = queue_mail("verify_email", to=to, language="en", context=CONTEXT)
        db.session.commit()
        return message.id


def test_mail_send_delivers_what_is_due_and_says_how_it_went(outbox: Flask) -> None:
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        queue(outbox, "ali@example.com")
        queue(outbox, "sara@example.com")
        result = invoke(outbox, "send")
        assert result.exit_code == 0, result.output
        assert result.output == "Sent 2, to retry later 0, given up on 0 (see: flask mail list).\n"
        assert sorted(email["To"] for email in server.wait_for(2)) == ["ali@example.com", "sara@example.com"]
        assert invoke(outbox, "send").output.startswith("Sent 0,")


def test_mail_send_with_the_server_down_exits_zero_and_leaves_the_messages_pending(outbox: Flask) -> None:
    outbox.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    queue(outbox, "ali@example.com")
    result = invoke(outbox, "send")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sent 0, to retry later 1, given up on 0")


def test_mail_list_shows_pending_and_failed_messages_but_not_sent_ones(outbox: Flask) -> None:
    pending = queue(outbox, "pending@example.com")
    failed = queue(outbox, "failed@example.com")
    sent = queue(outbox, "sent@example.com")
    with outbox.app_context():
        db.session.execute(
            sa.update(MailMessage)
            .where(MailMessage.id == failed)
            .values(status="failed", attempts=8, last_error="SMTPRecipientsRefused: 550 no such user")
        )
        db.session.execute(sa.update(MailMessage).where(MailMessage.id == sent).values(status="sent"))
        db.session.commit()

    result = invoke(outbox, "list")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["id", "status", "to", "template", "tries", "next", "try/sent", "(UTC)", "error"]
    assert [row.split()[:5] for row in rows] == [
        [str(pending), "pending", "pending@example.com", "verify_email", "0"],
        [str(failed), "failed", "failed@example.com", "verify_email", "8"],
    ]
    assert rows[1].endswith("SMTPRecipientsRefused: 550 no such user")

    everything = invoke(outbox, "list", "--all").output.splitlines()[1:]
    assert [row.split()[1] for row in everything] == ["pending", "failed", "sent"]
