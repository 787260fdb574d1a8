"""The explorers' scripts, styles, fonts and images, served by this service itself.

They live in ``static/explorer/`` (``vendor/`` is built by ``make explorer-assets``
from explorer/package-lock.json and committed), so an explorer works with no
internet and under a CSP that names no other host. Their URLs carry a digest of
all the files, so a browser may keep them for a year: a release that changes any
file changes every URL.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort

FOLDER = Path(__file__).parent / "static" / "explorer"
URL_PREFIX = "/graphql/static"
# Only these are served; licences and notes stay in the repository.
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".woff2": "font/woff2",
    ".png": "image/png",
}
CACHE_FOREVER = "public, max-age=31536000, immutable"

bp = Blueprint("explorer_assets", __name__)


@dataclass(frozen=True)
class ExplorerAssets:
    """Every servable file, by its path under the folder, and the digest that versions their URLs."""

    files: dict[str, bytes]
    digest: str

    def url(self, path: str) -> str:
        """The URL of a file; a path that is not there fails at start-up, not in a browser."""
        if path not in self.files:
            raise LookupError(f"no explorer asset {path!r} in {FOLDER}")
        return f"{URL_PREFIX}/{self.digest}/{path}"


@cache
def explorer_assets() -> ExplorerAssets:
    """Read once per process (about 4 MB): requests are answered from memory, and only for these
    paths, so no request can name a file outside the folder."""
    files = {
        path.relative_to(FOLDER).as_posix(): path.read_bytes()
        for path in sorted(FOLDER.rglob("*"))
        if path.is_file() and path.suffix in CONTENT_TYPES
    }
    digest = hashlib.sha256()
    for path, content in files.items():
        digest.update(f"{path}\0{len(content)}\0".encode())
        digest.update(content)
    return ExplorerAssets(files, digest.hexdigest()[:16])


@bp.get(f"{URL_PREFIX}/<digest>/<path:path>")
def explorer_asset(digest: str, path: str) -> Response:
    """One file, cacheable for a year; any other digest (an older release's) or path is a 404."""
    assets = explorer_assets()
    content = assets.files.get(path)
    if digest != assets.digest or content is None:
        abort(404)
    response = Response(content, mimetype=CONTENT_TYPES[Path(path).suffix])
    response.headers["Cache-Control"] = CACHE_FOREVER
    return response
