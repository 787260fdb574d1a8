"""Signing key material: key pairs, their ``kid`` and JWK, private keys sealed at rest, key sets.

Plain cryptography, no database: ``keyring`` stores and loads what is made here.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RSA_KEY_SIZE = 2048
# The members of each key type's public JWK (RFC 7518 6.2-6.3, RFC 8037 2), in RFC 7638's order.
PUBLIC_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def generate_private_key(algorithm: str) -> PrivateKeyTypes:
    """A new private key for ``algorithm`` (RS256, ES256 or EdDSA)."""
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"No key pairs for {algorithm}")


def public_pem(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """The public half of ``key`` as a SubjectPublicKeyInfo PEM."""
    public = key.public_key() if hasattr(key, "private_bytes") else key  # type: ignore[union-attr]
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_pem(pem: str) -> PublicKeyTypes:
    return serialization.load_pem_public_key(pem.encode())


def private_key_sealer(secret: bytes) -> Fernet:
    """The Fernet key that seals private signing keys at rest: HKDF-SHA256 of ``SECRET_KEY``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"jwt-signing-key-at-rest")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret)))


def seal_private_key(sealer: Fernet, key: PrivateKeyTypes) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return sealer.encrypt(pem).decode()


def unseal_private_key(sealer: Fernet, sealed: str) -> PrivateKeyTypes:
    """The private key sealed by ``seal_private_key``; ``InvalidToken`` if another SECRET_KEY sealed it."""
    return serialization.load_pem_private_key(sealer.decrypt(sealed.encode()), password=None)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64_int(number: int, length: int | None = None) -> str:
    """A JWK integer: big-endian, in ``length`` bytes or as few as it takes (RFC 7518 6.3.1.1)."""
    return _b64(number.to_bytes(length or (number.bit_length() + 7) // 8 or 1, "big"))


def public_members(key: PublicKeyTypes) -> dict[str, str]:
    """``kty`` and the public members of ``key``'s JWK: never a private one."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _b64_int(numbers.x, 32), "y": _b64_int(numbers.y, 32)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)}
    raise ValueError(f"No JWK for {type(key).__name__}")


def thumbprint(key: PublicKeyTypes) -> str:
    """The RFC 7638 SHA-256 thumbprint of ``key``, base64url: its ``kid``."""
    members = public_members(key)
    canonical = {name: members[name] for name in PUBLIC_MEMBERS[members["kty"]]}
    return _b64(hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).digest())


def public_jwk(algorithm: str, kid: str, key: PublicKeyTypes) -> dict[str, str]:
    """The key's RFC 7517 entry in the JWKS: ``kty``, ``kid``, ``use``, ``alg`` and public members."""
    members = public_members(key)
    return {"kty": members.pop("kty"), "kid": kid, "use": "sig", "alg": algorithm, **members}


def hmac_key_id(secret: bytes) -> str:
    """A stable ``kid`` for the HMAC key: an HMAC of a fixed label under it, which reveals nothing of it."""
    digest = hmac.new(secret, b"accounts-service jwt key id", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


@dataclass(frozen=True, eq=False)
class KeySet:
    """The keys one worker uses at one moment; replaced as a whole when they change.

    ``verifying`` maps each accepted ``kid`` to its key (a public key, or the
    HMAC secret); ``signers`` are ``(signs_from, kid, private key)``, oldest
    first; ``unnamed`` is the key for tokens without a ``kid`` (HMAC tokens
    issued before tokens carried one), if any. Objects compare by identity, so
    the verified-token cache keyed by a set forgets tokens once the set changes.
    """

    algorithm: str
    verifying: Mapping[str, Any]
    signers: tuple[tuple[float, str, Any], ...]
    jwks: dict[str, list[dict[str, str]]]
    unnamed: Any = None

    def signing_key(self, now: float) -> tuple[str, Any]:
        """The ``kid`` and key that sign at ``now``: the newest signer whose time has come."""
        ready = [signer for signer in self.signers if signer[0] <= now] or self.signers[:1]
        _, kid, key = ready[-1]
        return kid, key

    def verification_key(self, kid: object) -> Any:
        """The key for a token whose header names ``kid``; None for a key that is not ours."""
        if kid is None:
            return self.unnamed
        if not isinstance(kid, str):
            return None
        return self.verifying.get(kid)

    def same_keys(self, other: "KeySet | None") -> bool:
        return (
            other is not None
            and set(self.verifying) == set(other.verifying)
            and [signer[:2] for signer in self.signers] == [signer[:2] for signer in other.signers]
        )


def hmac_key_set(algorithm: str, secret: bytes) -> KeySet:
    """The one HMAC key: it signs with its ``kid`` and verifies tokens with it or without any."""
    kid = hmac_key_id(secret)
    return KeySet(algorithm, {kid: secret}, ((0.0, kid, secret),), {"keys": []}, unnamed=secret)
