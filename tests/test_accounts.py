"""Registration, login, and reading accounts."""

import time
import unicodedata

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from conftest import LEGACY, STRONG_PASSWORD, update_user

from service.extensions import db
from service.models import User

TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) {
    token refreshToken payload refreshExpiresIn user { id username lastLogin }
  }
}
"""
USER_BY_ID = "query User($id: ID!) { user(id: $id) { id username email } }"


def register_input(username="ali", email=None, password=STRONG_PASSWORD):
    return {
        "input": {"username": username, "email": email or f"{username}@example.com", "password": password}
    }


def test_create_user_registers_and_logs_in_at_once(gql):
    created = gql.register("ali", "Ali@Example.com")

    assert created["ok"] is True
    assert created["user"]["username"] == "ali"
    assert created["user"]["email"] == "Ali@example.com"
    assert created["user"]["isActive"] is True
    assert created["user"]["isStaff"] is False
    assert created["payload"]["username"] == "ali"
    assert created["payload"]["origIat"] <= created["payload"]["exp"]
    assert created["refreshExpiresIn"] > time.time() + 6 * 24 * 3600
    assert gql("{ whoami { username } }", token=created["token"])["whoami"]["username"] == "ali"


def test_legacy_create_user_operation_is_accepted_unchanged(gql):
    data = gql(
        LEGACY["CreateUser"], {"username": "nikta", "email": "nikta@example.com", "password": STRONG_PASSWORD}
    )

    assert data["createUser"]["ok"] is True
    assert data["createUser"]["user"]["username"] == "nikta"
    assert data["createUser"]["token"] and data["createUser"]["refreshToken"]


@pytest.mark.parametrize(
    "username",
    ["علی", "Дмитрий", "ali.reza+dev_1-2", "a", "x" * 150, "ﬁ"],
    ids=["persian", "cyrillic", "punctuation", "one-char", "150-chars", "nfkc-ligature"],
)
def test_create_user_accepts_letters_of_any_script(gql, username):
    created = gql.register(username, "someone@example.com", password="a much longer passphrase")

    assert created["user"]["username"] == unicodedata.normalize("NFKC", username)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "", "required"),
        ("username", "x" * 151, "at most 150"),
        ("username", "ali reza", "only letters"),
        ("username", "ali<script>", "only letters"),
        ("email", "not-an-email", "valid email"),
        ("email", "a@" + "b" * 250 + ".com", "at most 254"),
        ("email", "", "required"),
        ("password", "short", "at least 8"),
        ("password", "x" * 1025, "at most 1024"),
        ("password", "12345678", "too common"),
        ("password", "Password1", "too common"),
        ("password", "qwertyuiop", "too common"),
        ("password", "my-reza-password!", "username"),
        ("password", "xx-alimail-xx-", "email"),
    ],
)
def test_create_user_refuses_bad_input_naming_the_field(gql, field, value, message):
    variables = {"username": "reza", "email": "alimail@example.com", "password": STRONG_PASSWORD}
    variables[field] = value

    error = gql.error(LEGACY["CreateUser"], variables)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == [field]
    assert message in " ".join(error["extensions"]["fields"][field])
    assert error["path"] == ["createUser"]


def test_create_user_refuses_the_old_services_example_password(gql):
    variables = {"username": "ali", "email": "a@example.com", "password": "12345678"}

    error = gql.error(LEGACY["CreateUser"], variables)

    assert "too common" in error["extensions"]["fields"]["password"][0]


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("Ali", "one@example.com"), ("ali", "two@example.com"), "username"),
        (("ALI", "one@example.com"), ("ali", "two@example.com"), "username"),
        (("ali", "Ali@Example.com"), ("reza", "ali@example.COM"), "email"),
    ],
)
def test_create_user_refuses_duplicates_regardless_of_case(gql, first, second, field):
    gql.register(*first)

    error = gql.error(
        LEGACY["CreateUser"], {"username": second[0], "email": second[1], "password": STRONG_PASSWORD}
    )

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "already exists" in error["extensions"]["fields"][field][0]


def test_failed_registration_creates_nothing(app, gql):
    gql.error(LEGACY["CreateUser"], {"username": "ali", "email": "ali@example.com", "password": "12345678"})

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_passwords_are_stored_as_argon2id_hashes(app, gql):
    gql.register("ali")

    with app.app_context():
        stored = db.session.scalar(sa.select(User.password_hash))
    assert stored.startswith("$argon2id$")
    assert STRONG_PASSWORD not in stored


def test_token_auth_accepts_username_or_email_in_any_case(gql):
    gql.register("ali", "ali@example.com")

    for login in ("ali", "ALI", "ali@example.com", "Ali@Example.COM"):
        result = gql(TOKEN_AUTH, {"username": login, "password": STRONG_PASSWORD})["tokenAuth"]
        assert result["user"]["username"] == "ali"
        assert result["payload"]["username"] == "ali"
        assert result["user"]["lastLogin"] is not None


def test_legacy_token_auth_operations_are_accepted_unchanged(gql):
    gql.register("ali")
    variables = {"username": "ali", "password": STRONG_PASSWORD}

    full = gql(LEGACY["TokenAuth"], variables)["tokenAuth"]
    short = gql(LEGACY["TokenAuthNoRefresh"], variables)["tokenAuth"]

    assert set(full) == {"token", "refreshToken", "payload"}
    assert set(short) == {"token", "payload"}
    assert {"username", "exp", "origIat"} <= set(full["payload"])


@pytest.mark.parametrize(
    ("login", "password"),
    [("ali", "wrong password here"), ("nobody", STRONG_PASSWORD), ("", ""), ("inactive", STRONG_PASSWORD)],
    ids=["wrong-password", "missing-account", "empty", "inactive-account"],
)
def test_token_auth_failures_all_look_the_same(app, gql, login, password):
    gql.register("ali")
    gql.register("inactive")
    update_user(app, "inactive", is_active=False)

    error = gql.error(TOKEN_AUTH, {"username": login, "password": password})

    assert error["extensions"] == {"code": "INVALID_CREDENTIALS"}
    assert error["message"] == "The username or password is incorrect."


def test_login_upgrades_a_hash_made_with_older_parameters(app, gql):
    gql.register("ali")
    old_hash = PasswordHasher(time_cost=1, memory_cost=16, parallelism=2).hash(STRONG_PASSWORD)
    update_user(app, "ali", password_hash=old_hash)

    gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})

    with app.app_context():
        new_hash = db.session.scalar(sa.select(User.password_hash))
    assert new_hash != old_hash
    assert "p=1" in new_hash
    gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})


def test_whoami_returns_the_caller(gql):
    token = gql.register("ali")["token"]

    assert gql(LEGACY["Whoami"], token=token)["whoami"] == {
        "id": gql("{ whoami { id } }", token=token)["whoami"]["id"],
        "username": "ali",
        "email": "ali@example.com",
    }


def test_whoami_needs_a_token(gql):
    error = gql.error(LEGACY["Whoami"])

    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": "missing"}
    assert error["path"] == ["whoami"]


def test_user_by_integer_literal_id_returns_the_callers_own_account(gql):
    token = gql.register("ali")["token"]

    assert gql(LEGACY["UserById"], token=token)["user"]["username"] == "ali"


def test_user_refuses_other_ids_alike_whether_they_exist_or_not(gql):
    gql.register("ali")
    reza = gql.register("reza")

    existing = gql.error(USER_BY_ID, {"id": "1"}, token=reza["token"])
    missing = gql.error(USER_BY_ID, {"id": "999"}, token=reza["token"])
    junk = gql.error(USER_BY_ID, {"id": "abc"}, token=reza["token"])

    assert existing["extensions"] == missing["extensions"] == junk["extensions"] == {"code": "FORBIDDEN"}
    assert existing["message"] == missing["message"] == junk["message"]


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_staff_may_read_any_user_and_get_null_for_missing_ids(app, gql, flag):
    ali = gql.register("ali")
    boss = gql.register("boss")
    update_user(app, "boss", **{flag: True})

    found = gql(USER_BY_ID, {"id": ali["user"]["id"]}, token=boss["token"])
    missing = gql(USER_BY_ID, {"id": "999999"}, token=boss["token"])
    junk = gql(USER_BY_ID, {"id": "99999999999999999999"}, token=boss["token"])

    assert found["user"]["username"] == "ali"
    assert missing["user"] is None
    assert junk["user"] is None


def test_user_needs_a_token(gql):
    error = gql.error(LEGACY["UserById"])

    assert error["extensions"]["code"] == "UNAUTHENTICATED"
