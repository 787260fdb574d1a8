"""Each self-hosted explorer, driven in headless Chromium against a real server, as a person uses it.

Debian's ``chromium`` (``.ci/run`` installs it) through Playwright from PyPI;
Playwright's own browser download is never used. A missing browser fails the
run rather than skipping it. On failure a screenshot lands in ``ARTIFACTS_DIR``
(default ``test-artifacts/``); with ``SAVE_EXPLORER_SCREENSHOT`` set, the
Playground run also writes the README's picture, ``docs/explorer.png``.

Playwright is imported where it is used: plain ``make test``, which does not
install it, still collects this module (and deselects it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from browser import ARTIFACTS, chromium
from conftest import STRONG_PASSWORD
from server import HOST, PROJECT_ROOT, Server, running_gunicorn

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Route

pytestmark = pytest.mark.clients

README_SCREENSHOT = PROJECT_ROOT / "docs" / "explorer.png"
TIMEOUT_MS = 15_000
TOKEN = re.compile(r'"token":\s*"([\w.-]+)"')
WHOAMI = "query { whoami { username } }"
# From the SDL: tokenAuth's description, and those of its arguments and of its result type.
FIELD_DESCRIPTION = "Log in with a username (or the account's email) and password"
ARGUMENT_DESCRIPTION = "The account's username, or its email address."
TYPE_DESCRIPTION = "a new session's tokens."


@dataclass(frozen=True)
class ExplorerScreen:
    """Where things are on one explorer's page: its editors, buttons and panels."""

    ready: str
    query_editor: str
    headers_tab: str | None
    headers_editor: str
    result: str
    run_button: str
    docs_button: str
    docs_path: tuple[str, ...]
    # What its docs show on tokenAuth's page.
    descriptions: tuple[str, ...]


SCREENS = {
    # Playground's classes are generated; its three editors come in this order.
    "playground": ExplorerScreen(
        ready=".graphiql-wrapper.active .CodeMirror",
        query_editor=".graphiql-wrapper.active .CodeMirror >> nth=0",
        headers_tab="text=HTTP HEADERS",
        headers_editor=".graphiql-wrapper.active .CodeMirror >> nth=1",
        result=".graphiql-wrapper.active .CodeMirror >> nth=2",
        run_button="[title='Execute Query (Ctrl-Enter)']",
        docs_button="text=Docs",
        docs_path=(".doc-category-item .field-name:text-is('tokenAuth')",),
        descriptions=(FIELD_DESCRIPTION, TYPE_DESCRIPTION),
    ),
    "graphiql": ExplorerScreen(
        ready=".graphiql-query-editor .CodeMirror",
        query_editor=".graphiql-query-editor .CodeMirror",
        headers_tab=None,  # open from the start (defaultEditorToolsVisibility)
        headers_editor=".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror",
        result=".graphiql-response .CodeMirror",
        run_button=".graphiql-execute-button",
        docs_button="[aria-label='Show Documentation Explorer']",
        docs_path=("a.graphiql-doc-explorer-type-name:text-is('Mutation')", "a:text-is('tokenAuth')"),
        descriptions=(FIELD_DESCRIPTION, ARGUMENT_DESCRIPTION),
    ),
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module", params=sorted(SCREENS))
def explorer(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(explorer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server showing that explorer."""
    with running_gunicorn(tmp_path_factory.mktemp(explorer), GRAPHQL_EXPLORER=explorer) as server:
        yield server


class Watched:
    """A page whose every request is checked: any to another host is refused and noted, as is any
    console error (a CSP violation among them) or uncaught exception."""

    def __init__(self, page: Page) -> None:
        self.offsite: list[str] = []
        self.errors: list[str] = []
        page.context.route("**/*", self._only_this_host)
        page.on("websocket", lambda socket: self._note_host(socket.url))
        page.on("console", self._note_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _only_this_host(self, route: Route) -> None:
        if self._note_host(route.request.url):
            route.continue_()
        else:
            route.abort()

    def _note_host(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == HOST:
            return True
        self.offsite.append(url)
        return False

    def _note_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def assert_clean(self) -> None:
        assert self.offsite == [], "requests to other hosts"
        assert self.errors == [], "console errors"


@contextmanager
def screenshot_on_failure(page: Page, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"explorer-{name}.png", full_page=True)
        raise


def replace_text(page: Page, editor: Locator, text: str) -> None:
    """Select everything in a CodeMirror editor and type ``text`` over it, key by key."""
    editor.click()
    page.mouse.move(0, 0)  # a pointer left over the text opens tooltips that stay
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)
    page.keyboard.press("Escape")  # close any completion list the typing opened


def run(page: Page, screen: ExplorerScreen, query: str, answer: str) -> str:
    """Type ``query`` into the editor (one key at a time: the editor closes brackets and quotes
    itself, and steps over them), run it, wait for ``answer`` in the result pane; the pane's text."""
    from playwright.sync_api import expect

    result = page.locator(screen.result)
    replace_text(page, page.locator(screen.query_editor), query)
    page.locator(screen.run_button).click()
    expect(result).to_contain_text(answer, timeout=TIMEOUT_MS)
    return result.inner_text()


def test_the_explorer_signs_in_and_asks_who_i_am_without_leaving_this_host(
    browser: Browser, explorer: str, server: Server
) -> None:
    from playwright.sync_api import expect

    screen = SCREENS[explorer]
    username, _ = server.register("explorer")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = Watched(page)
    try:
        with screenshot_on_failure(page, explorer):
            page.goto(server.graphql_url)
            expect(page.locator(screen.ready).first).to_be_visible(timeout=TIMEOUT_MS)

            sign_in = (
                f'mutation {{ tokenAuth(username: "{username}", password: "{STRONG_PASSWORD}") {{ token }} }}'
            )
            token = TOKEN.search(run(page, screen, sign_in, '"token": "'))
            assert token

            if screen.headers_tab:
                page.locator(screen.headers_tab).click()
            headers = page.locator(screen.headers_editor)
            expect(headers).to_contain_text('"Authorization": "JWT <token>"', timeout=TIMEOUT_MS)
            replace_text(page, headers, '{"Authorization": "JWT ' + token.group(1) + '"}')
            run(page, screen, WHOAMI, f'"username": "{username}"')
            # Without the completion boxes that Playground leaves behind when typing is fast.
            picture = page.screenshot(style=".CodeMirror-hints-wrapper { display: none; }")

            page.locator(screen.docs_button).click()
            for link in screen.docs_path:
                page.locator(link).first.click()
            for description in screen.descriptions:
                expect(page.get_by_text(description).first).to_be_visible(timeout=TIMEOUT_MS)

            watched.assert_clean()
            if explorer == "playground" and os.environ.get("SAVE_EXPLORER_SCREENSHOT"):
                README_SCREENSHOT.parent.mkdir(exist_ok=True)
                README_SCREENSHOT.write_bytes(picture)
    finally:
        context.close()
