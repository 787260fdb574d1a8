"""Staff tools over GraphQL: the ``users`` connection (cursor pages, search, limits) and the
superusers' ``setUserActive`` and ``setUserStaff``, with who may use each."""

import base64
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, GraphQL, update_user
from flask import Flask

from service.auth.validation import lookup_key, username_skeleton
from service.extensions import db
from service.models import User

USERS = """
query Users($first: Int, $after: String, $search: String) {
  users(first: $first, after: $after, search: $search) {
    edges { cursor node { id username } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""
USERS_WITH_NULL_FIRST = "{ users(first: null) { edges { node { id } } pageInfo { hasNextPage } } }"
SET_USER_ACTIVE = """
mutation SetUserActive($id: ID!, $isActive: Boolean!) {
  setUserActive(id: $id, isActive: $isActive) { id username isActive isStaff isSuperuser }
}
"""
SET_USER_STAFF = """
mutation SetUserStaff($id: ID!, $isStaff: Boolean!) {
  setUserStaff(id: $id, isStaff: $isStaff) { id username isActive isStaff isSuperuser }
}
"""
TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken }
}
"""
REFRESH = """
mutation Refresh($refreshToken: String!) { refreshAccessToken(refreshToken: $refreshToken) { token } }
"""
WHOAMI = "{ whoami { username } }"

SUPERUSER = {"is_staff": True, "is_superuser": True}
ROLES = {
    "staff": {"is_staff": True},
    "superuser without the staff flag": {"is_superuser": True},
    "staff superuser": SUPERUSER,
}
MUTATIONS = {
    "setUserActive": (SET_USER_ACTIVE, {"isActive": False}),
    "setUserStaff": (SET_USER_STAFF, {"isStaff": True}),
}
REVOKED = {"code": "UNAUTHENTICATED", "reason": "revoked"}
_PASSWORD_HASHES: dict[int, str] = {}


# Helpers


def password_hash(app: Flask) -> str:
    """One argon2 hash of STRONG_PASSWORD per app, shared by every user inserted directly."""
    if id(app) not in _PASSWORD_HASHES:
        _PASSWORD_HASHES[id(app)] = app.extensions["auth"].passwords.hash(STRONG_PASSWORD)
    return _PASSWORD_HASHES[id(app)]


def add_users(app: Flask, *people: dict[str, str]) -> list[int]:
    """Insert users straight into the database (registration limits do not apply); their ids."""
    with app.app_context():
        users = [
            User(
                username=person["username"],
                username_key=lookup_key(person["username"]),
                username_skeleton=username_skeleton(person["username"]),
                email=person.get("email", f"{person['username']}@example.com"),
                email_key=lookup_key(person.get("email", f"{person['username']}@example.com")),
                password_hash=password_hash(app),
                first_name=person.get("first_name", ""),
                last_name=person.get("last_name", ""),
            )
            for person in people
        ]
        db.session.add_all(users)
        db.session.commit()
        return [user.id for user in users]


def add_members(app: Flask, count: int, prefix: str = "member") -> list[int]:
    return add_users(app, *({"username": f"{prefix}{number:03d}"} for number in range(count)))


def all_user_ids(app: Flask) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(User.id).order_by(User.id)))


def stored(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


def signed_in(gql: GraphQL, app: Flask, username: str = "boss", **flags: bool) -> dict:
    """Register ``username``, give it ``flags`` (is_staff ...); its login (token, user)."""
    login = gql.register(username)
    if flags:
        update_user(app, username, **flags)
    return login


def users_page(gql: GraphQL, token: str, **arguments: Any) -> dict:
    """``users`` with only the arguments given (left-out ones take their defaults)."""
    return gql(USERS, arguments, token=token)["users"]


def users_error(gql: GraphQL, token: str | None, **arguments: Any) -> dict:
    """The one error of a refused ``users`` query; ``users`` is non-null, so all data is null."""
    status, body = gql.post(USERS, arguments, token=token)
    assert status == 200, body
    assert body["data"] is None, body
    (error,) = body["errors"]
    assert error["path"] == ["users"]
    return error


def ids_of(page: dict) -> list[int]:
    return [int(edge["node"]["id"]) for edge in page["edges"]]


def usernames_of(page: dict) -> list[str]:
    return [edge["node"]["username"] for edge in page["edges"]]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def whoami_error(gql: GraphQL, token: str) -> dict:
    return gql.error(WHOAMI, token=token)["extensions"]


# Pages


def test_staff_get_the_first_page_in_id_order_with_cursors_and_page_info(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 5)

    page = users_page(gql, boss["token"], first=3)

    assert ids_of(page) == all_user_ids(app)[:3]
    assert usernames_of(page) == ["boss", "member000", "member001"]
    assert len({edge["cursor"] for edge in page["edges"]}) == 3
    assert page["pageInfo"] == {"hasNextPage": True, "endCursor": page["edges"][-1]["cursor"]}
    assert page["totalCount"] == 6


def test_first_defaults_to_twenty(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 24)

    page = users_page(gql, boss["token"])

    assert ids_of(page) == all_user_ids(app)[:20]
    assert page["pageInfo"]["hasNextPage"] is True


def test_walking_every_page_returns_each_user_exactly_once_in_id_order(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 25)
    seen: list[int] = []
    sizes: list[int] = []
    after = None

    while True:
        page = users_page(gql, boss["token"], first=10, **({"after": after} if after else {}))
        seen += ids_of(page)
        sizes.append(len(page["edges"]))
        assert page["totalCount"] == 26
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]

    assert sizes == [10, 10, 6]
    assert seen == all_user_ids(app)
    assert seen == sorted(set(seen))
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


def test_a_page_ending_exactly_at_the_last_user_says_no_more_follow(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 9)

    page = users_page(gql, boss["token"], first=10)
    after_it = users_page(gql, boss["token"], first=10, after=page["pageInfo"]["endCursor"])

    assert len(page["edges"]) == 10
    assert page["pageInfo"]["hasNextPage"] is False
    assert after_it["edges"] == []
    assert after_it["pageInfo"] == {"hasNextPage": False, "endCursor": None}


def test_users_added_while_paging_come_at_the_end_and_none_repeat(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 5)
    first = users_page(gql, boss["token"], first=3)

    (late,) = add_users(app, {"username": "latecomer"})
    rest = users_page(gql, boss["token"], first=10, after=first["pageInfo"]["endCursor"])

    assert ids_of(first) + ids_of(rest) == all_user_ids(app)
    assert ids_of(rest)[-1] == late


def test_the_cursor_of_a_deleted_user_still_continues_after_it(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 5)
    first = users_page(gql, boss["token"], first=3)
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == ids_of(first)[-1]))
        db.session.commit()

    rest = users_page(gql, boss["token"], first=10, after=first["pageInfo"]["endCursor"])

    assert ids_of(rest) == all_user_ids(app)[2:]


def test_a_search_matching_nobody_is_an_empty_page_without_an_end_cursor(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)

    page = users_page(gql, boss["token"], search="nobody-by-this-name")

    assert page == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}, "totalCount": 0}


@pytest.mark.parametrize("first", [1, 100])
def test_first_may_be_anything_from_1_to_100(gql: GraphQL, app: Flask, first: int) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_members(app, 101)

    page = users_page(gql, boss["token"], first=first)

    assert ids_of(page) == all_user_ids(app)[:first]
    assert page["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("first", [0, -1, 101, 1000])
def test_first_outside_1_to_100_is_refused(gql: GraphQL, app: Flask, first: int) -> None:
    boss = signed_in(gql, app, is_staff=True)

    error = users_error(gql, boss["token"], first=first)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["first"]


def test_first_sent_as_null_means_the_default_page_size(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)

    status, body = gql.post(USERS_WITH_NULL_FIRST, token=boss["token"])

    assert status == 200
    assert "errors" not in body, body
    assert len(body["data"]["users"]["edges"]) == 1


@pytest.mark.parametrize(
    "after",
    [
        "junk",
        "%%%%",
        "é",
        cursor("user:"),
        cursor("user:abc"),
        cursor("user:0"),
        cursor("user:-5"),
        cursor("user:99999999999"),
        cursor("account:5"),
        cursor("5"),
    ],
)
def test_a_cursor_this_service_did_not_give_out_is_refused(gql: GraphQL, app: Flask, after: str) -> None:
    boss = signed_in(gql, app, is_staff=True)

    error = users_error(gql, boss["token"], after=after)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["after"]


def test_a_search_longer_than_254_characters_is_refused(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)

    assert users_page(gql, boss["token"], search="x" * 254)["edges"] == []
    error = users_error(gql, boss["token"], search="x" * 255)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["search"]


# Search

PEOPLE = [
    {"username": "alice", "email": "alice@corp.example"},
    {"username": "bob", "email": "bob@Mail.example", "first_name": "Robert"},
    {"username": "carol", "email": "c@example.com", "last_name": "Smithson"},
    {"username": "dmitry", "email": "d@example.com", "first_name": "ДМИТРИЙ", "last_name": "Иванов"},
    {"username": "bob_smith", "email": "bs@example.com", "first_name": "100% sure"},
    {"username": "zed", "email": "z@example.com", "last_name": "back\\slash"},
]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ALI", ["alice"]),
        ("mail.EXAMPLE", ["bob"]),
        ("robERT", ["bob"]),
        ("smithSON", ["carol"]),
        ("дмит", ["dmitry"]),
        ("ДмИтРиЙ", ["dmitry"]),
        ("иванов", ["dmitry"]),
        ("BOB", ["bob", "bob_smith"]),
    ],
    ids=["username", "email", "first name", "last name", "cyrillic", "mixed case", "cyrillic last", "two"],
)
def test_search_matches_username_email_first_or_last_name_in_any_case(
    gql: GraphQL, app: Flask, search: str, expected: list[str]
) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_users(app, *PEOPLE)

    page = users_page(gql, boss["token"], search=search)

    assert usernames_of(page) == expected
    assert page["totalCount"] == len(expected)


@pytest.mark.parametrize(
    ("search", "expected"),
    [("%", ["bob_smith"]), ("_", ["bob_smith"]), ("0% s", ["bob_smith"]), ("\\", ["zed"]), ("o%s", [])],
)
def test_like_wildcards_in_a_search_match_only_themselves(
    gql: GraphQL, app: Flask, search: str, expected: list[str]
) -> None:
    boss = signed_in(gql, app, is_staff=True)
    add_users(app, *PEOPLE)

    page = users_page(gql, boss["token"], search=search)

    assert usernames_of(page) == expected
    assert page["totalCount"] == len(expected)


def test_search_results_are_paged_like_the_full_list(gql: GraphQL, app: Flask) -> None:
    boss = signed_in(gql, app, is_staff=True)
    for batch in range(5):
        add_members(app, 3, prefix=f"hit{batch}x")
        add_members(app, 2, prefix=f"miss{batch}x")
    seen: list[str] = []
    after = None

    while True:
        page = users_page(gql, boss["token"], first=4, search="HIT", **({"after": after} if after else {}))
        seen += usernames_of(page)
        assert page["totalCount"] == 15
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == [f"hit{batch}x{number:03d}" for batch in range(5) for number in range(3)]


# Who may list users


@pytest.mark.parametrize(
    ("who", "authorization", "extensions"),
    [
        ("anonymous", None, {"code": "UNAUTHENTICATED", "reason": "missing"}),
        ("a bad token", "not-a-jwt", {"code": "UNAUTHENTICATED", "reason": "invalid"}),
        ("a plain user", "own", {"code": "FORBIDDEN"}),
    ],
)
def test_users_is_refused_to_anyone_but_staff(
    gql: GraphQL, app: Flask, who: str, authorization: str | None, extensions: dict
) -> None:
    login = signed_in(gql, app, "ali")
    token = login["token"] if authorization == "own" else authorization

    error = users_error(gql, token)

    assert error["extensions"] == extensions


@pytest.mark.parametrize("role", ROLES)
def test_staff_and_superusers_may_list_users(gql: GraphQL, app: Flask, role: str) -> None:
    boss = signed_in(gql, app, **ROLES[role])
    add_members(app, 2)

    assert users_page(gql, boss["token"])["totalCount"] == 3


# setUserActive and setUserStaff


def test_a_superuser_can_deactivate_and_reactivate_an_account(gql: GraphQL, app: Flask) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    (target,) = add_users(app, {"username": "ali"})

    off = gql(SET_USER_ACTIVE, {"id": str(target), "isActive": False}, token=root["token"])["setUserActive"]
    assert off == {
        "id": str(target),
        "username": "ali",
        "isActive": False,
        "isStaff": False,
        "isSuperuser": False,
    }
    assert stored(app, target).is_active is False

    on = gql(SET_USER_ACTIVE, {"id": str(target), "isActive": True}, token=root["token"])["setUserActive"]
    assert on["isActive"] is True
    assert stored(app, target).is_active is True


def test_deactivation_ends_every_session_of_the_account_at_once(gql: GraphQL, app: Flask) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    first = gql.register("ali")
    second = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]

    gql(SET_USER_ACTIVE, {"id": first["user"]["id"], "isActive": False}, token=root["token"])

    for session in (first, second):
        assert whoami_error(gql, session["token"]) == REVOKED
        refused = gql.error(REFRESH, {"refreshToken": session["refreshToken"]})
        assert refused["extensions"]["code"] == "TOKEN_REVOKED"
    login = gql.error(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})
    assert login["extensions"]["code"] == "INVALID_CREDENTIALS"


def test_reactivation_allows_logins_again_but_revives_no_ended_session(gql: GraphQL, app: Flask) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    old = gql.register("ali")
    gql(SET_USER_ACTIVE, {"id": old["user"]["id"], "isActive": False}, token=root["token"])

    gql(SET_USER_ACTIVE, {"id": old["user"]["id"], "isActive": True}, token=root["token"])

    new = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]
    assert gql(WHOAMI, token=new["token"])["whoami"] == {"username": "ali"}
    assert whoami_error(gql, old["token"]) == REVOKED


def test_activating_an_active_account_leaves_its_sessions_alone(gql: GraphQL, app: Flask) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    ali = gql.register("ali")

    gql(SET_USER_ACTIVE, {"id": ali["user"]["id"], "isActive": True}, token=root["token"])

    assert gql(WHOAMI, token=ali["token"])["whoami"] == {"username": "ali"}


def test_a_superuser_can_grant_and_withdraw_staff_rights(gql: GraphQL, app: Flask) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    ali = gql.register("ali")
    target = ali["user"]["id"]
    assert users_error(gql, ali["token"])["extensions"]["code"] == "FORBIDDEN"

    granted = gql(SET_USER_STAFF, {"id": target, "isStaff": True}, token=root["token"])["setUserStaff"]
    assert granted["isStaff"] is True and granted["isSuperuser"] is False
    assert users_page(gql, ali["token"])["totalCount"] == 2

    withdrawn = gql(SET_USER_STAFF, {"id": target, "isStaff": False}, token=root["token"])["setUserStaff"]
    assert withdrawn["isStaff"] is False
    assert stored(app, int(target)).is_staff is False
    # The same token, still valid: the right is read afresh on every request.
    assert users_error(gql, ali["token"])["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize(
    ("caller", "code"),
    [("anonymous", "UNAUTHENTICATED"), ("plain user", "FORBIDDEN"), ("staff", "FORBIDDEN")],
)
def test_only_superusers_may_change_accounts(
    gql: GraphQL, app: Flask, mutation: str, caller: str, code: str
) -> None:
    token = None
    if caller != "anonymous":
        token = signed_in(gql, app, "caller", **({"is_staff": True} if caller == "staff" else {}))["token"]
    (target,) = add_users(app, {"username": "ali"})
    operation, change = MUTATIONS[mutation]

    error = gql.error(operation, {"id": str(target), **change}, token=token)

    assert error["extensions"]["code"] == code
    user = stored(app, target)
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("user_id", ["999999", "0", "-1", "abc", "1.5", "99999999999"])
def test_an_unknown_or_malformed_id_is_refused(gql: GraphQL, app: Flask, mutation: str, user_id: str) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    operation, change = MUTATIONS[mutation]

    error = gql.error(operation, {"id": user_id, **change}, token=root["token"])

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["id"]


@pytest.mark.parametrize(
    ("mutation", "change"),
    [("setUserActive", {"isActive": False}), ("setUserStaff", {"isStaff": False})],
)
def test_a_superuser_cannot_change_their_own_account(
    gql: GraphQL, app: Flask, mutation: str, change: dict
) -> None:
    root = signed_in(gql, app, "root", **SUPERUSER)
    operation, _ = MUTATIONS[mutation]

    error = gql.error(operation, {"id": root["user"]["id"], **change}, token=root["token"])

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert list(error["extensions"]["fields"]) == ["id"]
    user = stored(app, int(root["user"]["id"]))
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, True, True)
    assert gql(WHOAMI, token=root["token"])["whoami"] == {"username": "root"}
