"""Login identifiers: usernames and emails form one namespace, and names that look alike are one name."""

import pytest
import sqlalchemy as sa
from conftest import LEGACY, STRONG_PASSWORD
from flask import Flask

from service.auth.validation import lookup_key, username_skeleton
from service.extensions import db
from service.models import User

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { user { username email } }
}
"""
UPDATE_EMAIL = """
mutation UpdateEmail($email: String!) { updateUser(input: {email: $email}) { user { email } } }
"""
USERNAME_TAKEN = "A user with that username already exists."
LOOKS_TAKEN = "A user with a name that looks the same already exists."
EMAIL_TAKEN = "A user with that email already exists."
NOT_OWN_EMAIL = "A username containing @ must be the account's own email address."


def refusal(gql, username: str, email: str) -> dict[str, list[str]]:
    """The field messages of a createUser that must be refused for its input."""
    error = gql.error(
        LEGACY["CreateUser"], {"username": username, "email": email, "password": STRONG_PASSWORD}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return error["extensions"]["fields"]


def log_in(gql, login: str) -> dict:
    return gql(TOKEN_AUTH, {"username": login, "password": STRONG_PASSWORD})["tokenAuth"]["user"]


def insert_legacy_user(app: Flask, username: str, email: str) -> None:
    """A row from before these rules, written straight into the table."""
    with app.app_context():
        db.session.add(
            User(
                username=username,
                username_key=lookup_key(username),
                username_skeleton=username_skeleton(username),
                email=email,
                email_key=lookup_key(email),
                password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            )
        )
        db.session.commit()


# One namespace: a username may not be another account's email, nor an email another's username


def test_a_username_that_is_another_accounts_email_cannot_be_registered(gql):
    gql.register("bob", "bob@example.com")

    fields = refusal(gql, "Bob@Example.com", "squatter@example.com")

    assert fields == {"username": [NOT_OWN_EMAIL]}
    assert log_in(gql, "Bob@Example.com")["username"] == "bob"


@pytest.mark.parametrize("username", ["ali@example.com", "Ali@Example.COM"])
def test_a_username_may_hold_at_only_as_the_accounts_own_email(gql, username):
    created = gql.register(username, "ali@example.com")

    assert created["user"]["username"] == username
    assert log_in(gql, "ALI@example.com")["username"] == username


@pytest.mark.parametrize("username", ["ali@", "ali@home", "ali.reza+dev@home_1-2", "other@example.com"])
def test_a_username_with_at_other_than_the_accounts_email_is_refused(gql, username):
    assert refusal(gql, username, "ali@example.com") == {"username": [NOT_OWN_EMAIL]}


def test_an_email_kept_as_a_username_stays_taken_after_its_owner_changes_email(gql):
    token = gql.register("ali@example.com", "ali@example.com")["token"]
    assert gql(UPDATE_EMAIL, {"email": "ali@elsewhere.example"}, token=token)

    assert refusal(gql, "reza", "ALI@example.com") == {"email": [EMAIL_TAKEN]}
    assert refusal(gql, "ali@example.com", "ali@example.com") == {
        "username": [USERNAME_TAKEN],
        "email": [EMAIL_TAKEN],
    }
    reza = gql.register("reza", "reza@example.com")["token"]
    error = gql.error(UPDATE_EMAIL, {"email": "Ali@Example.com"}, token=reza)
    assert error["extensions"]["fields"] == {"email": [EMAIL_TAKEN]}
    assert log_in(gql, "ali@example.com")["email"] == "ali@elsewhere.example"


def test_changing_ones_email_back_to_ones_own_username_is_allowed(gql):
    token = gql.register("ali@example.com", "ali@example.com")["token"]
    gql(UPDATE_EMAIL, {"email": "ali@elsewhere.example"}, token=token)

    result = gql(UPDATE_EMAIL, {"email": "ali@example.com"}, token=token)

    assert result["updateUser"]["user"]["email"] == "ali@example.com"


def test_an_email_that_is_an_older_accounts_username_cannot_be_registered(app, gql):
    insert_legacy_user(app, "Bob@Example.com", "squatter@example.com")

    assert refusal(gql, "bob", "bob@example.com") == {"email": [EMAIL_TAKEN]}


def test_login_by_email_reaches_the_emails_owner_even_past_an_older_squatting_username(app, gql):
    gql.register("bob", "bob@example.com")
    insert_legacy_user(app, "Bob@Example.com", "squatter@example.com")

    assert log_in(gql, "bob@example.com")["username"] == "bob"
    assert log_in(gql, "BOB@example.com")["username"] == "bob"


def test_create_superuser_refuses_another_accounts_email_as_its_username(app, gql):
    gql.register("bob", "bob@example.com")

    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=[
                "users",
                "create-superuser",
                "--username",
                "bob@example.com",
                "--email",
                "bob@example.com",
                "--password-stdin",
            ],
            input=f"{STRONG_PASSWORD}\n",
            env={"SUPERUSER_PASSWORD": ""},
        )

    assert result.exit_code == 1
    assert USERNAME_TAKEN in result.output and EMAIL_TAKEN in result.output


# Invisible letters and mixed scripts


@pytest.mark.parametrize(
    "username",
    ["ali", "علی", "Дмитрий", "ali_علی", "محمد.رضا", "김민준", "Ελένη", "ali2", "Zoë", "山田"],
    ids=[
        "latin",
        "persian",
        "cyrillic",
        "latin+arabic",
        "persian-dot",
        "hangul",
        "greek",
        "digits",
        "diaeresis",
        "han",
    ],
)
def test_names_in_one_script_or_latin_with_arabic_are_accepted(gql, username):
    created = gql.register(username, "someone@example.com", password="a much longer passphrase")

    assert created["user"]["username"] == username


@pytest.mark.parametrize(
    ("username", "message"),
    [
        ("\u0430dmin", "mix Latin, Cyrillic and Greek"),
        ("p\u0430ypal", "mix Latin, Cyrillic and Greek"),
        ("\u03b1dmin", "mix Latin, Cyrillic and Greek"),
        ("\u0414\u03b1", "mix Latin, Cyrillic and Greek"),
        ("\u3164", "invisible"),
        ("a\u3164b", "invisible"),
        ("\u115f", "U+115F"),
        ("a\u1160b", "U+1160"),
        ("ali\u00ad", "only letters"),
        ("ali\ufe0f", "only letters"),
        ("a\u200cb", "only letters"),
    ],
    ids=[
        "cyrillic-a",
        "paypal-cyrillic-a",
        "greek-alpha",
        "cyrillic+greek",
        "hangul-filler",
        "hangul-filler-inside",
        "choseong-filler",
        "jungseong-filler",
        "soft-hyphen",
        "variation-selector",
        "zero-width-non-joiner",
    ],
)
def test_look_alike_and_invisible_names_are_refused(app, gql, username, message):
    fields = refusal(gql, username, "someone@example.com")

    assert list(fields) == ["username"]
    assert message in fields["username"][0]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


# Names that look the same as a taken one


@pytest.mark.parametrize(
    ("taken", "newcomer"),
    [
        ("admin", "adrnin"),
        ("paypal", "paypa1"),
        ("ali", "aIi"),
        ("علی", "على"),
        ("Ali", "AIi"),
    ],
    ids=["rn-m", "one-l", "capital-i-l", "persian-arabic-yeh", "case-and-capital-i"],
)
def test_a_name_that_looks_like_a_taken_one_is_refused(gql, taken, newcomer):
    gql.register(taken, "first@example.com")

    assert refusal(gql, newcomer, "second@example.com") == {"username": [LOOKS_TAKEN]}


@pytest.mark.parametrize("newcomer", ["ADMIN", "Admin", "admin"])
def test_a_name_equal_to_a_taken_one_in_another_case_keeps_the_plain_message(gql, newcomer):
    gql.register("admin", "first@example.com")

    assert refusal(gql, newcomer, "second@example.com") == {"username": [USERNAME_TAKEN]}


def test_names_that_only_share_letters_are_not_look_alikes(gql):
    gql.register("ali", "first@example.com")

    assert gql.register("alix", "second@example.com")["user"]["username"] == "alix"
    assert gql.register("all", "third@example.com")["user"]["username"] == "all"


def test_the_stored_skeleton_is_the_confusable_skeleton(app, gql):
    gql.register("Admin", "admin@example.com")

    with app.app_context():
        assert db.session.scalar(sa.select(User.username_skeleton)) == "adrnin"
