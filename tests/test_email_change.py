"""Changing the email address: requestEmailChange and confirmEmailChange, the old clients'
updateUser(input: {email}), and the account's mail language, through HTTP and a real SMTP server."""

from collections.abc import Iterator

import pytest
from conftest import LEGACY, STRONG_PASSWORD, GraphQL, count_rows
from flask import Flask
from inbox import Mailbox, mailing_app, smtp_server, text_of, token_in  # noqa: F401

REQUEST = """
mutation Move($email: String!, $password: String!) {
  requestEmailChange(newEmail: $email, password: $password) { ok }
}
"""
CONFIRM = "mutation Confirm($token: String!) { confirmEmailChange(token: $token) { ok } }"
VERIFY = "mutation Verify($token: String!) { verifyAccount(token: $token) { ok } }"
UPDATE = """
mutation Update($input: UpdateUserInput!) { updateUser(input: $input) { user { email isVerified language } } }
"""
LOGIN = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"
WHOAMI = "{ whoami { email isVerified } }"


@pytest.fixture(scope="module")
def app(tmp_path_factory, smtp_server) -> Iterator[Flask]:  # noqa: F811
    with mailing_app(tmp_path_factory, smtp_server) as app:
        yield app


@pytest.fixture
def mailbox(app, client, smtp_server) -> Mailbox:  # noqa: F811
    box = Mailbox(app, smtp_server)
    box.clear()
    return box


@pytest.fixture
def account(gql: GraphQL, mailbox: Mailbox) -> dict:
    """ali, signed in and verified, with the registration's mail already read."""
    created = gql.register("ali")
    gql(VERIFY, {"token": token_in(mailbox.deliver(1)[0], "verify")})
    mailbox.clear()
    return created


def test_the_address_changes_when_the_link_sent_to_the_new_one_is_used(gql, mailbox, account, app):
    assert gql(
        REQUEST, {"email": "ali.new@example.com", "password": STRONG_PASSWORD}, token=account["token"]
    ) == {"requestEmailChange": {"ok": True}}
    confirm, notice = mailbox.deliver(2)
    assert confirm["To"] == "ali.new@example.com"
    assert notice["To"] == "ali@example.com"
    assert "ali.new@example.com" in text_of(notice)
    assert gql(WHOAMI, token=account["token"])["whoami"]["email"] == "ali@example.com"

    assert gql(CONFIRM, {"token": token_in(confirm, "confirm-email")}) == {"confirmEmailChange": {"ok": True}}

    assert gql(WHOAMI, token=account["token"])["whoami"] == {
        "email": "ali.new@example.com",
        "isVerified": True,
    }
    changed = mailbox.deliver(3)[2]
    assert changed["To"] == "ali@example.com"
    assert "ali.new@example.com" in text_of(changed)
    assert count_rows(app, "security_events", kind="EMAIL_CHANGE_REQUESTED", user_id=1) == 1
    assert count_rows(app, "security_events", kind="EMAIL_CHANGED", user_id=1) == 1
    assert gql(LOGIN, {"u": "ALI.new@example.com", "p": STRONG_PASSWORD})["tokenAuth"]["token"]


def test_an_email_change_link_works_once(gql, mailbox, account):
    gql(REQUEST, {"email": "ali.new@example.com", "password": STRONG_PASSWORD}, token=account["token"])
    token = token_in(mailbox.deliver(2)[0], "confirm-email")
    gql(CONFIRM, {"token": token})

    assert gql.error(CONFIRM, {"token": token})["extensions"]["code"] == "TOKEN_INVALID"


def test_a_wrong_password_sends_nothing(gql, mailbox, account, app):
    error = gql.error(REQUEST, {"email": "ali.new@example.com", "password": "not it"}, token=account["token"])

    assert error["extensions"]["code"] == "INVALID_CREDENTIALS"
    mailbox.deliver(0)
    assert count_rows(app, "email_tokens", purpose="email_change") == 0


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("reza@example.com", "already exists"),
        ("Reza@EXAMPLE.com", "already exists"),
        ("ALI@example.com", "already"),
        ("nope", "valid"),
    ],
)
def test_a_new_address_must_be_valid_and_free(gql, mailbox, account, email, message):
    gql.register("reza")
    mailbox.deliver(1)
    mailbox.clear()

    error = gql.error(REQUEST, {"email": email, "password": STRONG_PASSWORD}, token=account["token"])

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["newEmail"]
    assert message in error["extensions"]["fields"]["newEmail"][0]
    mailbox.deliver(0)


def test_an_address_taken_before_the_link_is_used_is_refused(gql, mailbox, account):
    gql(REQUEST, {"email": "ali.new@example.com", "password": STRONG_PASSWORD}, token=account["token"])
    token = token_in(mailbox.deliver(2)[0], "confirm-email")
    gql.register("quick", "ali.new@example.com")

    error = gql.error(CONFIRM, {"token": token})

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["token"]
    assert gql(WHOAMI, token=account["token"])["whoami"]["email"] == "ali@example.com"


def test_request_email_change_needs_a_signed_in_user(gql):
    error = gql.error(REQUEST, {"email": "x@example.com", "password": STRONG_PASSWORD})

    assert error["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_old_clients_email_change_still_works_but_is_unverified(gql, mailbox, account, app):
    variables = {"input": {"email": "nikta.test@example.com"}}
    data = gql(LEGACY["UpdateUserProfile"], variables, token=account["token"])

    assert data["updateUser"]["user"]["email"] == "nikta.test@example.com"
    assert gql(WHOAMI, token=account["token"])["whoami"] == {
        "email": "nikta.test@example.com",
        "isVerified": False,
    }
    verify, notice = mailbox.deliver(2)
    assert verify["To"] == "nikta.test@example.com"
    assert notice["To"] == "ali@example.com"
    assert count_rows(app, "security_events", kind="EMAIL_CHANGED", user_id=1) == 1

    gql(VERIFY, {"token": token_in(verify, "verify")})
    assert gql(WHOAMI, token=account["token"])["whoami"]["isVerified"] is True


def test_a_change_of_case_only_keeps_the_address_verified(gql, mailbox, account):
    user = gql(UPDATE, {"input": {"email": "ALI@example.com"}}, token=account["token"])["updateUser"]["user"]

    assert user["isVerified"] is True
    mailbox.deliver(0)


def test_update_user_sets_the_mail_language(gql, mailbox, account):
    user = gql(UPDATE, {"input": {"language": "RU"}}, token=account["token"])["updateUser"]["user"]
    assert user["language"] == "ru"

    gql(REQUEST, {"email": "ali.new@example.com", "password": STRONG_PASSWORD}, token=account["token"])
    confirm = mailbox.deliver(2)[0]
    assert any("\u0400" <= letter <= "\u04ff" for letter in confirm["Subject"] + text_of(confirm))


@pytest.mark.parametrize("language", ["de", "", "english", "fa-IR"])
def test_update_user_refuses_other_languages(gql, account, language):
    error = gql.error(UPDATE, {"input": {"language": language}}, token=account["token"])

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["language"]
