"""Settings: read once from the environment when the app is created.

This is the only place defaults live. Every setting is listed, with its
default, in the README's configuration table.
"""

import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argon2 import profiles
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from email_validator import EmailNotValidError, validate_email

EXPLORERS = ("playground", "graphiql", "apollo", "off")
MAIL_SENDERS = ("worker", "cron")
# HMAC algorithms sign with SECRET_KEY; the others with key pairs kept in the database (or a file).
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256", "EdDSA")
JWT_ALGORITHMS = HMAC_ALGORITHMS + ASYMMETRIC_ALGORITHMS
# What JWT_PRIVATE_KEY_FILE must hold for each asymmetric algorithm.
KEY_TYPES = {
    "RS256": (rsa.RSAPrivateKey, "an RSA private key of at least 2048 bits"),
    "ES256": (ec.EllipticCurvePrivateKey, "an EC private key on the P-256 curve"),
    "EdDSA": (ed25519.Ed25519PrivateKey, "an Ed25519 private key"),
}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
# A DNS name or an IP address (an IPv6 one without its brackets): no wildcard, no other character.
HOST_NAME = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and why."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _database_url(raw: str | None) -> str | None:
    """The SQLAlchemy URL; ``postgres://`` and ``postgresql://`` (as platforms give them) mean psycopg 3."""
    if not raw:
        return None
    for scheme in ("postgres://", "postgresql://"):
        if raw.startswith(scheme):
            return "postgresql+psycopg://" + raw[len(scheme) :]
    return raw


def _public_url(raw: str | None) -> str | None:
    """``PUBLIC_URL`` without a trailing slash; it must be an absolute http(s) URL with no query."""
    if not raw or not raw.strip():
        return None
    url = urlsplit(raw.strip())
    if url.scheme not in ("http", "https") or not url.netloc or url.query or url.fragment:
        raise ConfigError(f"PUBLIC_URL must look like https://accounts.example.com, got {raw!r}")
    return raw.strip().rstrip("/")


def _cors_origins(raw: str | None) -> tuple[str, ...]:
    """The origins of ``CORS_ORIGINS`` (comma-separated), each ``scheme://host[:port]``, lower-cased.

    Answers carry credentials, so ``*`` and anything with a path, query or
    user part are refused rather than guessed at.
    """
    origins = []
    for entry in (raw or "").split(","):
        origin = entry.strip()
        if not origin:
            continue
        try:
            url = urlsplit(origin)
            url.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            url = None
        if (
            url is None
            or url.scheme not in ("http", "https")
            or not HOST_NAME.fullmatch(url.hostname or "")
            or url.username is not None
            or url.password is not None
            or origin != f"{url.scheme}://{url.netloc}"
        ):
            raise ConfigError(
                "CORS_ORIGINS must list origins like https://app.example.com or http://localhost:5173 "
                f"(scheme, host and port only; no '*', path or trailing slash), got {origin!r}"
            )
        origins.append(origin.lower())
    return tuple(dict.fromkeys(origins))


# Where mail links point when neither the setting nor PUBLIC_URL says: the address `make run` serves.
DEFAULT_LINK_BASE = "http://127.0.0.1:8000"
LINK_PATHS = {
    "VERIFY_EMAIL_URL": "/verify-email?token={token}",
    "PASSWORD_RESET_URL": "/reset-password?token={token}",
    "EMAIL_CHANGE_URL": "/confirm-email?token={token}",
}


def _link_template(env: Mapping[str, str], name: str, public_url: str | None) -> str:
    """A mail link template: an absolute http(s) URL holding ``{token}`` once, and no other braces.

    The default is ``PUBLIC_URL`` (or ``DEFAULT_LINK_BASE``) and a path of ours; never the
    request's Host, which a client chooses (a reset link pointing at the attacker's site).
    """
    raw = (env.get(name) or "").strip()
    if not raw:
        return (public_url or DEFAULT_LINK_BASE) + LINK_PATHS[name]
    url = urlsplit(raw.replace("{token}", "TOKEN"))
    leftover = raw.replace("{token}", "")
    if (
        raw.count("{token}") != 1
        or "{" in leftover
        or "}" in leftover
        or url.scheme not in ("http", "https")
        or not url.netloc
    ):
        raise ConfigError(
            f"{name} must be an absolute http(s) URL holding {{token}} once, such as "
            f"https://app.example.com/reset?token={{token}}; got {raw!r}"
        )
    return raw


def _legacy_jwt(env: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The old Django service's ``SECRET_KEY`` and the Unix time its access tokens stop being
    accepted: both set, or neither."""
    key = env.get("LEGACY_JWT_SECRET_KEY") or None
    raw_until = (env.get("LEGACY_JWT_ACCEPT_UNTIL") or "").strip()
    if not key and not raw_until:
        return None, None
    if not key or not raw_until:
        raise ConfigError("LEGACY_JWT_SECRET_KEY and LEGACY_JWT_ACCEPT_UNTIL must be set together")
    problem = f"LEGACY_JWT_ACCEPT_UNTIL must be a Unix time in seconds, got {raw_until!r}"
    try:
        until = int(raw_until)
    except ValueError:
        raise ConfigError(problem) from None
    if until < 0:
        raise ConfigError(problem)
    return key, until


def _jwt_algorithm(raw: str) -> str:
    """The algorithm's canonical name (``eddsa`` is ``EdDSA``)."""
    by_upper = {name.upper(): name for name in JWT_ALGORITHMS}
    algorithm = by_upper.get(raw.strip().upper())
    if algorithm is None:
        raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, got {raw.strip()!r}")
    return algorithm


def _smtp_url(raw: str | None) -> str | None:
    """``SMTP_URL``: ``smtp://[user:password@]host[:port]`` (STARTTLS) or ``smtps://...`` (implicit TLS)."""
    if not raw or not raw.strip():
        return None
    problem = "SMTP_URL must look like smtp://user:password@mail.example.com:587 or smtps://...:465"
    try:
        url = urlsplit(raw.strip())
        url.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ConfigError(problem) from None
    if url.scheme not in ("smtp", "smtps") or not url.hostname or url.path not in ("", "/"):
        # The URL may hold a password: the message names the scheme and host, never the URL.
        raise ConfigError(f"{problem}; got scheme {url.scheme!r}, host {url.hostname or ''!r}")
    return raw.strip()


def _mail_from(raw: str | None, public_url: str | None) -> tuple[str, str]:
    """``MAIL_FROM`` as given (a display name is allowed) and its bare address.

    By default ``no-reply@`` the host of ``PUBLIC_URL``, or ``no-reply@localhost``.
    """
    if not raw or not raw.strip():
        host = urlsplit(public_url).hostname if public_url else None
        domain = host if host and "." in host and not host.replace(".", "").isdigit() else "localhost"
        return f"no-reply@{domain}", f"no-reply@{domain}"
    try:
        validate_email(raw.strip(), check_deliverability=False, allow_display_name=True)
    except EmailNotValidError as error:
        raise ConfigError(f"MAIL_FROM must be an email address, got {raw!r}: {error}") from None
    return raw.strip(), parseaddr(raw.strip())[1]


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the service's settings, taken from ``env`` (default: os.environ)."""
    env = os.environ if env is None else env
    low_memory = profiles.RFC_9106_LOW_MEMORY
    explorer = env.get("GRAPHQL_EXPLORER", "playground").strip().lower()
    if explorer not in EXPLORERS:
        raise ConfigError(f"GRAPHQL_EXPLORER must be one of {', '.join(EXPLORERS)}, got {explorer!r}")
    algorithm = _jwt_algorithm(env.get("JWT_ALGORITHM", "HS256"))
    key_file = (env.get("JWT_PRIVATE_KEY_FILE") or "").strip() or None
    if key_file and algorithm not in ASYMMETRIC_ALGORITHMS:
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE needs JWT_ALGORITHM {', '.join(ASYMMETRIC_ALGORITHMS)}")
    instance_path = env.get("INSTANCE_PATH") or None
    public_url = _public_url(env.get("PUBLIC_URL"))
    legacy_key, legacy_until = _legacy_jwt(env)
    if instance_path:
        instance_path = os.path.abspath(instance_path)
    mail_from, mail_from_address = _mail_from(env.get("MAIL_FROM"), public_url)
    mail_sender = env.get("MAIL_SENDER", "worker").strip().lower()
    if mail_sender not in MAIL_SENDERS:
        raise ConfigError(f"MAIL_SENDER must be one of {', '.join(MAIL_SENDERS)}, got {mail_sender!r}")
    smtp_timeout = _int(env, "MAIL_SMTP_TIMEOUT", 10)
    mail_lease = _int(env, "MAIL_LEASE_SECONDS", 60)
    if mail_lease <= smtp_timeout:
        raise ConfigError(
            f"MAIL_LEASE_SECONDS ({mail_lease}) must be longer than MAIL_SMTP_TIMEOUT ({smtp_timeout})"
        )
    return {
        # Where the generated secret key and the default SQLite file live (None: ./instance).
        "INSTANCE_PATH": instance_path,
        # None means: generate one on first start and keep it in the instance folder.
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        # None means: an SQLite file in the instance folder.
        "SQLALCHEMY_DATABASE_URI": _database_url(env.get("DATABASE_URL")),
        "JWT_ALGORITHM": algorithm,
        # A PEM private key the operator manages (asymmetric algorithms); None: keys in the database.
        "JWT_PRIVATE_KEY_FILE": key_file,
        # How stale a worker's copy of the signing keys may be (rotation, retirement, the JWKS's max-age).
        "JWT_KEYS_CACHE_SECONDS": _int(env, "JWT_KEYS_CACHE_SECONDS", 60),
        "JWT_ACCESS_TOKEN_LIFETIME": _int(env, "JWT_ACCESS_TOKEN_LIFETIME", 3600),
        "JWT_REFRESH_TOKEN_LIFETIME": _int(env, "JWT_REFRESH_TOKEN_LIFETIME", 7 * 24 * 3600),
        "JWT_REFRESH_REUSE_INTERVAL": _int(env, "JWT_REFRESH_REUSE_INTERVAL", 10, 0),
        "SESSION_MAX_LIFETIME": _int(env, "SESSION_MAX_LIFETIME", 30 * 24 * 3600),
        # A staff console sign-in (/admin) ends this many seconds after it began, used or not.
        "ADMIN_SESSION_LIFETIME": _int(env, "ADMIN_SESSION_LIFETIME", 8 * 3600),
        "JWT_LEEWAY": _int(env, "JWT_LEEWAY", 0, 0),
        "JWT_ISSUER": env.get("JWT_ISSUER") or None,
        "JWT_AUDIENCE": env.get("JWT_AUDIENCE") or None,
        # During a move from the Django service: its SECRET_KEY, and until when (a Unix time)
        # the access tokens it signed are still accepted. Both or neither.
        "LEGACY_JWT_SECRET_KEY": legacy_key,
        "LEGACY_JWT_ACCEPT_UNTIL": legacy_until,
        # Cookie mode for browser apps: refresh tokens only in an HttpOnly cookie, refreshed
        # with a CSRF double submit (service/refresh_cookie.py).
        "JWT_REFRESH_COOKIE": _bool(env, "JWT_REFRESH_COOKIE", False),
        # The origins whose scripts may call /graphql with credentials; none by default.
        "CORS_ORIGINS": _cors_origins(env.get("CORS_ORIGINS")),
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER", "uploads"),
        "MAX_UPLOAD_SIZE": _int(env, "MAX_UPLOAD_SIZE", 5 * 1024 * 1024),
        # A phone photo (12-16 megapixels) fits; decoding one costs about 64 MB of memory.
        "MAX_IMAGE_PIXELS": _int(env, "MAX_IMAGE_PIXELS", 16_000_000),
        # Pictures are stored downscaled to at most this many pixels on the long side.
        "PROFILE_PICTURE_MAX_SIDE": _int(env, "PROFILE_PICTURE_MAX_SIDE", 1024, 16),
        # The service's public address (https://accounts.example.com): the base of absolute
        # URLs such as profilePictureUrl, whatever Host or X-Forwarded-Host say.
        "PUBLIC_URL": public_url,
        # The email flows: links in the mails (templates holding {token}), token lifetimes
        # in seconds, and whether tokenAuth refuses accounts whose address is not verified.
        "VERIFY_EMAIL_URL": _link_template(env, "VERIFY_EMAIL_URL", public_url),
        "PASSWORD_RESET_URL": _link_template(env, "PASSWORD_RESET_URL", public_url),
        "EMAIL_CHANGE_URL": _link_template(env, "EMAIL_CHANGE_URL", public_url),
        "EMAIL_VERIFICATION_LIFETIME": _int(env, "EMAIL_VERIFICATION_LIFETIME", 3 * 24 * 3600),
        "PASSWORD_RESET_LIFETIME": _int(env, "PASSWORD_RESET_LIFETIME", 3600),
        "EMAIL_CHANGE_LIFETIME": _int(env, "EMAIL_CHANGE_LIFETIME", 24 * 3600),
        "ACCOUNT_REQUIRE_VERIFIED_EMAIL": _bool(env, "ACCOUNT_REQUIRE_VERIFIED_EMAIL", False),
        "GRAPHQL_EXPLORER": explorer,
        "GRAPHQL_INTROSPECTION": _bool(env, "GRAPHQL_INTROSPECTION", True),
        # Brute-force and abuse limits: (most events, window in seconds) per bucket.
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_SECONDS": _int(env, "LOGIN_LOCKOUT_SECONDS", 900),
        "LOGIN_ACCOUNT_MAX_FAILURES": _int(env, "LOGIN_ACCOUNT_MAX_FAILURES", 50),
        "LOGIN_ACCOUNT_WINDOW": _int(env, "LOGIN_ACCOUNT_WINDOW", 3600),
        "LOGIN_IP_MAX_FAILURES": _int(env, "LOGIN_IP_MAX_FAILURES", 100),
        "LOGIN_IP_WINDOW": _int(env, "LOGIN_IP_WINDOW", 3600),
        "REGISTRATION_MAX_PER_IP": _int(env, "REGISTRATION_MAX_PER_IP", 10),
        "REGISTRATION_WINDOW": _int(env, "REGISTRATION_WINDOW", 3600),
        # Every createUser attempt from one address, refused or not, in REGISTRATION_WINDOW.
        "REGISTRATION_ATTEMPTS_PER_IP": _int(env, "REGISTRATION_ATTEMPTS_PER_IP", 30),
        # sendPasswordResetEmail per client and per address, and the mails one account may
        # have sent (verification, email change), in EMAIL_REQUESTS_WINDOW.
        "PASSWORD_RESET_MAX_PER_IP": _int(env, "PASSWORD_RESET_MAX_PER_IP", 20),
        "PASSWORD_RESET_MAX_PER_EMAIL": _int(env, "PASSWORD_RESET_MAX_PER_EMAIL", 3),
        "EMAIL_MAX_PER_ACCOUNT": _int(env, "EMAIL_MAX_PER_ACCOUNT", 5),
        "EMAIL_REQUESTS_WINDOW": _int(env, "EMAIL_REQUESTS_WINDOW", 3600),
        # A login beyond this many live sessions ends the user's oldest one.
        "SESSION_MAX_PER_USER": _int(env, "SESSION_MAX_PER_USER", 50),
        # `flask tokens purge` deletes security events older than this many days.
        "SECURITY_EVENT_RETENTION_DAYS": _int(env, "SECURITY_EVENT_RETENTION_DAYS", 365),
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0, 0),
        "GRAPHQL_MAX_ALIASES": _int(env, "GRAPHQL_MAX_ALIASES", 15, 0),
        "GRAPHQL_MAX_DEPTH": _int(env, "GRAPHQL_MAX_DEPTH", 10),
        "GRAPHQL_MAX_COST": _int(env, "GRAPHQL_MAX_COST", 250),
        "GRAPHQL_MAX_QUERY_SIZE": _int(env, "GRAPHQL_MAX_QUERY_SIZE", 100 * 1024),
        "GRAPHQL_MAX_TOKENS": _int(env, "GRAPHQL_MAX_TOKENS", 5000),
        # argon2id, RFC 9106 "low memory" profile. Tests lower these; nothing else should.
        "ARGON2_TIME_COST": _int(env, "ARGON2_TIME_COST", low_memory.time_cost),
        "ARGON2_MEMORY_COST": _int(env, "ARGON2_MEMORY_COST", low_memory.memory_cost, 8),
        "ARGON2_PARALLELISM": _int(env, "ARGON2_PARALLELISM", low_memory.parallelism),
        # Outgoing mail. No SMTP_URL: messages are written to the log instead (development).
        "SMTP_URL": _smtp_url(env.get("SMTP_URL")),
        "MAIL_FROM": mail_from,
        "MAIL_FROM_ADDRESS": mail_from_address,
        # worker: a sender thread in each web worker delivers the outbox; cron: only `flask mail send` does.
        "MAIL_SENDER": mail_sender,
        # How often a worker's sender looks for due retries and for messages a killed worker left.
        "MAIL_POLL_SECONDS": _int(env, "MAIL_POLL_SECONDS", 5),
        # Seconds each step of a conversation with the mail server may take.
        "MAIL_SMTP_TIMEOUT": smtp_timeout,
        # A sender holds a message this long; after that (it was killed mid-send) another takes it.
        "MAIL_LEASE_SECONDS": mail_lease,
        # Failed deliveries are retried after MAIL_RETRY_SECONDS, doubling each time up to an hour,
        # and given up ("failed", still listed by `flask mail list`) after MAIL_MAX_ATTEMPTS: by
        # default the first retry comes within seconds of a server's return, and trying goes on
        # for about a day (5 s, 10 s, ... 42 min, then hourly).
        "MAIL_RETRY_SECONDS": _int(env, "MAIL_RETRY_SECONDS", 5),
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 32),
    }


def signing_key_from_file(path: str, algorithm: str) -> PrivateKeyTypes:
    """The private key in the PEM file ``path``, which must suit ``algorithm`` (``JWT_PRIVATE_KEY_FILE``)."""
    if algorithm not in KEY_TYPES:
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE needs JWT_ALGORITHM {', '.join(ASYMMETRIC_ALGORITHMS)}")
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE {path!r} cannot be read: {error.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"JWT_PRIVATE_KEY_FILE {path!r} is not an unencrypted PEM private key"
        ) from None
    wanted, description = KEY_TYPES[algorithm]
    fits = isinstance(key, wanted)
    if isinstance(key, rsa.RSAPrivateKey):
        fits = fits and key.key_size >= 2048
    if isinstance(key, ec.EllipticCurvePrivateKey):
        fits = fits and isinstance(key.curve, ec.SECP256R1)
    if not fits:
        raise ConfigError(f"JWT_PRIVATE_KEY_FILE {path!r} must hold {description} for {algorithm}")
    return key
