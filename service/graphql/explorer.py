"""The in-browser explorer shown at ``GET /graphql``, rendered once at start-up."""

from ariadne.explorer import ExplorerApollo, ExplorerGraphiQL, ExplorerPlayground

EXPLORERS = {
    "playground": ExplorerPlayground,
    "graphiql": ExplorerGraphiQL,
    "apollo": ExplorerApollo,
}
TITLE = "Accounts service"

# Where each explorer's page loads its code, styles and fonts from.
EXPLORER_HOSTS = {
    "playground": {
        "script": "https://cdn.jsdelivr.net",
        "style": "https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "font": "https://cdn.jsdelivr.net https://fonts.gstatic.com",
        "img": "https://cdn.jsdelivr.net",
        "connect": "",
        "frame": "",
    },
    "graphiql": {
        "script": "https://esm.sh",
        "style": "https://esm.sh",
        "font": "https://esm.sh",
        "img": "",
        "connect": "https://esm.sh",
        "frame": "",
    },
    "apollo": {
        "script": "https://embeddable-sandbox.cdn.apollographql.com",
        "style": "",
        "font": "",
        "img": "",
        "connect": "",
        "frame": "https://sandbox.embed.apollographql.com",
    },
}


def explorer_html(name: str) -> str | None:
    """The page of the explorer named by ``GRAPHQL_EXPLORER``; ``None`` when it is ``off``."""
    explorer = EXPLORERS.get(name)
    return explorer(title=TITLE).html(None) if explorer else None


def explorer_csp(name: str) -> str:
    """A Content-Security-Policy that lets the explorer's page load and query this service, and no more.

    Its inline start-up script needs ``'unsafe-inline'``; it may talk only to
    this origin and its own CDN, and no other site may frame it.
    """
    hosts = EXPLORER_HOSTS.get(name, {})
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'unsafe-inline' {hosts.get('script', '')}",
        "style-src": f"'self' 'unsafe-inline' {hosts.get('style', '')}",
        "font-src": f"'self' data: {hosts.get('font', '')}",
        "img-src": f"'self' data: {hosts.get('img', '')}",
        "connect-src": f"'self' {hosts.get('connect', '')}",
        "frame-src": hosts.get("frame") or "'none'",
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value.strip()}" for name, value in directives.items())
