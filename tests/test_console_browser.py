"""The staff console in headless Chromium against a real server, as a staff member uses it.

Debian's ``chromium`` through Playwright from PyPI (its own browser download
is never used); a missing browser fails the run. Every request the page makes
is recorded, and any to a host other than 127.0.0.1 is refused and fails the
test, as does any console error (a CSP violation among them). On failure a
screenshot lands in ``ARTIFACTS_DIR`` (default ``test-artifacts/``); with
``SAVE_CONSOLE_SCREENSHOT`` set, the account page is saved as the README's
picture, ``docs/console.png``.

Playwright is imported where it is used: plain ``make test``, which does not
install it, still collects this module (and deselects it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from browser import ARTIFACTS, chromium
from conftest import STRONG_PASSWORD
from console_pages import set_flags, upload_picture
from server import HOST, PROJECT_ROOT, Server, running_gunicorn

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.clients

README_SCREENSHOT = PROJECT_ROOT / "docs" / "console.png"
TIMEOUT_MS = 15_000
WHOAMI = "query { whoami { username } }"
PROFILE = """
mutation Profile($input: UpdateUserInput!) { updateUser(input: $input) { user { id } } }
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_gunicorn(tmp_path_factory.mktemp("console-browser")) as server:
        yield server


class Recorded:
    """Every request of a browser context (any to another host refused), dialogs, console errors."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.answer = True
        page.context.route("**/*", self._only_this_host)
        page.on("websocket", lambda socket: self.urls.append(socket.url))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("dialog", self._dialog)

    def _only_this_host(self, route) -> None:
        self.urls.append(route.request.url)
        if urlsplit(route.request.url).hostname == HOST:
            route.continue_()
        else:
            route.abort()

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if self.answer:
            dialog.accept()
        else:
            dialog.dismiss()

    def offsite(self) -> list[str]:
        return [url for url in self.urls if urlsplit(url).hostname != HOST]


def test_staff_sign_in_find_an_account_see_its_picture_and_deactivate_it(
    browser: Browser, server: Server
) -> None:
    from playwright.sync_api import expect

    staff, _ = server.register("chief")
    set_flags(server, staff, is_staff=True, is_superuser=True)
    target, login = server.register("sara")
    other, _ = server.register("omid")
    profile = {"firstName": "Sara", "lastName": "Karimi", "position": "Analyst", "department": "Finance"}
    server.graphql(PROFILE, {"input": profile}, token=login["token"])
    picture = upload_picture(server, login["token"])

    context = browser.new_context(viewport={"width": 1100, "height": 760}, user_agent="Console browser test")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    recorded = Recorded(page)
    try:
        page.goto(f"{server.url}/admin/users")
        expect(page).to_have_url(f"{server.url}/admin/login")
        page.fill("#username", staff)
        page.fill("#password", STRONG_PASSWORD)
        page.click("button:text('Sign in')")
        expect(page).to_have_url(f"{server.url}/admin/users")

        [cookie] = [cookie for cookie in context.cookies() if cookie["name"] == "console_session"]
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
            True,
            True,
            "Strict",
            "/admin",
        )

        page.fill("#q", target)
        page.click("button:text('Search')")
        expect(page.locator("table.users a", has_text=target)).to_be_visible()
        expect(page.locator("table.users a", has_text=other)).to_have_count(0)

        page.click(f"table.users a:text-is('{target}')")
        expect(page.locator("h1")).to_have_text(target)
        image = page.locator("img.picture")
        expect(image).to_have_attribute("src", f"/uploads/{picture}")
        page.wait_for_function("document.querySelector('img.picture').complete")
        assert image.evaluate("img => img.naturalWidth") > 0
        shot = page.screenshot()

        recorded.answer = False  # "Cancel": the form is not sent
        page.click("button:text('Deactivate')")
        assert len(recorded.dialogs) == 1 and recorded.dialogs[0].startswith("confirm: Deactivate")
        assert "errors" not in server.graphql(WHOAMI, token=login["token"])

        recorded.answer = True
        page.click("button:text('Deactivate')")
        expect(page.locator(".notice")).to_contain_text("The account was deactivated")
        expect(page.locator("button:text('Activate')")).to_be_visible()
        body = server.graphql(WHOAMI, token=login["token"])
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scrolling
        for path in (page.url, f"{server.url}/admin/users"):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        assert recorded.offsite() == [], "requests to other hosts"
        assert recorded.errors == [], "console errors"
        assert any(url.endswith(f"/uploads/{picture}") for url in recorded.urls)
        assert any("/admin/static/" in url and url.endswith("/console.js") for url in recorded.urls)
        if os.environ.get("SAVE_CONSOLE_SCREENSHOT"):
            README_SCREENSHOT.parent.mkdir(exist_ok=True)
            README_SCREENSHOT.write_bytes(shot)
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / "console.png", full_page=True)
        raise
    finally:
        context.close()
