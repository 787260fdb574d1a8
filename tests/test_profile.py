"""Changing one's own profile with ``updateUser``: text fields, gender, email, and all-or-nothing saves."""

import io
from pathlib import Path

import pytest
from conftest import LEGACY, STRONG_PASSWORD, GraphQL, make_app, send_picture
from PIL import Image

PROFILE_FIELDS = "id username email firstName lastName gender position department profilePicture"
UPDATE_USER = f"""
mutation UpdateUser($input: UpdateUserInput!) {{
  updateUser(input: $input) {{ ok user {{ {PROFILE_FIELDS} profilePictureUrl }} }}
}}
"""
WHOAMI_PROFILE = f"{{ whoami {{ {PROFILE_FIELDS} profilePictureUrl }} }}"
TOKEN_AUTH = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"

# What the old service's clients send, and what they must get back.
LEGACY_INPUT = {
    "firstName": "Nikta",
    "lastName": "Test",
    "email": "nikta.test@example.com",
    "gender": "Female",
    "position": "Developer",
    "department": "Tech",
}
FULL_PROFILE = {
    "firstName": "Ali",
    "lastName": "Rezaei",
    "gender": "MALE",
    "position": "Engineer",
    "department": "Platform",
}
TEXT_FIELDS = ["firstName", "lastName", "position", "department"]
GENDER_WORDS = ["MALE", "FEMALE", "OTHER"]
# "FEMALE" in fullwidth letters: upper case, but not one of the three.
FULLWIDTH_FEMALE = "\uff26\uff25\uff2d\uff21\uff2c\uff25"


def me(gql, token: str) -> dict:
    return gql(WHOAMI_PROFILE, token=token)["whoami"]


def update(gql, token: str, **changes) -> dict:
    """The user ``updateUser`` returns, for changes that must succeed."""
    result = gql(UPDATE_USER, {"input": changes}, token=token)["updateUser"]
    assert result["ok"] is True
    return result["user"]


def update_error(gql, token: str, **changes) -> dict:
    """The one error of ``updateUser`` for changes that must be refused."""
    error = gql.error(UPDATE_USER, {"input": changes}, token=token)
    assert error["path"] == ["updateUser"]
    return error


def test_update_user_changes_the_callers_text_fields(gql):
    token = gql.register("ali")["token"]

    returned = update(gql, token, **FULL_PROFILE)

    assert {field: returned[field] for field in FULL_PROFILE} == FULL_PROFILE
    assert {field: me(gql, token)[field] for field in FULL_PROFILE} == FULL_PROFILE
    assert returned["username"] == "ali" and returned["email"] == "ali@example.com"


def test_a_new_account_has_an_empty_profile(gql):
    token = gql.register("ali")["token"]

    profile = me(gql, token)

    assert [profile[field] for field in TEXT_FIELDS] == ["", "", "", ""]
    assert profile["gender"] is None
    assert profile["profilePicture"] is None and profile["profilePictureUrl"] is None


def test_fields_left_out_stay_as_they_are(gql):
    token = gql.register("ali")["token"]
    update(gql, token, **FULL_PROFILE)

    returned = update(gql, token, position="Lead")

    assert returned == {**me(gql, token), "position": "Lead"}
    assert {field: returned[field] for field in FULL_PROFILE} == {**FULL_PROFILE, "position": "Lead"}


def test_fields_sent_as_null_stay_as_they_are(gql):
    token = gql.register("ali")["token"]
    update(gql, token, **FULL_PROFILE)
    before = me(gql, token)

    returned = update(
        gql,
        token,
        **dict.fromkeys([*FULL_PROFILE, "email", "profilePicture", "removeProfilePicture"]),
    )

    assert returned == before
    assert me(gql, token) == before


def test_an_empty_string_clears_a_text_field(gql):
    token = gql.register("ali")["token"]
    update(gql, token, **FULL_PROFILE)

    returned = update(gql, token, department="")

    assert returned["department"] == ""
    assert returned["position"] == FULL_PROFILE["position"]


def test_update_user_changes_only_the_caller(gql):
    ali = gql.register("ali")["token"]
    reza = gql.register("reza")["token"]
    reza_before = me(gql, reza)

    update(gql, ali, **FULL_PROFILE, email="ali.new@example.com")

    assert me(gql, reza) == reza_before
    assert me(gql, ali)["firstName"] == "Ali"


def test_the_old_services_update_operation_is_accepted_verbatim(gql):
    created = gql.register("nikta", "nikta@example.com")

    result = gql(LEGACY["UpdateUserProfile"], {"input": LEGACY_INPUT}, token=created["token"])["updateUser"]

    assert result == {
        "ok": True,
        "user": {
            "id": created["user"]["id"],
            "username": "nikta",
            "email": "nikta.test@example.com",
            "firstName": "Nikta",
            "lastName": "Test",
            "profilePicture": None,
            "gender": "FEMALE",
            "position": "Developer",
            "department": "Tech",
        },
    }
    assert me(gql, created["token"])["email"] == "nikta.test@example.com"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Female", "FEMALE"),
        ("FEMALE", "FEMALE"),
        ("female", "FEMALE"),
        ("Male", "MALE"),
        ("mAlE", "MALE"),
        ("other", "OTHER"),
        ("OTHER", "OTHER"),
    ],
)
def test_gender_is_accepted_in_any_case(gql, sent, stored):
    token = gql.register("ali")["token"]

    assert update(gql, token, gender=sent)["gender"] == stored
    assert me(gql, token)["gender"] == stored


@pytest.mark.parametrize("gender", ["F", "woman", "MALES", "non-binary", "FEMALE,MALE", FULLWIDTH_FEMALE])
def test_any_other_gender_is_refused_listing_the_allowed_values(gql, gender):
    token = gql.register("ali")["token"]
    update(gql, token, gender="OTHER")

    error = update_error(gql, token, gender=gender)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["gender"]
    message = " ".join(error["extensions"]["fields"]["gender"])
    assert all(word in message for word in GENDER_WORDS), message
    assert me(gql, token)["gender"] == "OTHER"


def test_email_can_be_changed_and_then_used_to_log_in(gql):
    token = gql.register("ali", "ali@example.com")["token"]

    assert update(gql, token, email="ali.rezaei@example.org")["email"] == "ali.rezaei@example.org"

    login = gql(TOKEN_AUTH, {"u": "Ali.Rezaei@Example.org", "p": STRONG_PASSWORD})["tokenAuth"]
    assert me(gql, login["token"])["username"] == "ali"
    assert gql.error(TOKEN_AUTH, {"u": "ali@example.com", "p": STRONG_PASSWORD})["extensions"] == {
        "code": "INVALID_CREDENTIALS"
    }


def test_a_changed_email_is_normalised_like_at_registration(gql):
    token = gql.register("ali")["token"]

    assert update(gql, token, email="Ali.New@EXAMPLE.Com")["email"] == "Ali.New@example.com"


def test_the_callers_own_email_in_another_case_is_not_a_duplicate(gql):
    token = gql.register("ali", "ali@example.com")["token"]

    assert update(gql, token, email="ALI@example.com")["email"] == "ALI@example.com"
    assert update(gql, token, email="ALI@example.com", firstName="Ali")["firstName"] == "Ali"


@pytest.mark.parametrize(
    ("taken", "sent"),
    [
        ("reza@example.com", "reza@example.com"),
        ("Reza@Example.com", "reza@example.com"),
        ("reza@example.com", "REZA@EXAMPLE.COM"),
    ],
    ids=["same-case", "lower-case-of-mixed", "upper-case-of-lower"],
)
def test_another_users_email_is_refused_regardless_of_case(gql, taken, sent):
    token = gql.register("ali", "ali@example.com")["token"]
    gql.register("reza", taken)

    error = update_error(gql, token, email=sent)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["email"]
    assert "already exists" in error["extensions"]["fields"]["email"][0]
    assert me(gql, token)["email"] == "ali@example.com"


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "valid email"),
        ("ali@", "valid email"),
        ("two@at@example.com", "valid email"),
        ("a@" + "b" * 250 + ".com", "at most 254"),
        ("", "required"),
        ("   ", "required"),
    ],
)
def test_an_invalid_email_is_refused_as_at_registration(gql, email, message):
    token = gql.register("ali", "ali@example.com")["token"]

    error = update_error(gql, token, email=email)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["email"]
    assert message in " ".join(error["extensions"]["fields"]["email"])
    assert me(gql, token)["email"] == "ali@example.com"


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_fields_take_at_most_150_characters(gql, field):
    token = gql.register("ali")["token"]

    assert update(gql, token, **{field: "x" * 150})[field] == "x" * 150
    error = update_error(gql, token, **{field: "y" * 151})

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == [field]
    assert "150" in error["extensions"]["fields"][field][0]
    assert me(gql, token)[field] == "x" * 150


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"gender": "unknown"}, "gender"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "REZA@example.com"}, "email"),
        ({"department": "d" * 151}, "department"),
        ({"firstName": "f" * 151}, "firstName"),
    ],
    ids=["gender", "invalid-email", "taken-email", "long-department", "long-first-name"],
)
def test_one_bad_field_means_nothing_is_changed(gql, bad, field):
    token = gql.register("ali", "ali@example.com")["token"]
    gql.register("reza", "reza@example.com")
    update(gql, token, **FULL_PROFILE)
    before = me(gql, token)
    good = {
        "firstName": "New",
        "lastName": "Name",
        "email": "ali.new@example.com",
        "gender": "female",
        "position": "Manager",
        "department": "Sales",
    }

    error = update_error(gql, token, **{**good, **bad})

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == [field]
    assert me(gql, token) == before


def test_every_bad_field_is_reported_at_once(gql):
    token = gql.register("ali")["token"]

    error = update_error(gql, token, gender="x", email="nope", lastName="l" * 151, position="p" * 151)

    assert set(error["extensions"]["fields"]) == {"gender", "email", "lastName", "position"}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "missing"), ({"Authorization": "JWT not-a-token"}, "invalid")],
    ids=["no-token", "bad-token"],
)
def test_anonymous_callers_are_unauthenticated_and_change_nothing(gql, headers, reason):
    token = gql.register("ali")["token"]
    before = me(gql, token)

    error = gql.error(UPDATE_USER, {"input": {"firstName": "Intruder"}}, headers=headers)

    assert error["extensions"] == {"code": "UNAUTHENTICATED", "reason": reason}
    assert error["path"] == ["updateUser"]
    assert me(gql, token) == before


@pytest.mark.parametrize(
    "picture",
    ["profile_pics/0123456789abcdef0123456789abcdef.png", "data:image/png;base64,iVBORw0KGgo=", "x"],
    ids=["stored-looking-path", "data-url", "plain"],
)
def test_a_picture_sent_as_a_string_instead_of_a_file_is_refused(gql, picture):
    token = gql.register("ali")["token"]

    error = update_error(gql, token, profilePicture=picture, firstName="Changed")

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["profilePicture"]
    assert error["extensions"]["fields"]["profilePicture"][0]
    profile = me(gql, token)
    assert profile["profilePicture"] is None and profile["firstName"] == ""


def test_remove_profile_picture_without_a_picture_is_harmless(gql):
    token = gql.register("ali")["token"]

    returned = update(gql, token, removeProfilePicture=True, firstName="Ali")

    assert returned["profilePicture"] is None and returned["profilePictureUrl"] is None
    assert returned["firstName"] == "Ali"


# The commit itself can fail: another account took the email after the check (a race).


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def upload_with(client, token: str, changes: dict) -> dict:
    """``updateUser`` as a GraphQL multipart request carrying one PNG."""
    response = send_picture(
        client, UPDATE_USER, small_png(), token=token, filename="photo.png", changes=changes
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_commit_that_fails_on_a_taken_email_keeps_the_old_picture_and_leaves_no_new_file(
    app, client, gql, monkeypatch
):
    token = gql.register("ali", "ali@example.com")["token"]
    gql.register("reza", "reza@example.com")
    old = upload_with(client, token, {})["data"]["updateUser"]["user"]["profilePicture"]
    pictures = Path(app.config["UPLOAD_FOLDER"]) / "profile_pics"
    files_before = set(pictures.iterdir())
    # As if reza's email had been registered between the check and the commit.
    monkeypatch.setattr("service.auth.profile.duplicate_problems", lambda **_: {})

    body = upload_with(client, token, {"email": "reza@example.com", "firstName": "Raced"})

    assert body["data"]["updateUser"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(body["errors"][0]["extensions"]["fields"]) == ["email"]
    profile = me(gql, token)
    assert profile["profilePicture"] == old
    assert profile["email"] == "ali@example.com" and profile["firstName"] == ""
    assert set(pictures.iterdir()) == files_before
    assert (pictures.parent / old).is_file()


PICTURE_URL = """
mutation SetPicture($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePictureUrl } } }
"""


def picture_url(client, token: str, headers: dict[str, str]) -> str:
    image = io.BytesIO()
    Image.new("RGB", (4, 4), "navy").save(image, "PNG")
    response = send_picture(client, PICTURE_URL, image.getvalue(), token=token, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]["updateUser"]["user"]["profilePictureUrl"]


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "Host": "accounts.example.com"}


@pytest.mark.parametrize(("proxies", "scheme"), [(0, "http://"), (1, "https://")])
def test_the_picture_url_follows_x_forwarded_proto_only_behind_a_trusted_proxy(tmp_path, proxies, scheme):
    app = make_app(tmp_path, TRUSTED_PROXY_COUNT=proxies)
    client = app.test_client()
    token = GraphQL(client).register("nikta")["token"]

    url = picture_url(client, token, FORWARDED)

    assert url.startswith(f"{scheme}accounts.example.com/uploads/profile_pics/")


FORGED = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-For": "203.0.113.9",
}


@pytest.mark.parametrize("proxies", [0, 1])
@pytest.mark.parametrize("public_url", ["https://accounts.example.com", "https://example.com/accounts"])
def test_the_picture_url_starts_with_public_url_whatever_host_and_x_forwarded_host_say(
    tmp_path, proxies, public_url
):
    app = make_app(tmp_path, TRUSTED_PROXY_COUNT=proxies, PUBLIC_URL=public_url)
    client = app.test_client()
    gql = GraphQL(client)
    token = gql.register("nikta")["token"]

    url = picture_url(client, token, FORGED)

    assert url.startswith(f"{public_url}/uploads/profile_pics/"), url
    assert me(gql, token)["profilePictureUrl"] == url
    assert gql(WHOAMI_PROFILE, token=token, headers=FORGED)["whoami"]["profilePictureUrl"] == url
