"""Resetting a forgotten password by mail: sendPasswordResetEmail and passwordReset, through HTTP
and a real SMTP server on loopback."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, GraphQL, count_rows, update_user
from flask import Flask
from inbox import Mailbox, mailing_app, smtp_server, text_of, token_in  # noqa: F401

from service.auth.email_tokens import PASSWORD_RESET, find_email_token, use_email_token
from service.errors import TokenInvalid
from service.extensions import db
from service.models import EmailToken, utcnow

FORGOT = "mutation Forgot($email: String!) { sendPasswordResetEmail(email: $email) { ok } }"
RESET = """
mutation Reset($token: String!, $password: String!) {
  passwordReset(token: $token, newPassword: $password) { ok }
}
"""
LOGIN = """
mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token refreshToken } }
"""
REFRESH = "mutation Refresh($r: String!) { refreshAccessToken(refreshToken: $r) { token } }"
CHANGE_PASSWORD = """
mutation Change($old: String!, $new: String!) { changePassword(oldPassword: $old, newPassword: $new) { ok } }
"""
VERIFY = "mutation Verify($token: String!) { verifyAccount(token: $token) { ok } }"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def app(tmp_path_factory, smtp_server) -> Iterator[Flask]:  # noqa: F811
    with mailing_app(
        tmp_path_factory, smtp_server, PASSWORD_RESET_MAX_PER_EMAIL=3, PASSWORD_RESET_MAX_PER_IP=6
    ) as app:
        yield app


@pytest.fixture
def mailbox(app, client, smtp_server) -> Mailbox:  # noqa: F811
    box = Mailbox(app, smtp_server)
    box.clear()
    return box


@pytest.fixture
def account(gql: GraphQL, mailbox: Mailbox) -> dict:
    """ali, signed in, with the registration's mail already read."""
    created = gql.register("ali")
    mailbox.deliver(1)
    mailbox.clear()
    return created


def reset_link(gql: GraphQL, mailbox: Mailbox, email: str = "ali@example.com") -> str:
    assert gql(FORGOT, {"email": email}) == {"sendPasswordResetEmail": {"ok": True}}
    [mail] = mailbox.deliver(1)
    assert mail["To"] == "ali@example.com"
    return token_in(mail, "reset")


def test_a_reset_link_sets_a_new_password_and_ends_every_session(gql, mailbox, account, app):
    other = gql(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["tokenAuth"]
    token = reset_link(gql, mailbox, "ALI@Example.com")

    assert gql(RESET, {"token": token, "password": NEW_PASSWORD}) == {"passwordReset": {"ok": True}}

    for session in (account, other):
        refused = gql.error("{ whoami { id } }", token=session["token"])
        assert refused["extensions"] == {"code": "UNAUTHENTICATED", "reason": "revoked"}
        assert gql.error(REFRESH, {"r": session["refreshToken"]})["extensions"]["code"] == "TOKEN_REVOKED"
    assert gql.error(LOGIN, {"u": "ali", "p": STRONG_PASSWORD})["extensions"]["code"] == "INVALID_CREDENTIALS"
    signed_in = gql(LOGIN, {"u": "ali", "p": NEW_PASSWORD})["tokenAuth"]["token"]
    assert gql("{ whoami { isVerified } }", token=signed_in)["whoami"]["isVerified"] is True
    assert count_rows(app, "security_events", kind="PASSWORD_RESET_REQUESTED", user_id=1) == 1
    assert count_rows(app, "security_events", kind="PASSWORD_RESET", user_id=1) == 1


def test_a_reset_link_works_once(gql, mailbox, account):
    token = reset_link(gql, mailbox)
    gql(RESET, {"token": token, "password": NEW_PASSWORD})

    error = gql.error(RESET, {"token": token, "password": "yet another passphrase"})

    assert error["extensions"]["code"] == "TOKEN_INVALID"
    assert gql(LOGIN, {"u": "ali", "p": NEW_PASSWORD})["tokenAuth"]["token"]


def test_the_reset_mail_says_how_long_the_link_lasts(gql, mailbox, account):
    gql(FORGOT, {"email": "ali@example.com"})

    assert "60" in text_of(mailbox.deliver(1)[0])


def test_an_unknown_address_gets_the_same_answer_and_no_mail(gql, mailbox, account, app):
    known_status, known = gql.post(FORGOT, {"email": "ali@example.com"})
    unknown_status, unknown = gql.post(FORGOT, {"email": "nobody@example.com"})

    assert (
        (unknown_status, unknown)
        == (known_status, known)
        == (200, {"data": {"sendPasswordResetEmail": {"ok": True}}})
    )
    [mail] = mailbox.deliver(1)
    assert mail["To"] == "ali@example.com"
    assert count_rows(app, "email_tokens", purpose="password_reset") == 1


def test_an_inactive_account_gets_no_mail(gql, mailbox, account, app):
    update_user(app, "ali", is_active=False)

    assert gql(FORGOT, {"email": "ali@example.com"}) == {"sendPasswordResetEmail": {"ok": True}}
    mailbox.deliver(0)


def test_requests_are_limited_per_address_alike_for_known_and_unknown_ones(gql, mailbox, account):
    answers = {}
    for email in ("ali@example.com", "nobody@example.com"):
        for _ in range(3):
            gql(FORGOT, {"email": email})
        error = gql.error(FORGOT, {"email": email.upper()})
        answers[email] = (error["extensions"]["code"], error["message"])

    assert answers["ali@example.com"] == answers["nobody@example.com"]
    assert answers["ali@example.com"][0] == "RATE_LIMITED"
    mailbox.deliver(3)


def test_requests_are_limited_per_client(gql, mailbox, account):
    for number in range(6):
        gql(FORGOT, {"email": f"someone{number}@example.com"})

    assert gql.error(FORGOT, {"email": "ali@example.com"})["extensions"]["code"] == "RATE_LIMITED"
    mailbox.deliver(0)


def test_a_malformed_address_is_refused_naming_the_field(gql):
    error = gql.error(FORGOT, {"email": "not an address"})

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["email"]


def test_a_refused_password_uses_up_nothing(gql, mailbox, account):
    token = reset_link(gql, mailbox)

    error = gql.error(RESET, {"token": token, "password": "password"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["newPassword"]

    assert gql(RESET, {"token": token, "password": NEW_PASSWORD})["passwordReset"]["ok"] is True


def test_a_reset_link_dies_when_the_password_changes_another_way(gql, mailbox, account):
    token = reset_link(gql, mailbox)
    gql(CHANGE_PASSWORD, {"old": STRONG_PASSWORD, "new": NEW_PASSWORD}, token=account["token"])

    error = gql.error(RESET, {"token": token, "password": "yet another passphrase"})

    assert error["extensions"]["code"] == "TOKEN_INVALID"


def test_a_newer_reset_link_replaces_the_older_one(gql, mailbox, account):
    first = reset_link(gql, mailbox)
    mailbox.clear()
    second = reset_link(gql, mailbox)

    assert (
        gql.error(RESET, {"token": first, "password": NEW_PASSWORD})["extensions"]["code"] == "TOKEN_INVALID"
    )
    assert gql(RESET, {"token": second, "password": NEW_PASSWORD})["passwordReset"]["ok"] is True


def test_an_expired_reset_link_is_refused_as_expired(gql, mailbox, account, app):
    token = reset_link(gql, mailbox)
    with app.app_context():
        db.session.execute(sa.update(EmailToken).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
        db.session.commit()

    assert (
        gql.error(RESET, {"token": token, "password": NEW_PASSWORD})["extensions"]["code"] == "TOKEN_EXPIRED"
    )


def test_a_verification_token_does_not_reset_a_password(gql, mailbox):
    gql.register("ali")
    token = token_in(mailbox.deliver(1)[0], "verify")

    assert (
        gql.error(RESET, {"token": token, "password": NEW_PASSWORD})["extensions"]["code"] == "TOKEN_INVALID"
    )
    assert gql(VERIFY, {"token": token})["verifyAccount"]["ok"] is True


def test_tokens_are_stored_only_as_digests(gql, mailbox, account, app):
    token = reset_link(gql, mailbox)

    with app.app_context():
        stored = db.session.scalars(sa.select(EmailToken.token_hash)).all()
    assert token not in stored
    assert all(len(digest) == 64 for digest in stored)


def test_of_two_uses_at_once_only_the_first_to_mark_the_token_gets_through(gql, mailbox, account, app):
    token = reset_link(gql, mailbox)

    with app.app_context():
        now = utcnow()
        record = find_email_token(token, PASSWORD_RESET, now=now)  # both requests found it unused
        with db.engine.begin() as other_request:
            other_request.execute(sa.update(EmailToken).values(used_at=now))
        with pytest.raises(TokenInvalid):
            use_email_token(record, now=now)
        db.session.rollback()


def test_tokens_purge_removes_used_and_expired_mail_tokens_only(gql, mailbox, account, app):
    used = reset_link(gql, mailbox)
    gql(RESET, {"token": used, "password": NEW_PASSWORD})
    gql.register("reza")
    with app.app_context():
        db.session.add(
            EmailToken(
                user_id=1,
                purpose=PASSWORD_RESET,
                token_hash="e" * 64,
                email_at_issue="ali@example.com",
                password_stamp="",
                expires_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["tokens", "purge"])

    assert result.exit_code == 0, result.output
    assert "Removed 2 used or expired email tokens." in result.output
    # What is left: the live verification links of ali and reza.
    assert count_rows(app, "email_tokens") == count_rows(app, "email_tokens", purpose="verify_email") == 2
