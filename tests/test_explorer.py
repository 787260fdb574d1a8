"""The explorer at ``GET /graphql``: a page whose every file comes from this service, cached for a year.

What a browser does with it (runs tokenAuth and whoami, talks to no other
host) is checked in Chromium by test_explorer_browser.py (``make test-clients``).
"""

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
from conftest import configured_app
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from service.graphql.explorer_assets import explorer_assets

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENDOR = PROJECT_ROOT / "service" / "graphql" / "static" / "explorer" / "vendor"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".png": "image/png",
}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
SELF_HOSTED = ["playground", "graphiql"]


class PageLinks(HTMLParser):
    """Every URL the page's tags name (href, src), and its JSON configuration block."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.config: dict | None = None
        self._in_config = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("href", "src") and value]
        self._in_config = tag == "script" and named.get("id") == "explorer-config"

    def handle_data(self, data: str) -> None:
        if self._in_config:
            self.config = json.loads(data)
            self._in_config = False


@pytest.fixture(scope="module", params=SELF_HOSTED)
def explorer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlaskClient]:
    """A client of an app serving the self-hosted explorer named by the parameter."""
    with configured_app(tmp_path_factory, GRAPHQL_EXPLORER=request.param) as app:
        yield app.test_client()


def page_of(client: FlaskClient) -> TestResponse:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response


def csp_directives(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


def assets_loaded_by(client: FlaskClient) -> dict[str, TestResponse]:
    """Every file the page loads, the fonts and images its styles name included, by URL."""
    pending = [url for url in PageLinks(page_of(client).get_data(as_text=True)).urls if url != "data:,"]
    loaded: dict[str, TestResponse] = {}
    while pending:
        url = pending.pop()
        if url in loaded:
            continue
        loaded[url] = response = client.get(url)
        if response.mimetype == "text/css":
            named = CSS_URL.findall(response.get_data(as_text=True))
            pending += [urljoin(url, found) for found in named if not found.startswith("data:")]
    return loaded


def test_every_file_the_explorer_loads_comes_from_this_service_with_its_type(explorer: FlaskClient) -> None:
    loaded = assets_loaded_by(explorer)

    assert {Path(url).suffix for url in loaded} >= {".js", ".css"}
    for url, response in loaded.items():
        assert url.startswith(f"/graphql/static/{explorer_assets().digest}/"), url
        assert response.status_code == 200, url
        assert response.headers["Content-Type"] == CONTENT_TYPES[Path(url).suffix], url


def test_the_explorers_files_may_be_cached_for_a_year(explorer: FlaskClient) -> None:
    for url, response in assets_loaded_by(explorer).items():
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url


def test_the_playground_page_loads_its_fonts_from_this_service(tmp_path_factory) -> None:
    with configured_app(tmp_path_factory, GRAPHQL_EXPLORER="playground") as app:
        loaded = assets_loaded_by(app.test_client())

    fonts = [url for url in loaded if url.endswith(".woff2")]
    assert any("open-sans" in url for url in fonts)
    assert any("source-code-pro" in url for url in fonts)


def test_the_explorer_page_names_no_other_host(explorer: FlaskClient) -> None:
    html = page_of(explorer).get_data(as_text=True)

    assert "://" not in html
    for url in PageLinks(html).urls:
        assert url == "data:," or (url.startswith("/") and not url.startswith("//")), url
    for url, response in assets_loaded_by(explorer).items():
        if url.endswith(".css"):
            for named in CSS_URL.findall(response.get_data(as_text=True)):
                assert named.startswith("data:") or "//" not in named, (url, named)


def test_the_explorer_page_runs_only_this_services_scripts(explorer: FlaskClient) -> None:
    directives = csp_directives(page_of(explorer))

    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    for name, sources in directives.items():
        assert set(sources) <= {"'self'", "'none'", "data:"} or name == "style-src", name
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["frame-ancestors"] == directives["object-src"] == directives["base-uri"] == ["'none'"]


def test_the_explorer_sends_its_operations_to_graphql_and_offers_the_jwt_header(
    explorer: FlaskClient,
) -> None:
    config = PageLinks(page_of(explorer).get_data(as_text=True)).config

    assert config is not None
    assert config["endpoint"] == "/graphql"
    assert config["headers"] == {"Authorization": "JWT <token>"}
    assert "tokenAuth" in config["query"]


def test_apollo_sandbox_stays_an_online_option(tmp_path_factory) -> None:
    with configured_app(tmp_path_factory, GRAPHQL_EXPLORER="apollo") as app:
        response = page_of(app.test_client())

    directives = csp_directives(response)
    assert "https://embeddable-sandbox.cdn.apollographql.com" in directives["script-src"]
    assert directives["frame-src"] == ["https://sandbox.embed.apollographql.com"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_no_explorer_page_when_it_is_off(tmp_path_factory) -> None:
    with configured_app(tmp_path_factory, GRAPHQL_EXPLORER="off") as app:
        response = app.test_client().get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 400
    assert response.mimetype == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("{digest}/nothing-here.js", id="unknown file"),
        pytest.param("0123456789abcdef/explorer.css", id="another release's digest"),
        pytest.param("{digest}/vendor/graphiql/LICENSE", id="licence"),
        pytest.param("{digest}/vendor/NOTICE.md", id="notes"),
        pytest.param("{digest}/vendor", id="folder"),
        pytest.param("{digest}/../explorer.py", id="parent folder"),
        pytest.param("{digest}/vendor/../../explorer.py", id="parent of parent"),
        pytest.param("{digest}/%2e%2e/%2e%2e/explorer.py", id="encoded parent"),
        pytest.param("{digest}/..%2f..%2fexplorer.py", id="encoded slashes"),
        pytest.param("{digest}//etc/passwd", id="absolute path"),
        pytest.param("{digest}/%2fetc%2fpasswd", id="encoded absolute path"),
        pytest.param("{digest}/explorer.css%00.js", id="null byte"),
    ],
)
def test_anything_but_an_explorer_file_is_not_found(client: FlaskClient, path: str) -> None:
    response = client.get(f"/graphql/static/{path.format(digest=explorer_assets().digest)}")

    assert response.status_code == 404
    assert response.get_json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_the_vendored_files_come_from_the_pinned_packages_with_their_licences() -> None:
    pinned = json.loads((PROJECT_ROOT / "explorer" / "package.json").read_text())["dependencies"]
    locked = json.loads((PROJECT_ROOT / "explorer" / "package-lock.json").read_text())["packages"]
    notice = (VENDOR / "NOTICE.md").read_text()

    for name, version in pinned.items():
        assert locked[f"node_modules/{name}"]["version"] == version, name
        assert f"| {name} | {version} |" in notice, f"{name} {version}: run make explorer-assets"
        assert (VENDOR / name.replace("@", "").replace("/", "-") / "LICENSE").is_file(), name
    assert not list(VENDOR.rglob("*.map"))
