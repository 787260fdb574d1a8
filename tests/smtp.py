"""A real SMTP server (aiosmtpd) on a loopback port that keeps what it receives, for the mail tests.

``SMTPServer`` takes a port (a free one by default) so a test can point the
service at it while it is still down and start it later; ``Blackhole`` accepts
connections and never answers, like a mail server that hangs. ``self_signed``
makes a certificate for 127.0.0.1 for the TLS tests.
"""

import email
import email.policy
import ipaddress
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class _Collector:
    """aiosmtpd's handler: each message received, parsed, kept with its envelope's recipients."""

    def __init__(self, server: "SMTPServer") -> None:
        self.server = server

    async def handle_RCPT(self, _server, _session, envelope, address: str, _options) -> str:
        if self.server.refuse_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server, _session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.server._received:
            self.server.messages.append(message)
            self.server.recipients.append(list(envelope.rcpt_tos))
            self.server._received.notify_all()
        return "250 Message accepted for delivery"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, its own issuer, and its key: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail test server")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certificate_file, key_file


class SMTPServer:
    """An SMTP server on ``127.0.0.1:port``; ``credentials`` (user, password) makes it ask for AUTH.

    ``tls="starttls"`` offers (and requires) STARTTLS, ``tls="implicit"`` speaks TLS from the first
    byte (``smtps://``); both with ``certificate`` (files from ``self_signed``).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        tls: Literal["starttls", "implicit"] | None = None,
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.credentials = credentials
        self.tls = tls
        self.certificate = certificate
        # True: every recipient is refused for good (550), as for an address that does not exist.
        self.refuse_recipients = False
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._received = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The ``SMTP_URL`` that reaches this server (with its credentials, if any)."""
        login = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{login}{HOST}:{self.port}"

    def start(self) -> "SMTPServer":
        options: dict[str, object] = {}
        if self.credentials:
            options = {
                "authenticator": self._authenticate,
                "auth_required": True,
                # aiosmtpd counts only STARTTLS as TLS; with implicit TLS the whole session is encrypted.
                "auth_require_tls": self.tls == "starttls",
            }
        if self.tls:
            assert self.certificate is not None, "TLS needs a certificate: self_signed(folder)"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.certificate)
            if self.tls == "starttls":
                options.update(tls_context=context, require_starttls=True)
            else:
                options["ssl_context"] = context
        self._controller = Controller(_Collector(self), hostname=HOST, port=self.port, **options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages received, once there are at least ``count``; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.messages)} messages received, {count} expected")
                self._received.wait(left)
            return list(self.messages)

    def _authenticate(self, _server, _session, _envelope, mechanism: str, data: object) -> AuthResult:
        assert self.credentials is not None
        good = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.credentials
        )
        return AuthResult(success=good, handled=False)

    def __enter__(self) -> "SMTPServer":
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


class Blackhole:
    """Listens on a loopback port and accepts connections, but never says a word: a hung mail server."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((HOST, self.port))
        self._socket.listen(16)  # the kernel completes handshakes; nobody ever reads

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> "Blackhole":
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
