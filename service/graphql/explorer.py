"""The in-browser explorer shown at ``GET /graphql``, rendered once at start-up."""

from ariadne.explorer import ExplorerApollo, ExplorerGraphiQL, ExplorerPlayground

EXPLORERS = {
    "playground": ExplorerPlayground,
    "graphiql": ExplorerGraphiQL,
    "apollo": ExplorerApollo,
}
TITLE = "Accounts service"


def explorer_html(name: str) -> str | None:
    """The page of the explorer named by ``GRAPHQL_EXPLORER``; ``None`` when it is ``off``."""
    explorer = EXPLORERS.get(name)
    return explorer(title=TITLE).html(None) if explorer else None
