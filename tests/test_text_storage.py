"""Text that SQLite and PostgreSQL treat differently must get the same answers on both.

SQLite keeps a NUL inside text; PostgreSQL refuses it even in a comparison, so
such input is refused or misses, never a 500. And lower() folds case by each
database's own rules, so a search folds both sides with the same one.
"""

import pytest
from conftest import CREATE_USER, STRONG_PASSWORD, update_user

TOKEN_AUTH = "mutation Login($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token } }"
UPDATE_USER = "mutation Update($input: UpdateUserInput!) { updateUser(input: $input) { ok } }"
SESSIONS = "{ sessions { userAgent } }"
USERS = "query Users($search: String) { users(search: $search) { edges { node { username } } } }"
TEXT_FIELDS = ["firstName", "lastName", "position", "department"]
# PostgreSQL's lower() keeps the ß that Python's casefold() turns into ss; LIKE's wildcards are literal.
NAME_SEARCHES = [("Straße", "Straße"), ("Straße", "STRAßE"), ("Ёлка", "ЁЛКА"), ("50%_\\", "0%_\\")]


@pytest.mark.parametrize("login", ["ali\x00", "\x00", "ali@example.com\x00x"])
def test_a_login_name_holding_nul_is_an_ordinary_wrong_login(gql, login):
    gql.register("ali")

    error = gql.error(TOKEN_AUTH, {"u": login, "p": STRONG_PASSWORD})

    assert error["extensions"]["code"] == "INVALID_CREDENTIALS"


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_profile_text_holding_nul_is_refused_as_bad_input(gql, field):
    token = gql.register("ali")["token"]

    error = gql.error(UPDATE_USER, {"input": {field: "Ali\x00Reza"}}, token=token)

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in error["extensions"]["fields"]


def test_a_user_agent_holding_nul_is_stored_without_it(gql):
    variables = {"input": {"username": "ali", "email": "ali@example.com", "password": STRONG_PASSWORD}}
    token = gql(CREATE_USER, variables, headers={"User-Agent": "Fire\x00fox/140.0"})["createUser"]["token"]

    assert gql(SESSIONS, token=token)["sessions"] == [{"userAgent": "Firefox/140.0"}]


@pytest.mark.parametrize(("first_name", "search"), NAME_SEARCHES)
def test_a_user_search_finds_names_in_any_case_and_script_on_every_database(app, gql, first_name, search):
    token = gql.register("ali")["token"]
    gql(UPDATE_USER, {"input": {"firstName": first_name}}, token=token)
    update_user(app, "ali", is_staff=True)

    edges = gql(USERS, {"search": search}, token=token)["users"]["edges"]

    assert [edge["node"]["username"] for edge in edges] == ["ali"]
