"""A real SMTP server (aiosmtpd) on a loopback port that keeps what it receives, for the mail tests.

``SMTPServer`` takes a port (a free one by default) so a test can point the
service at it while it is still down and start it later; ``Blackhole`` accepts
connections and never answers, like a mail server that hangs.
"""

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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


class SMTPServer:
    """An SMTP server on ``127.0.0.1:port``; ``credentials`` (user, password) makes it ask for AUTH."""

    def __init__(self, port: int | None = None, *, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.credentials = credentials
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
        return f"smtp://{login}{HOST}:{self.port}"

    def start(self) -> "SMTPServer":
        options = {}
        if self.credentials:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
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
