"""The in-browser explorer shown at ``GET /graphql``, rendered once at start-up.

GraphQL Playground (the default) and GraphiQL are served whole from this service
(see ``explorer_assets``): they work with no internet, under a CSP that names no
other host. ``apollo`` is Apollo's hosted Sandbox, Ariadne's page for it: online only.
"""

from dataclasses import dataclass
from pathlib import Path

from ariadne.explorer import ExplorerApollo
from jinja2 import Environment, FileSystemLoader

from .explorer_assets import explorer_assets

TITLE = "Accounts service"
ENDPOINT = "/graphql"
# Offered in the headers panel: where the token from tokenAuth goes.
HEADERS = {"Authorization": "JWT <token>"}
FIRST_QUERY = """\
# Sign in with tokenAuth, then put its token
# into the headers panel: {"Authorization": "JWT <token>"}
# and ask who you are: { whoami { username } }
mutation {
  tokenAuth(username: "", password: "") {
    token
    refreshToken
  }
}
"""
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"), autoescape=True)


@dataclass(frozen=True)
class SelfHostedExplorer:
    """What one explorer's page loads, as paths under ``static/explorer/``, in order."""

    styles: tuple[str, ...]
    scripts: tuple[str, ...]
    favicon: str | None


SELF_HOSTED = {
    "playground": SelfHostedExplorer(
        styles=("vendor/fonts.css", "vendor/graphql-playground-react/index.css", "explorer.css"),
        scripts=("vendor/graphql-playground-react/middleware.js", "playground.js"),
        favicon="vendor/graphql-playground-react/favicon.png",
    ),
    "graphiql": SelfHostedExplorer(
        styles=("vendor/graphiql/graphiql.min.css", "explorer.css"),
        scripts=(
            "vendor/react/react.production.min.js",
            "vendor/react-dom/react-dom.production.min.js",
            "vendor/graphiql/graphiql.min.js",
            "graphiql.js",
        ),
        favicon=None,
    ),
}
# Apollo's hosted Sandbox: its code from its CDN, run in its frame, started by an inline script.
APOLLO_DIRECTIVES = {
    "script-src": "'self' 'unsafe-inline' https://embeddable-sandbox.cdn.apollographql.com",
    "frame-src": "https://sandbox.embed.apollographql.com",
    "worker-src": "'self' blob:",
}


def explorer_html(name: str) -> str | None:
    """The page of the explorer named by ``GRAPHQL_EXPLORER``; ``None`` when it is ``off``."""
    if name == "apollo":
        return ExplorerApollo(title=TITLE).html(None)
    explorer = SELF_HOSTED.get(name)
    if explorer is None:
        return None
    assets = explorer_assets()
    return TEMPLATES.get_template("explorer.html").render(
        name=name,
        title=TITLE,
        # No favicon: an empty one, so the browser does not ask for /favicon.ico.
        favicon=assets.url(explorer.favicon) if explorer.favicon else "data:,",
        styles=[assets.url(path) for path in explorer.styles],
        scripts=[assets.url(path) for path in explorer.scripts],
        config={"endpoint": ENDPOINT, "query": FIRST_QUERY, "headers": HEADERS},
    )


def explorer_csp(name: str) -> str:
    """A Content-Security-Policy that lets the explorer's page load and query this service, and no more.

    The self-hosted explorers load everything from this origin and run no
    inline script; Apollo's Sandbox needs its CDN and its frame. No other site
    may frame the page.
    """
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        # Both explorers write <style> elements at run time (Playground's styled-components,
        # GraphiQL's dialogs), so inline styles are allowed; inline scripts are not.
        "style-src": "'self' 'unsafe-inline'",
        "font-src": "'self' data:",
        "img-src": "'self' data:",
        "connect-src": "'self'",
        "frame-src": "'none'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    if name == "apollo":
        directives.update(APOLLO_DIRECTIVES)
    return "; ".join(f"{directive} {value}" for directive, value in directives.items())
