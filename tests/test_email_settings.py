"""The email flows' settings: link templates, lifetimes and limits, with safe defaults and clear refusals."""

import pytest

from service.config import ConfigError, settings_from_env


def test_links_default_to_the_public_url_and_lifetimes_to_the_documented_values():
    settings = settings_from_env({"PUBLIC_URL": "https://accounts.example.com/"})

    assert settings["VERIFY_EMAIL_URL"] == "https://accounts.example.com/verify-email?token={token}"
    assert settings["PASSWORD_RESET_URL"] == "https://accounts.example.com/reset-password?token={token}"
    assert settings["EMAIL_CHANGE_URL"] == "https://accounts.example.com/confirm-email?token={token}"
    assert settings["PASSWORD_RESET_LIFETIME"] == 3600
    assert settings["EMAIL_VERIFICATION_LIFETIME"] == 3 * 24 * 3600
    assert settings["EMAIL_CHANGE_LIFETIME"] == 24 * 3600
    assert settings["ACCOUNT_REQUIRE_VERIFIED_EMAIL"] is False


def test_without_a_public_url_links_point_at_the_local_development_server():
    settings = settings_from_env({})

    assert settings["PASSWORD_RESET_URL"] == "http://127.0.0.1:8000/reset-password?token={token}"


def test_a_link_template_of_the_front_end_is_kept_as_given():
    template = "https://app.example.com/#/reset/{token}?from=mail"

    assert settings_from_env({"PASSWORD_RESET_URL": template})["PASSWORD_RESET_URL"] == template


@pytest.mark.parametrize(
    "template",
    [
        "https://app.example.com/reset",
        "/reset?token={token}",
        "ftp://app.example.com/reset?token={token}",
        "javascript:alert(1)//{token}",
        "https://app.example.com/reset?token={token}&again={token}",
        "https://app.example.com/reset?token={tokn}{token}",
        "https:///reset?token={token}",
    ],
)
@pytest.mark.parametrize("name", ["VERIFY_EMAIL_URL", "PASSWORD_RESET_URL", "EMAIL_CHANGE_URL"])
def test_a_link_template_must_be_absolute_http_and_hold_the_token_once(name, template):
    with pytest.raises(ConfigError, match=name):
        settings_from_env({name: template})


@pytest.mark.parametrize(
    "name",
    [
        "PASSWORD_RESET_LIFETIME",
        "EMAIL_VERIFICATION_LIFETIME",
        "PASSWORD_RESET_MAX_PER_EMAIL",
        "EMAIL_MAX_PER_ACCOUNT",
    ],
)
def test_lifetimes_and_limits_must_be_positive(name):
    with pytest.raises(ConfigError, match=name):
        settings_from_env({name: "0"})


def test_require_verified_email_reads_true_and_false():
    assert (
        settings_from_env({"ACCOUNT_REQUIRE_VERIFIED_EMAIL": "yes"})["ACCOUNT_REQUIRE_VERIFIED_EMAIL"] is True
    )
    with pytest.raises(ConfigError, match="ACCOUNT_REQUIRE_VERIFIED_EMAIL"):
        settings_from_env({"ACCOUNT_REQUIRE_VERIFIED_EMAIL": "maybe"})
