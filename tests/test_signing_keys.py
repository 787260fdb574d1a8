"""Signing keys: a ``kid`` on every token, the JWKS, forged tokens refused, ``flask keys ...``.

Over the Flask test client and the CLI runner; ``test_signing_keys_server`` shows the same
through gunicorn with two workers.
"""

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from conftest import TEST_SECRET_KEY, GraphQL, app_settings, configured_app, count_rows, empty_tables
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from flask import Flask

from service import create_app
from service.auth.keyring import SIGNING_KEYS_MAX_AGE
from service.auth.keys import generate_private_key, thumbprint
from service.config import ConfigError, settings_from_env
from service.extensions import db

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
WHOAMI = "{ whoami { username } }"
VERIFY = "mutation Verify($token: String!) { verifyToken(token: $token) { payload } }"
PUBLIC_MEMBERS = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def hmac_signed(token: str, secret: bytes, header: dict) -> str:
    """``token``'s claims under ``header``, signed with HMAC-SHA256 and ``secret`` by hand
    (PyJWT itself refuses a PEM key as an HMAC secret)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims_of(token)).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def public_pem(app: Flask, kid: str) -> bytes:
    with app.app_context():
        pem = db.session.scalar(sa.text("SELECT public_key FROM signing_keys WHERE kid = :kid"), {"kid": kid})
    return pem.encode()


def our_signing_key(app: Flask):
    """The private key the app signs with (read as the app reads it)."""
    with app.app_context():
        return app.extensions["auth"].tokens.keys.current().signing_key(time.time())[1]


def refused(gql: GraphQL, token: str) -> None:
    """The token authenticates nobody, and verifyToken calls it invalid."""
    error = gql.error(WHOAMI, token=token)
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "invalid"}
    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_INVALID"


def flask_command(app: Flask, *args: str) -> tuple[int, str]:
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module", params=ALGORITHMS)
def keyed_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with configured_app(tmp_path_factory, JWT_ALGORITHM=request.param, JWT_KEYS_CACHE_SECONDS=1) as app:
        yield app


@pytest.fixture
def keyed(keyed_app: Flask) -> GraphQL:
    """A client of the key-pair app on an empty database: its first request makes the first key."""
    empty_tables(keyed_app)
    keyed_app.extensions["auth"].tokens.keys.forget()  # its keys were deleted too
    return GraphQL(keyed_app.test_client())


# HMAC (the default)


def test_hmac_tokens_carry_a_kid_that_is_not_the_secret(gql: GraphQL) -> None:
    token = gql.register()["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] and header["kid"] not in TEST_SECRET_KEY
    assert kid_of(gql.register("bo")["token"]) == header["kid"]


def test_hmac_tokens_from_before_kids_still_verify(gql: GraphQL) -> None:
    token = gql.register()["token"]
    without_kid = jwt.encode(claims_of(token), TEST_SECRET_KEY, algorithm="HS256")
    assert "kid" not in jwt.get_unverified_header(without_kid)
    assert gql(WHOAMI, token=without_kid)["whoami"]["username"] == "ali"


def test_hmac_tokens_naming_another_kid_are_refused(gql: GraphQL) -> None:
    token = gql.register()["token"]
    refused(gql, jwt.encode(claims_of(token), TEST_SECRET_KEY, algorithm="HS256", headers={"kid": "other"}))


def test_the_jwks_of_an_hmac_service_holds_no_key(gql: GraphQL) -> None:
    response = gql.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.get_json() == {"keys": []}
    assert TEST_SECRET_KEY not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "public, max-age=60"


def test_keys_list_under_hmac_says_there_are_no_key_pairs(app: Flask) -> None:
    code, output = flask_command(app, "keys", "list")
    assert code == 0
    assert "HS256 signs with SECRET_KEY: no key pairs are used." in output


@pytest.mark.parametrize(("written", "meant"), [("eddsa", "EdDSA"), (" rs256 ", "RS256"), ("Es256", "ES256")])
def test_algorithm_names_are_read_in_any_case(written: str, meant: str) -> None:
    assert settings_from_env({"JWT_ALGORITHM": written})["JWT_ALGORITHM"] == meant


def test_rotate_is_refused_under_hmac(app: Flask) -> None:
    code, output = flask_command(app, "keys", "rotate")
    assert code == 1
    assert "Error: HS256 signs with SECRET_KEY" in output


# Key pairs


def test_tokens_are_signed_with_the_configured_algorithm_and_a_published_kid(
    keyed_app: Flask, keyed: GraphQL
) -> None:
    token = keyed.register()["token"]
    algorithm = keyed_app.config["JWT_ALGORITHM"]
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    (published,) = keyed.client.get("/.well-known/jwks.json").get_json()["keys"]
    assert published["kid"] == kid_of(token)
    assert (published["use"], published["alg"]) == ("sig", algorithm)
    claims = jwt.decode(token, jwt.PyJWK(published).key, algorithms=[algorithm])
    assert claims["username"] == "ali"
    assert keyed(WHOAMI, token=token)["whoami"]["username"] == "ali"


def test_the_jwks_holds_public_members_only_and_may_be_cached(keyed_app: Flask, keyed: GraphQL) -> None:
    keyed.register()
    response = keyed.client.get("/.well-known/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=1"
    for published in response.get_json()["keys"]:
        assert set(published) <= PUBLIC_MEMBERS
        assert not set(published) & PRIVATE_MEMBERS
        assert published["kty"] == {"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[published["alg"]]


def test_private_keys_are_stored_sealed(keyed_app: Flask, keyed: GraphQL) -> None:
    keyed.register()
    with keyed_app.app_context():
        (sealed,) = db.session.scalars(sa.text("SELECT private_key_sealed FROM signing_keys")).all()
    assert "PRIVATE KEY" not in sealed
    assert sealed.startswith("gAAAAA")  # a Fernet token


FORGERIES = {
    "foreign key, our kid": lambda token, kid, app: jwt.encode(
        claims_of(token),
        generate_private_key(app.config["JWT_ALGORITHM"]),
        algorithm=app.config["JWT_ALGORITHM"],
        headers={"kid": kid},
    ),
    "foreign key, its own kid": lambda token, kid, app: jwt.encode(
        claims_of(token),
        generate_private_key(app.config["JWT_ALGORITHM"]),
        algorithm=app.config["JWT_ALGORITHM"],
        headers={"kid": "attacker"},
    ),
    "our own key, no kid": lambda token, kid, app: jwt.encode(
        claims_of(token), our_signing_key(app), algorithm=app.config["JWT_ALGORITHM"]
    ),
    "HS256 with our public key as the secret": lambda token, kid, app: hmac_signed(
        token, public_pem(app, kid), {"alg": "HS256", "typ": "JWT", "kid": kid}
    ),
    "HS256 with SECRET_KEY": lambda token, kid, app: jwt.encode(
        claims_of(token), TEST_SECRET_KEY, algorithm="HS256", headers={"kid": kid}
    ),
    "alg none": lambda token, kid, app: jwt.encode(
        claims_of(token), None, algorithm="none", headers={"kid": kid}
    ),
    "kid not a string": lambda token, kid, app: hmac_signed(
        token, b"x" * 32, {"alg": app.config["JWT_ALGORITHM"], "kid": [kid]}
    ),
    "signature of another token": lambda token, kid, app: token.rsplit(".", 1)[0] + "." + b64(b"\0" * 64),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_tokens_are_refused(keyed_app: Flask, keyed: GraphQL, forge) -> None:
    token = keyed.register()["token"]
    refused(keyed, forge(token, kid_of(token), keyed_app))
    assert keyed(WHOAMI, token=token)["whoami"]["username"] == "ali"


def test_the_rfc_7638_example_key_has_the_rfc_thumbprint() -> None:
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
    key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_workers_starting_together_make_one_first_key(tmp_path: Path) -> None:
    """Several processes' key rings on one empty database all end up signing with the same key."""
    settings = app_settings(tmp_path, JWT_ALGORITHM="EdDSA")
    apps = [create_app(settings) for _ in range(4)]
    with apps[0].app_context():
        import flask_migrate

        flask_migrate.upgrade()
    start, kids, errors = threading.Barrier(len(apps)), [], []

    def first_request(app: Flask) -> None:
        try:
            with app.app_context():
                start.wait()
                kids.append(app.extensions["auth"].tokens.keys.current().signing_key(time.time())[0])
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=first_request, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(kids)) == 1
    assert count_rows(apps[0], "signing_keys") == 1
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# flask keys ...


def test_keys_list_shows_the_signing_key(keyed_app: Flask, keyed: GraphQL) -> None:
    kid = kid_of(keyed.register()["token"])
    code, output = flask_command(keyed_app, "keys", "list")
    assert code == 0, output
    header, line = output.splitlines()
    assert header.split() == ["kid", "algorithm", "created", "state", "since"]
    assert line.split()[0] == kid and line.split()[1] == keyed_app.config["JWT_ALGORITHM"]
    assert line.split()[4] == "signing"


def test_rotation_signs_with_the_new_key_from_now_on_and_old_tokens_work_until_retired(
    keyed_app: Flask, keyed: GraphQL
) -> None:
    old_token = keyed.register()["token"]
    old_kid = kid_of(old_token)
    code, output = flask_command(keyed_app, "keys", "rotate")
    assert code == 0, output
    new_kid = output.split()[2]
    published = [key["kid"] for key in keyed.client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert published == [new_kid, old_kid]
    states = {
        line.split()[0]: line.split()[4]
        for line in flask_command(keyed_app, "keys", "list")[1].splitlines()[1:]
    }
    assert states == {old_kid: "verifying", new_kid: "signing"}

    new_token = keyed.register("bo")["token"]
    assert kid_of(new_token) == new_kid
    assert keyed(WHOAMI, token=old_token)["whoami"]["username"] == "ali"  # and is remembered as verified

    code, output = flask_command(keyed_app, "keys", "retire", old_kid)
    assert code == 0, output
    refused(keyed, old_token)
    published = [key["kid"] for key in keyed.client.get("/.well-known/jwks.json").get_json()["keys"]]
    assert published == [new_kid]
    assert keyed(WHOAMI, token=new_token)["whoami"]["username"] == "bo"
    code, output = flask_command(keyed_app, "keys", "retire", old_kid)
    assert (code, "already retired" in output) == (1, True)
    # The key that signs now cannot be retired.
    code, output = flask_command(keyed_app, "keys", "retire", new_kid)
    assert code == 1
    assert "signs new tokens: run `flask keys rotate` first" in output


def test_every_server_signs_with_a_rotated_key_at_once_and_accepts_its_tokens(tmp_path: Path) -> None:
    """Three app servers on one database, keys cached for a minute: one rotates and signs with the
    new key; another, handed such a token, reads the keys at once instead of refusing it; the
    third, which read the keys before the rotation, signs its next token with the new key too."""
    settings = app_settings(tmp_path, JWT_ALGORITHM="ES256", JWT_KEYS_CACHE_SECONDS=60)
    apps = [create_app(settings) for _ in range(3)]
    with apps[0].app_context():
        import flask_migrate

        flask_migrate.upgrade()
    one, other, third = (GraphQL(app.test_client()) for app in apps)
    old_token = one.register()["token"]
    for server in (other, third):
        assert server(WHOAMI, token=old_token)["whoami"]["username"] == "ali"  # each has read the keys
    code, output = flask_command(apps[0], "keys", "rotate")
    assert code == 0, output
    new_kid = output.split()[2]
    new_token = one.register("bo")["token"]
    assert kid_of(new_token) == new_kid

    assert other(WHOAMI, token=new_token)["whoami"]["username"] == "bo"
    time.sleep(SIGNING_KEYS_MAX_AGE)
    assert kid_of(third.register("cy")["token"]) == new_kid
    assert third(WHOAMI, token=old_token)["whoami"]["username"] == "ali"  # old tokens still verify
    # A token naming a kid nobody has is still refused (the fresh read finds nothing new).
    forged = jwt.encode(
        jwt.decode(new_token, options={"verify_signature": False}),
        generate_private_key("ES256"),
        algorithm="ES256",
        headers={"kid": "not-ours"},
    )
    refused(other, forged)
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("kid", ["unknown", "", "-sZXRJYE-tCJoI4NhOALUBtHsHU3j"])
def test_retiring_an_unknown_key_is_an_error(keyed_app: Flask, keyed: GraphQL, kid: str) -> None:
    keyed.register()
    code, output = flask_command(keyed_app, "keys", "retire", kid)
    assert code == 1
    assert f"Error: No signing key {kid!r}." in output


def test_a_new_secret_key_makes_a_new_signing_key_and_old_tokens_still_verify(
    keyed_app: Flask, keyed: GraphQL, tmp_path: Path
) -> None:
    old_token = keyed.register()["token"]
    other = create_app(
        {
            **app_settings(tmp_path, SQLALCHEMY_DATABASE_URI=keyed_app.config["SQLALCHEMY_DATABASE_URI"]),
            "JWT_ALGORITHM": keyed_app.config["JWT_ALGORITHM"],
            "SECRET_KEY": "another-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        }
    )
    other_gql = GraphQL(other.test_client())
    assert other_gql(WHOAMI, token=old_token)["whoami"]["username"] == "ali"
    new_token = other_gql(
        'mutation { tokenAuth(username: "ali", password: "correct horse battery staple") { token } }'
    )["tokenAuth"]["token"]
    assert kid_of(new_token) != kid_of(old_token)
    assert count_rows(other, "signing_keys") == 2
    with other.app_context():
        db.engine.dispose()


# JWT_PRIVATE_KEY_FILE


def write_pem(path: Path, key) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(path)


def test_a_key_file_signs_under_its_thumbprint_and_keeps_verifying_after_it_changes(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with configured_app(
        tmp_path_factory, JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=write_pem(tmp_path / "1.pem", first)
    ) as app:
        gql = GraphQL(app.test_client())
        old_token = gql.register()["token"]
        assert kid_of(old_token) == thumbprint(first.public_key())
        with app.app_context():  # recorded with its public half only
            stored = db.session.execute(sa.text("SELECT kid, private_key_sealed FROM signing_keys")).all()
        assert stored == [(kid_of(old_token), None)]
        code, output = flask_command(app, "keys", "rotate")
        assert code == 1 and "JWT_PRIVATE_KEY_FILE" in output

        # The operator puts a new key in the file and restarts.
        changed = create_app({**app.config, "JWT_PRIVATE_KEY_FILE": write_pem(tmp_path / "2.pem", second)})
        changed_gql = GraphQL(changed.test_client())
        new_token = changed_gql.register("bo")["token"]
        assert kid_of(new_token) == thumbprint(second.public_key())
        assert changed_gql(WHOAMI, token=old_token)["whoami"]["username"] == "ali"
        published = {
            key["kid"] for key in changed_gql.client.get("/.well-known/jwks.json").get_json()["keys"]
        }
        assert published == {kid_of(old_token), kid_of(new_token)}
        code, output = flask_command(changed, "keys", "retire", kid_of(new_token))
        assert code == 1 and "signs new tokens" in output
        code, output = flask_command(changed, "keys", "retire", kid_of(old_token))
        assert code == 0, output
        refused(changed_gql, old_token)


BAD_KEY_FILES = {
    "missing": (None, "cannot be read"),
    "not PEM": (b"hello", "is not an unencrypted PEM private key"),
    "a public key": (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "is not an unencrypted PEM private key",
    ),
    "encrypted": (
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
        "is not an unencrypted PEM private key",
    ),
    "an Ed25519 key for ES256": (ed25519.Ed25519PrivateKey.generate(), "must hold an EC private key"),
    "a P-384 key for ES256": (ec.generate_private_key(ec.SECP384R1()), "on the P-256 curve"),
}


@pytest.mark.parametrize(("content", "message"), BAD_KEY_FILES.values(), ids=BAD_KEY_FILES.keys())
def test_an_unusable_key_file_stops_the_app_with_one_line(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "key.pem"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        write_pem(path, content)
    with pytest.raises(ConfigError, match=message) as raised:
        create_app(app_settings(tmp_path, JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=str(path)))
    assert "\n" not in str(raised.value)


def test_a_short_rsa_key_file_is_refused(tmp_path: Path) -> None:
    path = write_pem(tmp_path / "key.pem", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ConfigError, match="at least 2048 bits"):
        create_app(app_settings(tmp_path, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY_FILE=path))
