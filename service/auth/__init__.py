"""Account rules: passwords, tokens, sessions. Plain Python: no GraphQL and no requests in here."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import signing_key_from_file
from .email_tokens import EmailSettings
from .keyring import KeyRing
from .passwords import Passwords
from .throttling import ThrottleSettings
from .tokens import TokenSettings


@dataclass(frozen=True)
class Auth:
    """What the account rules need from the config, built once when the app is created."""

    passwords: Passwords
    tokens: TokenSettings
    throttle: ThrottleSettings
    email: EmailSettings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Auth":
        algorithm, key_file = config["JWT_ALGORITHM"], config.get("JWT_PRIVATE_KEY_FILE")
        keys = KeyRing(
            algorithm,
            config["SECRET_KEY"].encode(),
            config["JWT_KEYS_CACHE_SECONDS"],
            signing_key_from_file(key_file, algorithm) if key_file else None,
        )
        return cls(
            passwords=Passwords(
                time_cost=config["ARGON2_TIME_COST"],
                memory_cost=config["ARGON2_MEMORY_COST"],
                parallelism=config["ARGON2_PARALLELISM"],
            ),
            tokens=TokenSettings(
                key=config["SECRET_KEY"].encode(),
                algorithm=algorithm,
                keys=keys,
                access_lifetime=config["JWT_ACCESS_TOKEN_LIFETIME"],
                refresh_lifetime=config["JWT_REFRESH_TOKEN_LIFETIME"],
                issuer=config["JWT_ISSUER"],
                audience=config["JWT_AUDIENCE"],
                leeway=config["JWT_LEEWAY"],
                reuse_interval=config["JWT_REFRESH_REUSE_INTERVAL"],
                session_max_lifetime=config["SESSION_MAX_LIFETIME"],
                max_sessions_per_user=config["SESSION_MAX_PER_USER"],
                legacy_key=(config.get("LEGACY_JWT_SECRET_KEY") or "").encode() or None,
                legacy_accept_until=config.get("LEGACY_JWT_ACCEPT_UNTIL"),
            ),
            throttle=ThrottleSettings.from_config(config),
            email=EmailSettings.from_config(config),
        )
