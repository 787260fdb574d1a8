"""Helpers for the staff console's tests: a browser-like client of a real server, and account set-up.

``requests`` (like ``http.cookiejar``) never sends a ``Secure`` cookie over
plain http, while browsers do to a loopback address: ``WebConsole`` keeps the
console's cookies itself and sends them only under ``/admin``, as a browser would.
"""

import io
import json
import re
from http.cookies import SimpleCookie

import requests
import sqlalchemy as sa
from conftest import STRONG_PASSWORD
from PIL import Image, ImageDraw
from server import Server

FORM_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
SET_PICTURE = """
mutation SetPicture($input: UpdateUserInput!) { updateUser(input: $input) { user { profilePicture } } }
"""


def form_token_in(html: str) -> str:
    """The CSRF token of the (first) form on a console page."""
    found = FORM_TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def set_flags(server: Server, username: str, **flags: bool) -> None:
    """Set ``is_staff`` / ``is_superuser`` / ``is_active`` straight in the server's database."""
    engine = sa.create_engine(server.database_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            assignments = ", ".join(f"{name} = :{name}" for name in flags)
            connection.execute(
                sa.text(f"UPDATE users SET {assignments} WHERE username = :username"),
                {**flags, "username": username},
            )
    finally:
        engine.dispose()


def avatar(size: int = 160) -> bytes:
    """A small PNG that looks like a profile picture: a head and shoulders on a coloured ground."""
    picture = Image.new("RGB", (size, size), (46, 125, 140))
    draw = ImageDraw.Draw(picture)
    light = (226, 236, 238)
    draw.ellipse((size * 0.32, size * 0.16, size * 0.68, size * 0.52), fill=light)
    draw.ellipse((size * 0.14, size * 0.58, size * 0.86, size * 1.25), fill=light)
    image = io.BytesIO()
    picture.save(image, format="PNG")
    return image.getvalue()


def upload_picture(server: Server, token: str) -> str:
    """Give the token's account a small PNG picture, as a multipart client does; its stored path."""
    operations = {"query": SET_PICTURE, "variables": {"input": {"profilePicture": None}}}
    response = requests.post(
        server.graphql_url,
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.profilePicture"]}),
        },
        files={"0": ("me.png", avatar(), "image/png")},
        headers={"Authorization": f"JWT {token}"},
        timeout=server.request_timeout,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]["updateUser"]["user"]["profilePicture"]


class WebConsole:
    """One browser's visits to a server's console: its cookies, sent back under ``/admin`` only."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.cookies and (path == "/admin" or path.startswith("/admin/")):
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method,
            self.server.url + path,
            headers=headers,
            allow_redirects=False,
            timeout=self.server.request_timeout,
            **kwargs,
        )
        self.set_cookie_headers = response.raw.headers.getlist("Set-Cookie")
        for header in self.set_cookie_headers:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs) -> requests.Response:
        return self.request("POST", path, data=data, **kwargs)

    def log_in(self, username: str, password: str = STRONG_PASSWORD) -> requests.Response:
        """The login form, filled in and sent with its token."""
        token = form_token_in(self.get("/admin/login").text)
        return self.post("/admin/login", {"username": username, "password": password, "csrf_token": token})

    def act(self, path: str, **fields: str) -> requests.Response:
        """Send an action's form with the token the console gives this visitor now."""
        token = form_token_in(self.get("/admin/users").text)
        return self.post(path, {**fields, "csrf_token": token})
