"""The mail settings: SMTP_URL, MAIL_FROM and the sender's, read and checked once at start-up."""

import pytest

from service.config import ConfigError, settings_from_env


def test_mail_defaults_match_the_documented_values() -> None:
    settings = settings_from_env({})
    assert settings["SMTP_URL"] is None
    assert settings["MAIL_FROM"] == settings["MAIL_FROM_ADDRESS"] == "no-reply@localhost"
    assert settings["MAIL_SENDER"] == "worker"
    assert settings["MAIL_POLL_SECONDS"] == 5
    assert settings["MAIL_SMTP_TIMEOUT"] == 10
    assert settings["MAIL_LEASE_SECONDS"] == 60
    assert settings["MAIL_RETRY_SECONDS"] == 5
    assert settings["MAIL_MAX_ATTEMPTS"] == 32


@pytest.mark.parametrize(
    ("public_url", "mail_from"),
    [
        ("https://accounts.example.com", "no-reply@accounts.example.com"),
        ("http://localhost:8000", "no-reply@localhost"),
        ("http://10.0.0.7:8000", "no-reply@localhost"),
    ],
)
def test_mail_from_defaults_to_the_public_urls_host(public_url: str, mail_from: str) -> None:
    assert settings_from_env({"PUBLIC_URL": public_url})["MAIL_FROM"] == mail_from


def test_mail_from_may_carry_a_display_name() -> None:
    settings = settings_from_env({"MAIL_FROM": "Example Accounts <accounts@example.com>"})
    assert settings["MAIL_FROM"] == "Example Accounts <accounts@example.com>"
    assert settings["MAIL_FROM_ADDRESS"] == "accounts@example.com"


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mail.example.com",
        "smtp://user:p%40ss@mail.example.com:587",
        "smtps://user:secret@mail.example.com:465",
        "smtp://127.0.0.1:1025",
    ],
)
def test_smtp_urls_are_accepted(url: str) -> None:
    assert settings_from_env({"SMTP_URL": url})["SMTP_URL"] == url


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2@mail.example.com",
        "smtp://",
        "smtp://user:hunter2@mail.example.com:port",
        "mail.example.com:587",
        "smtp://user:hunter2@mail.example.com/path",
    ],
)
def test_a_malformed_smtp_url_is_refused_without_showing_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="SMTP_URL must look like") as refused:
        settings_from_env({"SMTP_URL": url})
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MAIL_FROM": "not an address"}, "MAIL_FROM"),
        ({"MAIL_FROM": "Accounts <accounts@>"}, "MAIL_FROM"),
        ({"MAIL_SENDER": "thread"}, "MAIL_SENDER must be one of worker, cron"),
        ({"MAIL_POLL_SECONDS": "0"}, "MAIL_POLL_SECONDS"),
        ({"MAIL_MAX_ATTEMPTS": "many"}, "MAIL_MAX_ATTEMPTS"),
        ({"MAIL_SMTP_TIMEOUT": "30", "MAIL_LEASE_SECONDS": "30"}, "MAIL_LEASE_SECONDS"),
    ],
)
def test_malformed_mail_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_from_env(env)
