"""Settings: read once from the environment when the app is created.

This is the only place defaults live. Every setting is listed, with its
default, in the README's configuration table.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from argon2 import profiles
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

EXPLORERS = ("playground", "graphiql", "apollo", "off")
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
    legacy_key, legacy_until = _legacy_jwt(env)
    if instance_path:
        instance_path = os.path.abspath(instance_path)
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
        "PUBLIC_URL": _public_url(env.get("PUBLIC_URL")),
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
