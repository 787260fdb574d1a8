"""Verifying the email address: the mail sent at registration, verifyAccount, sendVerificationEmail,
and ACCOUNT_REQUIRE_VERIFIED_EMAIL. Mail goes through a real SMTP server on loopback."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import CREATE_USER, LEGACY, STRONG_PASSWORD, GraphQL, count_rows, empty_tables, update_user
from flask import Flask
from inbox import Mailbox, mailing_app, smtp_server, text_of, token_in  # noqa: F401

from service.extensions import db
from service.models import EmailToken

VERIFY = "mutation Verify($token: String!) { verifyAccount(token: $token) { ok } }"
SEND_AGAIN = "mutation { sendVerificationEmail { ok } }"
RESET_REQUEST = "mutation Forgot($email: String!) { sendPasswordResetEmail(email: $email) { ok } }"
WHOAMI = "{ whoami { email isVerified language } }"
LOGIN = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"


@pytest.fixture(scope="module")
def app(tmp_path_factory, smtp_server) -> Iterator[Flask]:  # noqa: F811
    with mailing_app(tmp_path_factory, smtp_server, EMAIL_MAX_PER_ACCOUNT=3) as app:
        yield app


@pytest.fixture
def mailbox(app, client, smtp_server) -> Mailbox:  # noqa: F811
    box = Mailbox(app, smtp_server)
    box.clear()
    return box


def register(gql: GraphQL, username: str = "ali", language: str = "en") -> dict:
    variables = {
        "input": {"username": username, "email": f"{username}@example.com", "password": STRONG_PASSWORD}
    }
    return gql(CREATE_USER, variables, headers={"Accept-Language": language})["createUser"]


def test_registration_mails_a_link_that_verifies_the_address(gql, mailbox, app):
    created = register(gql)
    assert gql(WHOAMI, token=created["token"])["whoami"]["isVerified"] is False

    [mail] = mailbox.deliver(1)
    assert mail["To"] == "ali@example.com"
    assert gql(VERIFY, {"token": token_in(mail, "verify")}) == {"verifyAccount": {"ok": True}}

    assert gql(WHOAMI, token=created["token"])["whoami"] == {
        "email": "ali@example.com",
        "isVerified": True,
        "language": "en",
    }
    assert count_rows(app, "security_events", kind="EMAIL_VERIFIED", user_id=1) == 1


def test_registration_mail_is_in_the_accept_language_language(gql, mailbox):
    created = register(gql, "sara", language="fa-IR,fa;q=0.9,en-US;q=0.8,en;q=0.7")

    [mail] = mailbox.deliver(1)
    assert gql(WHOAMI, token=created["token"])["whoami"]["language"] == "fa"
    assert any("\u0600" <= letter <= "\u06ff" for letter in mail["Subject"] + text_of(mail))
    assert token_in(mail, "verify")


def test_the_old_clients_registration_sends_the_link_too(gql, mailbox):
    gql(
        LEGACY["CreateUser"], {"username": "nikta", "email": "nikta@example.com", "password": STRONG_PASSWORD}
    )

    [mail] = mailbox.deliver(1)
    assert mail["To"] == "nikta@example.com"


def test_a_verification_link_works_once(gql, mailbox):
    register(gql)
    token = token_in(mailbox.deliver(1)[0], "verify")
    gql(VERIFY, {"token": token})

    error = gql.error(VERIFY, {"token": token})

    assert error["extensions"]["code"] == "TOKEN_INVALID"
    assert "already been used" in error["message"]


def test_an_expired_verification_link_is_refused_as_expired(gql, mailbox, app):
    register(gql)
    token = token_in(mailbox.deliver(1)[0], "verify")
    with app.app_context():
        db.session.execute(sa.update(EmailToken).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
        db.session.commit()

    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_EXPIRED"
    assert (
        gql(WHOAMI, token=gql(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["tokenAuth"]["token"])["whoami"][
            "isVerified"
        ]
        is False
    )


def test_a_password_reset_token_does_not_verify_an_address(gql, mailbox):
    register(gql)
    gql(RESET_REQUEST, {"email": "ali@example.com"})
    reset_mail = mailbox.deliver(2)[1]

    error = gql.error(VERIFY, {"token": token_in(reset_mail, "reset")})

    assert error["extensions"]["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize("token", ["", "short", "x" * 43 + "!", "a" * 500, "a" * 43])
def test_malformed_or_unknown_tokens_are_invalid(gql, token):
    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_INVALID"


def test_send_verification_email_replaces_the_older_link(gql, mailbox):
    created = register(gql)
    first = token_in(mailbox.deliver(1)[0], "verify")

    assert gql(SEND_AGAIN, token=created["token"]) == {"sendVerificationEmail": {"ok": True}}
    second = token_in(mailbox.deliver(2)[1], "verify")

    assert gql.error(VERIFY, {"token": first})["extensions"]["code"] == "TOKEN_INVALID"
    assert gql(VERIFY, {"token": second})["verifyAccount"]["ok"] is True


def test_send_verification_email_to_a_verified_account_sends_nothing(gql, mailbox):
    created = register(gql)
    gql(VERIFY, {"token": token_in(mailbox.deliver(1)[0], "verify")})

    assert gql(SEND_AGAIN, token=created["token"]) == {"sendVerificationEmail": {"ok": True}}
    mailbox.deliver(1)


def test_send_verification_email_is_limited_per_account(gql, mailbox):
    created = register(gql)
    for _ in range(3):
        gql(SEND_AGAIN, token=created["token"])

    error = gql.error(SEND_AGAIN, token=created["token"])

    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] > 0
    mailbox.deliver(4)


def test_send_verification_email_needs_a_signed_in_user(gql):
    assert gql.error(SEND_AGAIN)["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_link_for_an_address_the_account_has_left_does_not_verify_the_new_one(gql, mailbox):
    created = register(gql)
    token = token_in(mailbox.deliver(1)[0], "verify")
    gql('mutation { updateUser(input: {email: "ali.new@example.com"}) { ok } }', token=created["token"])

    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_INVALID"


def test_a_deactivated_account_cannot_be_verified(gql, mailbox, app):
    register(gql)
    token = token_in(mailbox.deliver(1)[0], "verify")
    update_user(app, "ali", is_active=False)

    assert gql.error(VERIFY, {"token": token})["extensions"]["code"] == "TOKEN_INVALID"


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory, smtp_server) -> Iterator[Flask]:  # noqa: F811
    """An app with ACCOUNT_REQUIRE_VERIFIED_EMAIL on: logins wait for a verified address."""
    with mailing_app(tmp_path_factory, smtp_server, ACCOUNT_REQUIRE_VERIFIED_EMAIL=True) as app:
        yield app


@pytest.fixture
def strict(strict_app, smtp_server) -> tuple[GraphQL, Mailbox]:  # noqa: F811
    empty_tables(strict_app)
    box = Mailbox(strict_app, smtp_server)
    box.clear()
    return GraphQL(strict_app.test_client()), box


def test_with_verified_email_required_create_user_still_answers_with_its_tokens(strict):
    gql, box = strict
    created = register(gql)

    assert created["token"] and created["refreshToken"]
    assert gql(WHOAMI, token=created["token"])["whoami"]["isVerified"] is False
    box.deliver(1)


def test_with_verified_email_required_token_auth_refuses_only_after_the_right_password(strict):
    gql, box = strict
    register(gql)
    box.deliver(1)

    wrong = gql.error(LOGIN, {"u": "ali", "p": "not the password"})
    assert wrong["extensions"]["code"] == "INVALID_CREDENTIALS"
    box.deliver(1)  # nothing more for a wrong password

    right = gql.error(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})
    assert right["extensions"] == {"code": "EMAIL_NOT_VERIFIED"}
    assert "new verification link" in right["message"]
    fresh = box.deliver(2)[1]

    gql(VERIFY, {"token": token_in(fresh, "verify")})
    assert gql(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["tokenAuth"]["token"]


def test_with_verified_email_required_refusals_mail_no_more_than_the_account_limit(strict):
    gql, box = strict
    register(gql)
    for _ in range(7):
        assert (
            gql.error(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["extensions"]["code"] == "EMAIL_NOT_VERIFIED"
        )

    box.deliver(1 + 5)  # the registration's, then EMAIL_MAX_PER_ACCOUNT (5) more


def test_an_operator_can_vouch_for_an_address_with_flask_users_verify_email(strict, strict_app):
    gql, box = strict
    register(gql)
    box.deliver(1)
    assert gql.error(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["extensions"]["code"] == "EMAIL_NOT_VERIFIED"
    box.deliver(2)

    with strict_app.app_context():
        runner = strict_app.test_cli_runner()
        result = runner.invoke(args=["users", "verify-email", "ali"])
        again = runner.invoke(args=["users", "verify-email", "ali"])
        unknown = runner.invoke(args=["users", "verify-email", "nobody"])

    assert result.exit_code == 0, result.output
    assert "'ali': ali@example.com is now verified." in result.output
    assert (again.exit_code, "was already verified" in again.output) == (0, True)
    assert unknown.exit_code == 1
    token = gql(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["tokenAuth"]["token"]
    assert gql(WHOAMI, token=token)["whoami"]["isVerified"] is True
    assert count_rows(strict_app, "security_events", kind="EMAIL_VERIFIED") == 1
