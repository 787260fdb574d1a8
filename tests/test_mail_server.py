"""Mail from a real gunicorn: a killed worker loses nothing, a hung mail server slows no request."""

import json
import os
import signal
import time
from pathlib import Path

from conftest import app_settings
from server import Server, running_gunicorn
from smtp import Blackhole, SMTPServer

from service import create_app
from service.extensions import db
from service.mail import queue_mail

SEND_PASSWORD_RESET = "mutation Forgot($email: String!) { sendPasswordResetEmail(email: $email) { ok } }"
CONTEXT = {"username": "ali", "link": "https://accounts.example.com/verify?token=t"}


def wait_until(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def sender_pids(server: Server) -> list[int]:
    """The processes whose mail sender started, from the server's JSON log lines."""
    pids = []
    for line in server.log_text().splitlines():
        if line.startswith("{") and '"mail sender started"' in line:
            pids.append(json.loads(line)["pid"])
    return pids


def queue_in_database(tmp_path: Path, server: Server) -> str:
    """Queue a message in the server's database from outside it, as another process would; its Message-ID."""
    app = create_app(app_settings(tmp_path / "queuer", SQLALCHEMY_DATABASE_URI=server.database_url))
    with app.app_context():
        message = queue_mail("verify_email", to="ali@example.com", language="ru", context=CONTEXT)
        db.session.commit()
        message_id = message.message_id
        db.engine.dispose()
    return message_id


def test_a_worker_killed_while_delivering_leaves_the_message_to_the_next_sender(tmp_path: Path) -> None:
    port = Blackhole().port
    hung = Blackhole(port)
    settings = {
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_SMTP_TIMEOUT": "4",
        "MAIL_LEASE_SECONDS": "5",
        "MAIL_POLL_SECONDS": "1",
        "MAIL_RETRY_SECONDS": "1",
    }
    with running_gunicorn(tmp_path, workers=1, **settings) as server:
        wait_until(lambda: sender_pids(server), what="mail sender")
        [worker] = sender_pids(server)
        message_id = queue_in_database(tmp_path, server)
        claimed = "SELECT count(*) FROM mail_outbox WHERE claimed_until IS NOT NULL"
        wait_until(lambda: server.scalar(claimed) == 1, what="claim")  # the worker hangs on the server now

        os.kill(worker, signal.SIGKILL)
        hung.close()
        with SMTPServer(port) as mail_server:
            [email] = mail_server.wait_for(1, timeout=30)  # the lease runs out; the new worker sends it
            time.sleep(1.5)
            assert len(mail_server.messages) == 1
        assert email["Message-ID"] == message_id
        assert server.scalar("SELECT status FROM mail_outbox") == "sent"
        assert len(sender_pids(server)) == 2  # gunicorn's replacement worker started its own sender


def test_requests_succeed_while_the_mail_server_hangs_and_the_mail_goes_out_once_it_is_back(
    tmp_path: Path,
) -> None:
    port = Blackhole().port
    hung = Blackhole(port)
    settings = {
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "MAIL_SMTP_TIMEOUT": "5",
        "MAIL_POLL_SECONDS": "1",
        "MAIL_RETRY_SECONDS": "1",
    }
    with running_gunicorn(tmp_path, workers=1, **settings) as server:
        username, _tokens = server.register("mailer")
        for _ in range(3):
            started = time.monotonic()
            body = server.graphql(SEND_PASSWORD_RESET, {"email": f"{username}@example.com"})
            assert body == {"data": {"sendPasswordResetEmail": {"ok": True}}}
            assert time.monotonic() - started < 1.5  # the sender thread is stuck on SMTP; the request is not
        queued = server.scalar("SELECT count(*) FROM mail_outbox WHERE template = 'password_reset'")
        assert queued == 3
        assert server.scalar("SELECT count(*) FROM mail_outbox WHERE status = 'sent'") == 0

        hung.close()
        with SMTPServer(port) as mail_server:
            wait_until(
                lambda: sum(email["Subject"] == "Reset your password" for email in mail_server.messages) == 3,
                timeout=30,
                what="password reset mail",
            )
            unsent = "SELECT count(*) FROM mail_outbox WHERE status <> 'sent'"
            wait_until(lambda: server.scalar(unsent) == 0, what="empty outbox")  # the sign-up's mail too
