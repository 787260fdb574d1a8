"""Signing keys through a real gunicorn with two workers, for each of RS256, ES256 and EdDSA.

Another service verifies our tokens with the README's own PyJWKClient snippet; rotation and
retirement reach both workers without a restart; forged tokens are refused. Every check sends
several requests, each on a new connection, which the two workers share between them.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator

import jwt
import pytest
import requests
from conftest import TEST_SECRET_KEY
from cryptography.hazmat.primitives import serialization
from server import PROJECT_ROOT, VENV_BIN, Server, running_gunicorn

from service.auth.keys import generate_private_key

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
CACHE_SECONDS = 1
REQUESTS_PER_CHECK = 8
README_SNIPPET = re.compile(r"```python\n(import jwt\n.*?PyJWKClient.*?)```\n", re.DOTALL)
WHOAMI = "{ whoami { username } }"
PUBLIC_MEMBERS = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}


class KeyServer:
    """A running server signing with ``algorithm``, and its ``flask keys`` commands."""

    def __init__(self, server: Server, algorithm: str) -> None:
        self.server, self.algorithm = server, algorithm

    @property
    def jwks_url(self) -> str:
        return f"{self.server.url}/.well-known/jwks.json"

    def jwks(self) -> list[dict]:
        response = requests.get(self.jwks_url, timeout=self.server.request_timeout)
        assert response.status_code == 200
        return response.json()["keys"]

    def whoami(self, token: str) -> list[dict]:
        """The answers of several requests with ``token``."""
        return [self.server.graphql(WHOAMI, token=token) for _ in range(REQUESTS_PER_CHECK)]

    def accepts(self, token: str) -> bool:
        return all("errors" not in answer for answer in self.whoami(token))

    def refuses(self, token: str) -> bool:
        return all(
            "errors" in answer
            and answer["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}
            for answer in self.whoami(token)
        )

    def flask_keys(self, *args: str) -> str:
        env = {
            **os.environ,
            "SECRET_KEY": TEST_SECRET_KEY,
            "DATABASE_URL": self.server.database_url,
            "INSTANCE_PATH": str(self.server.folder / "instance"),
            "JWT_ALGORITHM": self.algorithm,
            "JWT_KEYS_CACHE_SECONDS": str(CACHE_SECONDS),
        }
        result = subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", "keys", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module", params=ALGORITHMS)
def keys(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyServer]:
    with running_gunicorn(
        tmp_path_factory.mktemp("keys"),
        workers=2,
        JWT_ALGORITHM=request.param,
        JWT_KEYS_CACHE_SECONDS=str(CACHE_SECONDS),
    ) as server:
        yield KeyServer(server, request.param)


def eventually(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def readme_verifier(jwks_url: str) -> Callable[[str], dict]:
    """The README's five lines, as another service would paste them, pointed at ``jwks_url``."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    (snippet,) = README_SNIPPET.findall(readme)
    assert len(snippet.splitlines()) == 5
    namespace: dict = {}
    exec(snippet.replace("https://accounts.example.com/.well-known/jwks.json", jwks_url), namespace)
    return namespace["verify"]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_another_service_verifies_tokens_with_the_readme_snippet(keys: KeyServer) -> None:
    username, login = keys.server.register()
    verify = readme_verifier(keys.jwks_url)
    claims = verify(login["token"])
    assert claims["username"] == username
    assert claims["sub"] == login["payload"]["sub"]
    forged = jwt.encode(
        claims,
        generate_private_key(keys.algorithm),
        algorithm=keys.algorithm,
        headers={"kid": kid_of(login["token"])},
    )
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged)


def test_both_workers_sign_with_the_one_key_made_on_first_start(keys: KeyServer) -> None:
    kids = {kid_of(keys.server.new_account()) for _ in range(REQUESTS_PER_CHECK)}
    published = [key["kid"] for key in keys.jwks()]
    assert len(kids) == 1
    assert kids <= set(published)
    assert keys.server.scalar("SELECT count(*) FROM signing_keys") == len(published)


def test_the_jwks_holds_public_members_only(keys: KeyServer) -> None:
    response = requests.get(keys.jwks_url, timeout=keys.server.request_timeout)
    assert response.headers["Cache-Control"] == f"public, max-age={CACHE_SECONDS}"
    assert response.headers["Content-Type"] == "application/json"
    for key in response.json()["keys"]:
        assert set(key) <= PUBLIC_MEMBERS, key
        assert (key["use"], key["alg"]) == ("sig", keys.algorithm)


def test_forged_tokens_are_refused(keys: KeyServer) -> None:
    token = keys.server.new_account()
    kid, claims = kid_of(token), jwt.decode(token, options={"verify_signature": False})
    foreign = generate_private_key(keys.algorithm)
    published = next(key for key in keys.jwks() if key["kid"] == kid)
    public_pem = jwt.PyJWK(published).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    hmac_with_public_key = (
        f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    )
    forgeries = [
        jwt.encode(claims, foreign, algorithm=keys.algorithm, headers={"kid": kid}),
        jwt.encode(claims, foreign, algorithm=keys.algorithm, headers={"kid": "unknown"}),
        jwt.encode(claims, foreign, algorithm=keys.algorithm),
        hmac_with_public_key,
    ]
    for forged in forgeries:
        assert keys.refuses(forged), forged
    assert keys.accepts(token)


def test_rotation_keeps_old_tokens_until_retire_then_refuses_them_on_every_worker(keys: KeyServer) -> None:
    old_token = keys.server.new_account()
    old_kid = kid_of(old_token)
    assert keys.accepts(old_token)  # both workers now remember it as verified

    new_kid = keys.flask_keys("rotate").split()[2]
    assert eventually(lambda: new_kid in [key["kid"] for key in keys.jwks()], within=5 * CACHE_SECONDS)
    # Each worker signs with the new key once it has read the keys again (within CACHE_SECONDS).
    new_tokens: list[str] = []

    def every_worker_signs_with_the_new_key() -> bool:
        new_tokens[:] = [keys.server.new_account() for _ in range(REQUESTS_PER_CHECK)]
        return {kid_of(token) for token in new_tokens} == {new_kid}

    assert eventually(every_worker_signs_with_the_new_key, within=5 * CACHE_SECONDS)
    assert keys.accepts(old_token)
    assert all(keys.accepts(token) for token in new_tokens[:2])

    keys.flask_keys("retire", old_kid)
    # Each worker reads the keys again at its first request CACHE_SECONDS after its last read.
    time.sleep(CACHE_SECONDS + 0.5)
    assert keys.refuses(old_token)  # on every worker, every time
    assert keys.refuses(old_token)
    assert old_kid not in [key["kid"] for key in keys.jwks()]
    assert keys.accepts(new_tokens[0])
    verify = readme_verifier(keys.jwks_url)
    assert verify(new_tokens[-1])["sub"]
    with pytest.raises(jwt.PyJWKClientError):
        verify(old_token)
