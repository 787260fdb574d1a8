"""The sender: claims due messages from the outbox, delivers them, retries failures with backoff.

Any process may run it at any time, as many at once as like: a message is
claimed with a conditional UPDATE (a lease in ``claimed_until``) before it is
sent, so two senders never send it both. Only a sender killed between handing
a message over and recording it leaves it to be sent again once its lease runs out.
"""

import logging
import os
import smtplib
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, current_app

from ..extensions import db
from ..models import MailMessage, utcnow
from .smtp import build_email, deliver, describe, is_permanent

MAIL_LOG = logging.getLogger("service.mail")
# Set in a session's info by queue_mail: its commit wakes this process's sender.
MAIL_QUEUED = "service.mail.queued"
LONGEST_RETRY = timedelta(hours=1)
BATCH = 50

_wake = threading.Event()
_started_in_pid: int | None = None
_start_lock = threading.Lock()


@sa.event.listens_for(so.Session, "after_commit")
def _wake_after_commit(session: so.Session) -> None:
    if session.info.pop(MAIL_QUEUED, False):
        _wake.set()


@sa.event.listens_for(so.Session, "after_rollback")
def _forget_after_rollback(session: so.Session) -> None:
    session.info.pop(MAIL_QUEUED, None)


def retry_delay(attempts: int, first: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: ``first`` seconds, doubling, at most an hour."""
    return min(timedelta(seconds=first * 2 ** min(attempts - 1, 20)), LONGEST_RETRY)


def send_due(now: Callable[[], datetime] = utcnow) -> Counter[str]:
    """Deliver every message due now (inside an app context); counts of ``sent``, ``retry`` and ``failed``."""
    counts: Counter[str] = Counter()
    while True:
        moment = now()
        due = db.session.scalars(
            sa.select(MailMessage.id).where(_claimable(moment)).order_by(MailMessage.id).limit(BATCH)
        ).all()
        db.session.commit()
        if not due:
            return counts
        for message_id in due:
            if not _claim(message_id, now()):
                continue
            outcome = _send_one(message_id, now)
            if not outcome:
                continue
            counts[outcome] += 1
            if outcome == "retry":
                # The server is down or refusing: the rest wait for the next pass rather than each
                # waiting out the timeout now.
                return counts


def _claimable(moment: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        MailMessage.status == "pending",
        MailMessage.next_attempt_at <= moment,
        sa.or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < moment),
    )


def _claim(message_id: int, moment: datetime) -> bool:
    """Take the message for one lease; False when another sender has it or it is done."""
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    result = db.session.execute(
        sa.update(MailMessage)
        .where(MailMessage.id == message_id, _claimable(moment))
        .values(claimed_until=moment + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _send_one(message_id: int, now: Callable[[], datetime]) -> str:
    """Deliver one claimed message and record how it went: ``sent``, ``retry`` or ``failed``
    (``""``: someone deleted it meanwhile)."""
    config = current_app.config
    message = db.session.get(MailMessage, message_id)
    if message is None:
        return ""
    email = build_email(message, config["MAIL_FROM"]) if config["SMTP_URL"] else None
    db.session.commit()  # no transaction stays open while the mail server takes its time
    outcome = "sent"
    try:
        if email is not None:
            deliver(email, config["SMTP_URL"], config["MAIL_SMTP_TIMEOUT"])
        else:
            _log_instead(message)
    except (OSError, smtplib.SMTPException) as error:
        message.attempts += 1
        message.last_error = describe(error)
        if is_permanent(error) or message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
            outcome = message.status = "failed"
        else:
            outcome = "retry"
            message.next_attempt_at = now() + retry_delay(message.attempts, config["MAIL_RETRY_SECONDS"])
        fields = {"mail_id": message.id, "attempts": message.attempts, "error": message.last_error}
        MAIL_LOG.warning(f"mail not delivered: {outcome}", extra={"fields": fields})
    else:
        message.attempts += 1
        message.status, message.sent_at, message.last_error = "sent", now(), ""
        # Its links hold single-use tokens stored nowhere else in clear: they leave with the message.
        message.text_body = message.html_body = ""
        if config["SMTP_URL"]:
            fields = {"mail_id": message.id, "message_id": message.message_id}
            MAIL_LOG.info("mail sent", extra={"fields": fields})
    message.claimed_until = None
    db.session.commit()
    return outcome


def _log_instead(message: MailMessage) -> None:
    """Development without a mail server: the message goes to the log, marked as not sent."""
    MAIL_LOG.warning(
        "mail not sent: SMTP_URL is not set",
        extra={
            "fields": {
                "mail_id": message.id,
                "to": message.to_address,
                "subject": message.subject,
                "text": message.text_body,
            }
        },
    )


class SenderThread(threading.Thread):
    """A daemon thread running a pass whenever a commit queued mail, and every ``MAIL_POLL_SECONDS``
    (for retries that fell due and messages a killed worker left behind)."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="mail-sender", daemon=True)
        self.app = app
        self.stopping = threading.Event()

    def run(self) -> None:
        poll = self.app.config["MAIL_POLL_SECONDS"]
        MAIL_LOG.info("mail sender started", extra={"fields": {"pid": os.getpid()}})
        _wake.set()  # a first pass at once: whatever fell due while no worker was running
        while not self.stopping.is_set():
            _wake.wait(poll)
            _wake.clear()
            if self.stopping.is_set():
                break
            try:
                with self.app.app_context():
                    send_due()
            except Exception:
                MAIL_LOG.exception("mail sender pass failed")

    def stop(self, timeout: float | None = None) -> None:
        """Finish the pass under way (if any) and end; waits at most ``timeout`` seconds."""
        self.stopping.set()
        _wake.set()
        self.join(timeout)


_sender: SenderThread | None = None


def start_sender(app: Flask) -> SenderThread | None:
    """Start this process's sender thread, once per process, unless ``MAIL_SENDER`` is ``cron``.

    gunicorn's ``post_worker_init`` hook (gunicorn.conf.py) calls it in each worker;
    ``start_sender_here`` does on the first request under other servers.
    """
    global _sender, _started_in_pid
    if app.config.get("MAIL_SENDER") != "worker" or _started_in_pid == os.getpid():
        return None
    with _start_lock:
        if _started_in_pid == os.getpid():
            return None
        _started_in_pid = os.getpid()
        _sender = SenderThread(app)
        _sender.start()
        return _sender


def stop_sender(timeout: float | None = 10) -> None:
    """Stop this process's sender thread, if it runs (tests; a worker that exits)."""
    global _sender, _started_in_pid
    with _start_lock:
        sender, _sender, _started_in_pid = _sender, None, None
    if sender is not None and sender.is_alive():
        sender.stop(timeout)


def start_sender_here() -> None:
    """``start_sender`` for the current app: a ``before_request`` hook, for servers other than gunicorn
    (whose ``post_worker_init`` starts the sender and takes this hook out). Once the thread is
    started in this process, each request pays one comparison.
    """
    if _started_in_pid != os.getpid():
        start_sender(current_app._get_current_object())  # type: ignore[attr-defined]
