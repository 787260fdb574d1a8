"""The outbox's sender against a real SMTP server on a loopback port: delivery, retries, leases, races."""

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from conftest import empty_tables
from flask import Flask
from smtp import Blackhole, SMTPServer, free_port

from service.extensions import db
from service.mail import queue_mail, send_due, start_sender, stop_sender
from service.mail.sender import retry_delay
from service.models import MailMessage, utcnow

CONTEXT = {"username": "ali", "link": "https://accounts.example.com/verify?token=t0k3n"}


class Clock:
    """A clock for the sender that moves only when told to."""

    def __init__(self) -> None:
        self.time = utcnow()

    def __call__(self) -> datetime:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


@pytest.fixture
def outbox(app: Flask) -> Iterator[Flask]:
    """The app, on empty tables, inside an app context; mail settings put back afterwards."""
    empty_tables(app)
    saved = dict(app.config)
    with app.app_context():
        yield app
    stop_sender()
    app.config.update(saved)


def queue(to: str = "ali@example.com", language: str = "en") -> MailMessage:
    message = queue_mail("verify_email", to=to, language=language, context=CONTEXT)
    db.session.commit()
    return message


def stored(message_id: int) -> MailMessage:
    db.session.expire_all()
    message = db.session.get(MailMessage, message_id)
    assert message is not None
    return message


def test_sender_delivers_both_parts_with_the_message_id_it_kept(outbox: Flask) -> None:
    outbox.config["MAIL_FROM"] = "Accounts <no-reply@example.com>"
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        message = queue(language="fa")
        assert send_due() == {"sent": 1}
        [email] = server.wait_for(1)
    row = stored(message.id)
    assert (row.status, row.attempts, row.last_error, row.claimed_until) == ("sent", 1, "", None)
    assert (row.text_body, row.html_body) == ("", "")  # its single-use link is not kept in clear
    assert row.sent_at is not None
    assert email["Message-ID"] == row.message_id
    assert email["To"] == "ali@example.com"
    assert email["From"] == "Accounts <no-reply@example.com>"
    assert email["Subject"] == row.subject
    assert email["Content-Language"] == "fa"
    assert server.recipients == [["ali@example.com"]]
    text = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert text is not None and html is not None
    assert "https://accounts.example.com/verify?token=t0k3n" in text.get_content()
    assert '<html lang="fa" dir="rtl">' in html.get_content()
    assert send_due() == {}  # sent once: nothing is due any more


@pytest.mark.parametrize(
    ("language", "script", "direction"),
    [("en", "[A-Za-z]", "ltr"), ("fa", "[\u0600-\u06ff]", "rtl"), ("ru", "[\u0400-\u04ff]", "ltr")],
)
def test_each_language_arrives_in_its_language_and_direction(
    outbox: Flask, language: str, script: str, direction: str
) -> None:
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        queue_mail(
            "password_reset", to="ali@example.com", language=language, context={**CONTEXT, "minutes": "30"}
        )
        db.session.commit()
        send_due()
        [email] = server.wait_for(1)
    text, html = email.get_body(("plain",)), email.get_body(("html",))
    assert text is not None and html is not None
    assert email["Content-Language"] == language
    assert f'<html lang="{language}" dir="{direction}">' in html.get_content()
    for part in (email["Subject"], text.get_content(), html.get_content()):
        assert re.search(script, part)
    if language != "en":
        assert "password" not in text.get_content().lower()


# The test server takes AUTH without TLS on loopback, which aiosmtpd warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_sender_logs_in_when_the_url_carries_credentials(outbox: Flask) -> None:
    with SMTPServer(credentials=("mailer", "p@ss word")) as server:
        outbox.config["SMTP_URL"] = server.url.replace("p@ss word", "p%40ss%20word")
        queue()
        assert send_due() == {"sent": 1}
        server.wait_for(1)

        outbox.config["SMTP_URL"] = server.url.replace("p@ss word", "wrong")
        message = queue()
        assert send_due() == {"retry": 1}
    error = stored(message.id).last_error
    assert error.startswith("SMTPAuthenticationError: 535")
    assert "wrong" not in error


def test_mail_server_down_keeps_the_message_and_it_goes_out_once_the_server_is_back(outbox: Flask) -> None:
    server = SMTPServer()  # its port, but nothing listening yet
    outbox.config["SMTP_URL"] = server.url
    message = queue()
    clock = Clock()
    started = time.monotonic()
    assert send_due(now=clock) == {"retry": 1}
    assert time.monotonic() - started < 2  # refused at once, no hanging
    row = stored(message.id)
    assert (row.status, row.attempts, row.sent_at, row.claimed_until) == ("pending", 1, None, None)
    assert row.next_attempt_at == clock.time + timedelta(seconds=5)
    assert row.last_error.startswith("ConnectionRefusedError")

    with server:
        clock.advance(4)
        assert send_due(now=clock) == {}  # not due yet: the backoff holds
        assert server.messages == []
        clock.advance(1)
        assert send_due(now=clock) == {"sent": 1}
        [email] = server.wait_for(1)
    assert email["Message-ID"] == row.message_id
    assert stored(message.id).status == "sent"


def test_retries_back_off_and_give_up_after_the_last_attempt(outbox: Flask) -> None:
    outbox.config.update(SMTP_URL=f"smtp://127.0.0.1:{free_port()}", MAIL_MAX_ATTEMPTS=4)
    message = queue()
    clock = Clock()
    delays = []
    for _ in range(3):
        assert send_due(now=clock) == {"retry": 1}
        row = stored(message.id)
        delays.append((row.next_attempt_at - clock.time).total_seconds())
        clock.time = row.next_attempt_at
    assert delays == [5, 10, 20]
    assert send_due(now=clock) == {"failed": 1}
    row = stored(message.id)
    assert (row.status, row.attempts) == ("failed", 4)
    clock.advance(24 * 3600)
    assert send_due(now=clock) == {}  # given up: never tried again


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n, 30).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip


def test_a_message_claimed_by_a_sender_that_died_goes_out_when_its_lease_runs_out(outbox: Flask) -> None:
    message = queue()
    clock = Clock()
    # A sender claimed it (lease of MAIL_LEASE_SECONDS) and was killed before recording anything.
    lease_end = clock.time + timedelta(seconds=outbox.config["MAIL_LEASE_SECONDS"])
    db.session.execute(sa.update(MailMessage).values(claimed_until=lease_end))
    db.session.commit()
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        assert send_due(now=clock) == {}
        clock.time = lease_end + timedelta(seconds=1)
        assert send_due(now=clock) == {"sent": 1}
        [email] = server.wait_for(1)
    assert email["Message-ID"] == stored(message.id).message_id


def test_senders_racing_deliver_each_message_once(outbox: Flask) -> None:
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        messages = [queue(to=f"user{number}@example.com") for number in range(20)]
        results: list[int] = []

        def sender() -> None:
            with outbox.app_context():
                results.append(send_due()["sent"])

        threads = [threading.Thread(target=sender) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        server.wait_for(20)
        time.sleep(0.2)  # a twenty-first delivery would have arrived by now
    assert sum(results) == 20
    assert len(server.messages) == 20
    assert sorted(email["Message-ID"] for email in server.messages) == sorted(m.message_id for m in messages)


def test_without_smtp_url_messages_are_logged_as_not_sent_and_marked_done(
    outbox: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.config["SMTP_URL"] = None
    message = queue(language="ru")
    with caplog.at_level(logging.WARNING, logger="service.mail"):
        assert send_due() == {"sent": 1}
    [record] = [record for record in caplog.records if record.name == "service.mail"]
    assert record.getMessage() == "mail not sent: SMTP_URL is not set"
    assert record.fields["to"] == "ali@example.com"
    assert "https://accounts.example.com/verify?token=t0k3n" in record.fields["text"]
    assert stored(message.id).status == "sent"


def test_a_recipient_refused_for_good_is_not_retried(outbox: Flask) -> None:
    with SMTPServer() as server:
        outbox.config["SMTP_URL"] = server.url
        server.refuse_recipients = True
        message = queue(to="nobody@example.com")
        assert send_due() == {"failed": 1}
    row = stored(message.id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in row.last_error


def test_a_pass_stops_at_the_first_failure_instead_of_waiting_on_the_server_for_each_message(
    outbox: Flask,
) -> None:
    outbox.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    first, second = queue(), queue()
    assert send_due() == {"retry": 1}
    assert (stored(first.id).attempts, stored(second.id).attempts) == (1, 0)


def test_queueing_never_waits_for_a_hung_mail_server(outbox: Flask) -> None:
    with Blackhole() as hung:
        outbox.config.update(SMTP_URL=hung.url, MAIL_SMTP_TIMEOUT=2)
        assert start_sender(outbox) is not None
        started = time.monotonic()
        for number in range(5):
            queue(to=f"user{number}@example.com")  # each commit wakes the sender, which hangs on SMTP
        elapsed = time.monotonic() - started
        stop_sender()
    assert elapsed < 1.0
    assert db.session.scalar(sa.select(sa.func.count()).where(MailMessage.status == "pending")) == 5


def test_the_sender_thread_delivers_what_a_commit_queued(outbox: Flask) -> None:
    with SMTPServer() as server:
        outbox.config.update(SMTP_URL=server.url, MAIL_POLL_SECONDS=60)
        start_sender(outbox)
        time.sleep(0.2)  # its first pass, over an empty outbox
        started = time.monotonic()
        message = queue()
        [email] = server.wait_for(1, timeout=5)
        assert time.monotonic() - started < 5  # woken by the commit, not by the minute's poll
    assert email["Message-ID"] == message.message_id


def test_cron_mode_starts_no_sender_thread(outbox: Flask) -> None:
    outbox.config["MAIL_SENDER"] = "cron"
    assert start_sender(outbox) is None
