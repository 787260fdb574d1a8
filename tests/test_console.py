"""The staff console under /admin: through a real gunicorn first, then the finer rules on the test client."""

import re
import time
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa
from conftest import STRONG_PASSWORD, GraphQL, configured_app, count_rows, update_user
from console_pages import WebConsole, form_token_in, set_flags, upload_picture
from flask import Flask
from flask.testing import FlaskClient
from server import Server, running_gunicorn
from werkzeug.test import TestResponse

from service.config import ConfigError, settings_from_env
from service.console import pages
from service.extensions import db

WHOAMI = "query { whoami { username } }"
USERS = "query { users(first: 5) { edges { node { username } } } }"
TOKEN_AUTH = """
mutation Login($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken }
}
"""
CONSOLE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
CHANGE_PASSWORD = """
mutation ChangePassword($old: String!, $new: String!) {
  changePassword(oldPassword: $old, newPassword: $new) { ok }
}
"""
NEW_PASSWORD = "purple submarine under the bridge"


# Through a real server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("console"), workers=2) as server:
        yield server


@pytest.fixture(scope="module")
def superuser(server: Server) -> str:
    username, _ = server.register("boss")
    set_flags(server, username, is_staff=True, is_superuser=True)
    return username


@pytest.fixture
def boss(server: Server, superuser: str) -> WebConsole:
    """A superuser signed in to the console."""
    console = WebConsole(server)
    assert console.log_in(superuser).status_code == 303
    return console


def user_id(server: Server, username: str) -> int:
    return int(server.scalar("SELECT id FROM users WHERE username = :username", username=username))


def assert_console_headers(response: requests.Response | TestResponse) -> None:
    for name, value in CONSOLE_HEADERS.items():
        assert response.headers.get(name) == value, name


def test_console_pages_send_anonymous_visitors_to_the_login_form_and_refuse_their_actions(
    server: Server,
) -> None:
    someone, _ = server.register("anon")
    target = user_id(server, someone)
    visitor = WebConsole(server)

    for path in ("/admin/users", f"/admin/users/{target}", "/admin/users?q=a"):
        response = visitor.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/admin/login")
        assert_console_headers(response)
    for action in ("deactivate", "activate", "password", "sessions/revoke-all"):
        response = visitor.post(f"/admin/users/{target}/{action}", {"csrf_token": "0" * 64})
        assert response.status_code == 403
        assert response.headers["Content-Type"].startswith("text/html")
    assert server.scalar("SELECT is_active FROM users WHERE id = :id", id=target) in (True, 1)


def test_only_active_staff_and_superusers_may_sign_in(server: Server) -> None:
    member, _ = server.register("member")
    visitor = WebConsole(server)

    refused = visitor.log_in(member)

    assert refused.status_code == 200
    assert "Enter the username and password of an active staff account." in refused.text
    assert "console_session" not in visitor.cookies
    assert visitor.get("/admin/users").status_code == 303
    set_flags(server, member, is_staff=True, is_active=False)
    assert visitor.log_in(member).status_code == 200
    assert "console_session" not in visitor.cookies


def test_the_login_form_is_refused_without_its_csrf_token(server: Server, superuser: str) -> None:
    visitor = WebConsole(server)
    page = visitor.get("/admin/login")
    token = form_token_in(page.text)
    assert 'name="username"' in page.text and 'name="password"' in page.text
    credentials = {"username": superuser, "password": STRONG_PASSWORD}

    without_token = visitor.post("/admin/login", credentials)
    wrong_token = visitor.post("/admin/login", {**credentials, "csrf_token": "a" * 64})
    without_cookie = requests.post(
        f"{server.url}/admin/login",
        data={**credentials, "csrf_token": token},
        allow_redirects=False,
        timeout=20,
    )

    for response in (without_token, wrong_token, without_cookie):
        assert response.status_code == 400
        assert "security token" in response.text
        assert "console_session" not in response.headers.get("Set-Cookie", "")


def test_the_console_cookie_is_http_only_secure_strict_and_scoped_to_admin(
    server: Server, superuser: str
) -> None:
    visitor = WebConsole(server)

    response = visitor.log_in(superuser)

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/users")
    [cookie] = [header for header in visitor.set_cookie_headers if header.startswith("console_session=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes.keys()
    assert attributes["samesite"] == "SameSite=Strict"
    assert attributes["path"] == "Path=/admin"
    assert attributes["max-age"] == "Max-Age=28800"
    assert "domain" not in attributes
    value = visitor.cookies["console_session"]
    assert server.scalar("SELECT count(*) FROM console_sessions WHERE token_hash = :raw", raw=value) == 0


def test_the_console_cookie_authenticates_nothing_at_graphql(server: Server, boss: WebConsole) -> None:
    cookie = "; ".join(f"{name}={value}" for name, value in boss.cookies.items())
    for query in (WHOAMI, USERS):
        response = requests.post(
            server.graphql_url, json={"query": query}, headers={"Cookie": cookie}, timeout=20
        )
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert boss.get("/admin/users").status_code == 200


def test_search_finds_an_account_by_name_and_not_another(server: Server, boss: WebConsole) -> None:
    wanted, _ = server.register("findme")
    other, _ = server.register("hideme")

    page = boss.get("/admin/users?q=FINDME")

    assert page.status_code == 200
    assert_console_headers(page)
    assert f">{wanted}</a>" in page.text
    assert f'href="/admin/users/{user_id(server, wanted)}"' in page.text
    assert other not in page.text
    by_email = boss.get(f"/admin/users?q={other}%40example")
    assert other in by_email.text and wanted not in by_email.text


def test_the_account_page_shows_the_picture_and_no_secret(server: Server, boss: WebConsole) -> None:
    username, login = server.register("pictured")
    picture = upload_picture(server, login["token"])
    target = user_id(server, username)

    page = boss.get(f"/admin/users/{target}")

    assert page.status_code == 200
    assert_console_headers(page)
    assert f'<img class="picture" src="/uploads/{picture}"' in page.text
    image = requests.get(f"{server.url}/uploads/{picture}", timeout=20)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    secrets = [
        server.scalar("SELECT password_hash FROM users WHERE id = :id", id=target),
        server.scalar("SELECT session_key FROM login_sessions WHERE user_id = :id", id=target),
        server.scalar(
            "SELECT token_hash FROM refresh_tokens JOIN login_sessions ON login_sessions.id = session_id"
            " WHERE user_id = :id",
            id=target,
        ),
        login["token"],
        login["refreshToken"],
        boss.cookies["console_session"],
    ]
    for secret in secrets:
        assert secret and str(secret) not in page.text
    assert "argon2" not in page.text


def test_deactivating_in_the_console_makes_the_accounts_access_token_fail(
    server: Server, boss: WebConsole
) -> None:
    username, login = server.register("leaver")
    target = user_id(server, username)
    assert "errors" not in server.graphql(WHOAMI, token=login["token"])

    response = boss.act(f"/admin/users/{target}/deactivate")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/users/{target}?done=deactivate")
    body = server.graphql(WHOAMI, token=login["token"])
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    page = boss.get(f"/admin/users/{target}?done=deactivate")
    assert "The account was deactivated" in page.text and "No live sessions." in page.text


def test_an_action_without_its_csrf_token_is_refused(server: Server, boss: WebConsole) -> None:
    username, login = server.register("kept")
    target = user_id(server, username)

    for fields in ({}, {"csrf_token": "f" * 64}):
        response = boss.post(f"/admin/users/{target}/deactivate", fields)
        assert response.status_code == 400
        assert_console_headers(response)
    assert "errors" not in server.graphql(WHOAMI, token=login["token"])


def test_staff_cannot_grant_staff_rights(server: Server) -> None:
    helper, _ = server.register("helper")
    set_flags(server, helper, is_staff=True)
    member, _ = server.register("hopeful")
    console = WebConsole(server)
    assert console.log_in(helper).status_code == 303

    response = console.act(f"/admin/users/{user_id(server, member)}/staff", is_staff="true")

    assert response.status_code == 403
    assert "Only superusers" in response.text
    assert server.scalar("SELECT is_staff FROM users WHERE username = :u", u=member) in (False, 0)


def test_five_wrong_console_logins_lock_token_auth_for_that_account_from_that_client(server: Server) -> None:
    username, _ = server.register("guessed")
    visitor = WebConsole(server)
    for _ in range(5):
        assert "Enter the username and password" in visitor.log_in(username, "wrong password 123").text

    locked = visitor.log_in(username)
    body = server.graphql(TOKEN_AUTH, {"username": username, "password": STRONG_PASSWORD})

    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# On the test client


class Console:
    """A browser at the console of a test app (the test client keeps its cookies)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def log_in(self, username: str, password: str = STRONG_PASSWORD) -> TestResponse:
        token = form_token_in(self.client.get("/admin/login").text)
        data = {"username": username, "password": password, "csrf_token": token}
        return self.client.post("/admin/login", data=data, headers={"User-Agent": "Console test browser"})

    def get(self, path: str) -> TestResponse:
        return self.client.get(path)

    def act(self, path: str, **fields: str) -> TestResponse:
        token = form_token_in(self.client.get("/admin/users").text)
        return self.client.post(path, data={**fields, "csrf_token": token})

    def is_signed_in(self) -> bool:
        return self.client.get("/admin/users").status_code == 200


def make_account(gql: GraphQL, app: Flask, username: str, **flags: bool) -> dict:
    """An account (its ``createUser`` result) with ``flags`` set."""
    result = gql.register(username)
    if flags:
        update_user(app, username, **flags)
    return result


@pytest.fixture
def console(client: FlaskClient) -> Console:
    return Console(client)


@pytest.fixture
def root(app: Flask, gql: GraphQL, console: Console) -> dict:
    """A superuser ``root``, signed in to the console."""
    account = make_account(gql, app, "root", is_staff=True, is_superuser=True)
    assert console.log_in("root").status_code == 303
    return account


def test_filters_keep_only_active_or_staff_accounts(
    app: Flask, gql: GraphQL, console: Console, root: dict
) -> None:
    make_account(gql, app, "helper", is_staff=True)
    make_account(gql, app, "gone", is_active=False)
    make_account(gql, app, "plain")

    def listed(query: str) -> set[str]:
        page = console.get(f"/admin/users?{query}")
        assert page.status_code == 200
        return set(re.findall(r'href="/admin/users/\d+">([^<]+)</a>', page.text))

    assert listed("") == {"root", "helper", "gone", "plain"}
    assert listed("staff=true") == {"root", "helper"}
    assert listed("staff=false&active=true") == {"plain"}
    assert listed("active=false") == {"gone"}
    assert listed("q=LAI&active=true") == {"plain"}
    assert listed("q=LAI&active=false") == set()


def test_the_list_comes_a_page_at_a_time_by_keyset(
    app: Flask, gql: GraphQL, console: Console, root: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    for name in ("ann", "bob", "cat"):
        make_account(gql, app, name)

    first = console.get("/admin/users?active=true")
    next_link = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = console.get(next_link)

    assert re.findall(r'/admin/users/\d+">([^<]+)<', first.text) == ["root", "ann"]
    assert next_link == "/admin/users?active=true&after=2"
    assert re.findall(r'/admin/users/\d+">([^<]+)<', second.text) == ["bob", "cat"]
    assert 'rel="next"' not in second.text


@pytest.mark.parametrize(
    "query", ["active=maybe", "staff=1", "after=x", "after=-3", "q=" + "a" * 300, "q=%00"]
)
def test_a_malformed_list_request_is_a_400_page(console: Console, root: dict, query: str) -> None:
    response = console.get(f"/admin/users?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert_console_headers(response)


def test_unknown_accounts_and_pages_are_html_404s(console: Console, root: dict) -> None:
    for path in ("/admin/users/999", "/admin/users/99999999999999999999", "/admin/users/x", "/admin/nothing"):
        response = console.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert_console_headers(response)


def test_the_stylesheet_and_script_are_served_with_their_digest_and_kept_for_a_year(
    console: Console, root: dict
) -> None:
    page = console.get("/admin/users").text
    assert "<script>" not in page and "style=" not in page
    for path in re.findall(r'(?:href|src)="(/admin/static/[0-9a-f]{16}/console\.(?:css|js))"', page):
        response = console.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    wrong = re.sub(r"/static/[0-9a-f]{16}/", "/static/0000000000000000/", path)
    assert console.get(wrong).status_code == 404


@pytest.mark.parametrize(
    ("acting", "path", "fields", "message"),
    [
        ("staff", "staff", {"is_staff": "true"}, "Only superusers"),
        ("staff", "deactivate", {}, "Staff cannot act on a superuser"),
        ("staff", "password", {"password": NEW_PASSWORD}, "Staff cannot act on a superuser"),
        ("staff", "sessions/revoke-all", {}, "Staff cannot act on a superuser"),
        ("self", "deactivate", {}, "your own account"),
        ("self", "staff", {"is_staff": "false"}, "your own account"),
        ("self", "password", {"password": NEW_PASSWORD}, "your own account"),
    ],
)
def test_rights_are_checked_for_every_action(
    app: Flask, gql: GraphQL, console: Console, acting: str, path: str, fields: dict, message: str
) -> None:
    make_account(gql, app, "root", is_staff=True, is_superuser=True)
    make_account(gql, app, "helper", is_staff=True)
    console.log_in("helper" if acting == "staff" else "root")

    response = console.act(f"/admin/users/1/{path}", **fields)

    assert response.status_code == 403
    assert message in response.text
    assert count_rows(app, "users", is_active=True, is_staff=True, is_superuser=True) == 1


def test_staff_may_deactivate_and_activate_an_ordinary_account(
    app: Flask, gql: GraphQL, console: Console
) -> None:
    make_account(gql, app, "helper", is_staff=True)
    make_account(gql, app, "ali")
    console.log_in("helper")

    assert console.act("/admin/users/2/deactivate").status_code == 303
    assert count_rows(app, "users", username="ali", is_active=False) == 1
    assert console.act("/admin/users/2/activate").status_code == 303
    assert count_rows(app, "users", username="ali", is_active=True) == 1
    page = console.get("/admin/users/2")
    assert "Grant staff rights" not in page.text and "Deactivate" in page.text


def test_superusers_grant_and_withdraw_staff_rights(
    app: Flask, gql: GraphQL, console: Console, root: dict
) -> None:
    make_account(gql, app, "ali")

    assert console.act("/admin/users/2/staff", is_staff="true").status_code == 303
    assert count_rows(app, "users", username="ali", is_staff=True) == 1
    assert console.act("/admin/users/2/staff", is_staff="false").status_code == 303
    assert count_rows(app, "users", username="ali", is_staff=False) == 1
    assert console.act("/admin/users/2/staff", is_staff="yes").status_code == 400


def test_a_temporary_password_follows_the_policy_and_ends_every_session(
    app: Flask, gql: GraphQL, console: Console, root: dict
) -> None:
    ali = make_account(gql, app, "ali")

    weak = console.act("/admin/users/2/password", password="password")
    assert weak.status_code == 400
    assert "too common" in weak.text.lower() or "password" in weak.text.lower()
    assert gql(WHOAMI, token=ali["token"])["whoami"]["username"] == "ali"

    assert console.act("/admin/users/2/password", password=NEW_PASSWORD).status_code == 303
    assert gql.post(WHOAMI, token=ali["token"])[1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert gql(TOKEN_AUTH, {"username": "ali", "password": NEW_PASSWORD})["tokenAuth"]["token"]


def test_sessions_are_listed_and_ended_one_or_all(
    app: Flask, gql: GraphQL, console: Console, root: dict
) -> None:
    ali = make_account(gql, app, "ali")
    second = gql(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})["tokenAuth"]
    page = console.get("/admin/users/2").text
    sessions = re.findall(r"/admin/users/2/sessions/(\d+)/revoke", page)
    assert len(sessions) == 2

    assert console.act(f"/admin/users/2/sessions/{sessions[0]}/revoke").status_code == 303
    assert console.act(f"/admin/users/2/sessions/{sessions[0]}/revoke").status_code == 404
    assert console.act("/admin/users/2/sessions/1/revoke").status_code == 404  # root's, not ali's
    assert gql.post(WHOAMI, token=second["token"])[1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert gql(WHOAMI, token=ali["token"])["whoami"]["username"] == "ali"
    assert console.act("/admin/users/2/sessions/revoke-all").status_code == 303
    assert gql.post(WHOAMI, token=ali["token"])[1]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_console_sign_in_is_a_session_of_its_own_with_no_tokens(
    app: Flask, console: Console, root: dict
) -> None:
    page = console.get("/admin/users/1").text

    assert "Console test browser" in page
    assert re.search(r'<span class="tag">console</span>', page)
    assert count_rows(app, "login_sessions", user_id=1) == 2
    assert count_rows(app, "refresh_tokens") == 1  # root's createUser session's only


@pytest.mark.parametrize(
    "ending",
    [
        "deactivated",
        "staff withdrawn",
        "password changed",
        "logged out everywhere",
        "session revoked",
        "logout",
    ],
)
def test_the_console_session_ends_with_the_staff_members_sessions_or_rights(
    app: Flask, gql: GraphQL, console: Console, ending: str
) -> None:
    helper = make_account(gql, app, "helper", is_staff=True)
    console.log_in("helper")
    cookie = console.client.get_cookie("console_session", path="/admin").value
    assert console.is_signed_in()

    if ending == "deactivated":
        update_user(app, "helper", is_active=False)
    elif ending == "staff withdrawn":
        update_user(app, "helper", is_staff=False)
    elif ending == "password changed":
        gql(CHANGE_PASSWORD, {"old": STRONG_PASSWORD, "new": NEW_PASSWORD}, token=helper["token"])
    elif ending == "logged out everywhere":
        gql("mutation { revokeAllTokens { revoked } }", token=helper["token"])
    elif ending == "session revoked":
        sessions = gql("query { sessions { id userAgent } }", token=helper["token"])["sessions"]
        [console_session] = [
            session for session in sessions if session["userAgent"] == "Console test browser"
        ]
        gql(
            "mutation($id: ID!) { revokeSession(id: $id) { revoked } }",
            {"id": console_session["id"]},
            token=helper["token"],
        )
    else:
        assert console.act("/admin/logout").status_code == 303

    refused = console.get("/admin/users")
    assert refused.status_code == 303 and refused.headers["Location"].endswith("/admin/login")
    console.client.set_cookie("console_session", cookie, path="/admin")  # the old cookie, replayed
    assert not console.is_signed_in()


def test_the_console_session_ends_after_its_lifetime(tmp_path_factory: pytest.TempPathFactory) -> None:
    with configured_app(tmp_path_factory, ADMIN_SESSION_LIFETIME=1) as app:
        client = app.test_client()
        make_account(GraphQL(client), app, "helper", is_staff=True)
        console = Console(client)
        response = console.log_in("helper")
        assert "Max-Age=1;" in response.headers["Set-Cookie"]
        assert console.is_signed_in()

        time.sleep(1.1)

        assert not console.is_signed_in()
        # Ended, not just ignored: it is no longer listed among the live sessions.
        with app.app_context():
            ended = db.session.scalar(
                sa.text("SELECT count(*) FROM login_sessions WHERE revoked_at IS NOT NULL")
            )
        assert ended == 1


def test_a_csrf_token_belongs_to_one_console_session(
    app: Flask, gql: GraphQL, console: Console, root: dict
) -> None:
    make_account(gql, app, "ali")
    stale_token = form_token_in(console.get("/admin/users").text)
    console.act("/admin/logout")
    console.log_in("root")

    response = console.client.post("/admin/users/2/deactivate", data={"csrf_token": stale_token})

    assert response.status_code == 400
    assert count_rows(app, "users", username="ali", is_active=True) == 1


def test_a_signed_in_visitor_is_sent_from_the_login_form_to_the_list(console: Console, root: dict) -> None:
    response = console.get("/admin/login")
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/users")
    assert console.get("/admin/").headers["Location"].endswith("/admin/users")


def test_a_wrong_console_login_counts_like_a_wrong_token_auth(
    app: Flask, gql: GraphQL, console: Console
) -> None:
    make_account(gql, app, "ali")
    for _ in range(4):
        console.log_in("ali", "not the password")
    gql.post(TOKEN_AUTH, {"username": "ali", "password": "still not it"})

    assert console.log_in("ali").status_code == 429
    assert (
        gql.post(TOKEN_AUTH, {"username": "ali", "password": STRONG_PASSWORD})[1]["errors"][0]["extensions"][
            "code"
        ]
        == "RATE_LIMITED"
    )


def test_signing_in_again_from_an_open_form_ends_the_earlier_console_session(
    app: Flask, gql: GraphQL, console: Console
) -> None:
    make_account(gql, app, "helper", is_staff=True)
    token = form_token_in(console.get("/admin/login").text)
    form = {"username": "helper", "password": STRONG_PASSWORD, "csrf_token": token}
    assert console.client.post("/admin/login", data=form).status_code == 303
    earlier = console.client.get_cookie("console_session", path="/admin").value

    assert console.client.post("/admin/login", data=form).status_code == 303  # the form in another tab

    assert console.is_signed_in()
    assert console.client.get_cookie("console_session", path="/admin").value != earlier
    console.client.set_cookie("console_session", earlier, path="/admin")
    assert not console.is_signed_in()


def test_the_console_lifetime_defaults_to_eight_hours_and_must_be_a_positive_number() -> None:
    assert settings_from_env({})["ADMIN_SESSION_LIFETIME"] == 8 * 3600
    assert settings_from_env({"ADMIN_SESSION_LIFETIME": "60"})["ADMIN_SESSION_LIFETIME"] == 60
    for bad in ("0", "8h", "-1"):
        with pytest.raises(ConfigError, match="ADMIN_SESSION_LIFETIME"):
            settings_from_env({"ADMIN_SESSION_LIFETIME": bad})


@pytest.mark.parametrize(
    "withdrawn_by", ["a superuser in the console", "the database, seen at the next visit"]
)
def test_staff_rights_given_back_do_not_revive_an_ended_console_session(
    app: Flask, gql: GraphQL, client: FlaskClient, withdrawn_by: str
) -> None:
    make_account(gql, app, "root", is_staff=True, is_superuser=True)
    make_account(gql, app, "helper", is_staff=True)
    helper = Console(client)
    helper.log_in("helper")
    cookie = client.get_cookie("console_session", path="/admin").value

    if withdrawn_by == "a superuser in the console":
        boss = Console(app.test_client())
        boss.log_in("root")
        assert boss.act("/admin/users/2/staff", is_staff="false").status_code == 303
    else:
        update_user(app, "helper", is_staff=False)
        assert not helper.is_signed_in()
    update_user(app, "helper", is_staff=True)

    client.set_cookie("console_session", cookie, path="/admin")
    assert not helper.is_signed_in()
