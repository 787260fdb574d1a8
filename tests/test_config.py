"""Settings: read from the environment once, with safe defaults and clear refusals."""

import stat

import pytest
from argon2 import profiles
from conftest import FAST_HASHING, app_settings

from service import create_app
from service.config import ConfigError, settings_from_env


def test_defaults_match_the_documented_values():
    settings = settings_from_env({})

    assert settings["JWT_ACCESS_TOKEN_LIFETIME"] == 3600
    assert settings["JWT_REFRESH_TOKEN_LIFETIME"] == 7 * 24 * 3600
    assert settings["JWT_ALGORITHM"] == "HS256"
    assert settings["UPLOAD_FOLDER"] == "uploads"
    assert settings["GRAPHQL_EXPLORER"] == "playground"
    assert settings["GRAPHQL_INTROSPECTION"] is True


def test_password_hashing_defaults_to_rfc_9106_parameters():
    settings = settings_from_env({})
    expected = profiles.RFC_9106_LOW_MEMORY

    assert (settings["ARGON2_TIME_COST"], settings["ARGON2_MEMORY_COST"], settings["ARGON2_PARALLELISM"]) == (
        expected.time_cost,
        expected.memory_cost,
        expected.parallelism,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JWT_ACCESS_TOKEN_LIFETIME": "soon"}, "JWT_ACCESS_TOKEN_LIFETIME"),
        ({"JWT_REFRESH_TOKEN_LIFETIME": "0"}, "JWT_REFRESH_TOKEN_LIFETIME"),
        ({"GRAPHQL_EXPLORER": "voyager"}, "GRAPHQL_EXPLORER"),
        ({"GRAPHQL_INTROSPECTION": "maybe"}, "GRAPHQL_INTROSPECTION"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"JWT_ALGORITHM": "PS256"}, "JWT_ALGORITHM"),
        ({"JWT_ALGORITHM": "RS256", "JWT_KEYS_CACHE_SECONDS": "0"}, "JWT_KEYS_CACHE_SECONDS"),
        ({"JWT_PRIVATE_KEY_FILE": "/etc/key.pem"}, "JWT_PRIVATE_KEY_FILE needs JWT_ALGORITHM"),
    ],
)
def test_malformed_settings_are_refused_by_name(env, named):
    with pytest.raises(ConfigError, match=named):
        settings_from_env(env)


def test_a_short_secret_key_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY must be at least 32 bytes"):
        create_app(app_settings(tmp_path, SECRET_KEY="too-short"))


def test_a_missing_secret_key_is_generated_once_and_kept_private(tmp_path):
    config = app_settings(tmp_path, SECRET_KEY=None)

    first = create_app(config)
    second = create_app(config)

    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32


def test_tokens_from_one_process_are_accepted_by_another_sharing_the_key_file(tmp_path):
    """Two gunicorn workers (here: two apps) must agree on the generated key."""
    import flask_migrate

    config = app_settings(tmp_path, SECRET_KEY=None)
    issuer, verifier = create_app(config), create_app(config)
    with issuer.app_context():
        flask_migrate.upgrade()
    created = issuer.test_client().post(
        "/graphql",
        json={
            "query": "mutation($i: CreateUserInput!) { createUser(input: $i) { token } }",
            "variables": {
                "i": {"username": "ali", "email": "ali@example.com", "password": "a long passphrase"}
            },
        },
    )
    token = created.get_json()["data"]["createUser"]["token"]

    answer = verifier.test_client().post(
        "/graphql", json={"query": "{ whoami { username } }"}, headers={"Authorization": f"JWT {token}"}
    )

    assert answer.get_json() == {"data": {"whoami": {"username": "ali"}}}


def test_the_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    app = create_app(
        {
            **FAST_HASHING,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "k" * 32,
            "SQLALCHEMY_DATABASE_URI": None,
        }
    )

    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'accounts.sqlite3'}"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/accounts", "postgresql+psycopg://u:p@db:5432/accounts"),
        ("postgresql://u:p@db/accounts", "postgresql+psycopg://u:p@db/accounts"),
        ("postgresql+psycopg://u@db/accounts", "postgresql+psycopg://u@db/accounts"),
        ("sqlite:////var/lib/accounts.sqlite3", "sqlite:////var/lib/accounts.sqlite3"),
    ],
)
def test_database_urls_of_hosting_platforms_use_psycopg_3(given, used):
    assert settings_from_env({"DATABASE_URL": given})["SQLALCHEMY_DATABASE_URI"] == used


@pytest.mark.parametrize(
    ("algorithm", "minimum"),
    [("HS256", 32), ("HS384", 48), ("HS512", 64)],
)
def test_the_secret_key_must_be_as_long_as_the_algorithms_hash(tmp_path, algorithm, minimum):
    with pytest.raises(ConfigError, match=f"at least {minimum} bytes long for {algorithm}"):
        create_app(app_settings(tmp_path, JWT_ALGORITHM=algorithm, SECRET_KEY="k" * (minimum - 1)))

    app = create_app(app_settings(tmp_path, JWT_ALGORITHM=algorithm, SECRET_KEY="k" * minimum))
    assert app.config["JWT_ALGORITHM"] == algorithm


def test_a_generated_secret_key_is_long_enough_for_hs512(tmp_path):
    app = create_app(app_settings(tmp_path, SECRET_KEY=None, JWT_ALGORITHM="HS512"))

    assert len(app.config["SECRET_KEY"].encode()) >= 64


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://accounts.example.com", "https://accounts.example.com"),
        ("https://accounts.example.com/", "https://accounts.example.com"),
        ("http://127.0.0.1:8000/accounts/", "http://127.0.0.1:8000/accounts"),
    ],
)
def test_the_public_url_is_kept_without_its_trailing_slash(given, kept):
    assert settings_from_env({"PUBLIC_URL": given})["PUBLIC_URL"] == kept


@pytest.mark.parametrize(
    "given", ["accounts.example.com", "ftp://example.com", "https://x.example/?a=1", "/"]
)
def test_a_malformed_public_url_is_refused_by_name(given):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        settings_from_env({"PUBLIC_URL": given})


def test_the_hardening_defaults_match_the_documented_values():
    settings = settings_from_env({})

    assert settings["SESSION_MAX_PER_USER"] == 50
    assert settings["REGISTRATION_ATTEMPTS_PER_IP"] == 30
    assert settings["PROFILE_PICTURE_MAX_SIDE"] == 1024
    assert settings["MAX_IMAGE_PIXELS"] == 16_000_000
    assert settings["PUBLIC_URL"] is None
