"""Mail over TLS: STARTTLS for smtp://, TLS from the first byte for smtps://, certificates checked."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import empty_tables
from flask import Flask
from smtp import SMTPServer, self_signed

from service.extensions import db
from service.mail import queue_mail, send_due
from service.models import MailMessage

CONTEXT = {"username": "ali", "link": "https://accounts.example.com/verify?token=t"}
CREDENTIALS = ("mailer", "secret")


@pytest.fixture
def outbox(app: Flask) -> Iterator[Flask]:
    empty_tables(app)
    saved = dict(app.config)
    with app.app_context():
        yield app
    app.config.update(saved)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def queue() -> int:
    message = queue_mail("verify_email", to="ali@example.com", language="en", context=CONTEXT)
    db.session.commit()
    return message.id


# aiosmtpd warns about AUTH "without TLS" on an implicit-TLS server: it counts only STARTTLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_mail_goes_over_tls_to_a_server_whose_certificate_is_trusted(
    outbox: Flask, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tls: str
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # the test server's certificate is trusted
    with SMTPServer(credentials=CREDENTIALS, tls=tls, certificate=certificate) as server:  # type: ignore[arg-type]
        outbox.config["SMTP_URL"] = server.url
        assert server.url.startswith("smtps://" if tls == "implicit" else "smtp://")
        queue()
        assert send_due() == {"sent": 1}
        [email] = server.wait_for(1)
    assert email["To"] == "ali@example.com"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_server_with_an_untrusted_certificate_gets_nothing(
    outbox: Flask, certificate: tuple[Path, Path], tls: str
) -> None:
    with SMTPServer(credentials=CREDENTIALS, tls=tls, certificate=certificate) as server:  # type: ignore[arg-type]
        outbox.config["SMTP_URL"] = server.url
        message_id = queue()
        assert send_due() == {"retry": 1}
        assert server.messages == []
    message = db.session.get(MailMessage, message_id)
    assert message is not None
    assert message.last_error.startswith("SSLCertVerificationError")
    assert "secret" not in message.last_error
